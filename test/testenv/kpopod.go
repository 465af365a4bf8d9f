package testenv

import (
	"crypto/rand"
	"encoding/hex"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KPOPod is the pod KubernetesPodOperator builds for the seed task (its
// labels, a random name suffix, one "base" container running sh -c script),
// with no deadline yet: tests add the annotations, nodeSelector or
// activeDeadlineSeconds they are about.
func KPOPod(namespace, script string) *corev1.Pod {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "run-long-pod-" + hex.EncodeToString(suffix),
			Namespace: namespace,
			Labels: map[string]string{
				"dag_id":                  "kpo_deferrable_execution_timeout_repro",
				"task_id":                 "run_long_pod",
				"run_id":                  "manual__2026-12-01T000000.0000000000-4b5c6d7e8",
				"try_number":              "1",
				"kubernetes_pod_operator": "True",
				"airflow_version":         "3.3.2",
				"airflow_kpo_in_cluster":  "False",
			},
		},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:    "base",
				Image:   "alpine:3.20",
				Command: []string{"sh", "-c"},
				Args:    []string{script},
			}},
		},
	}
}
