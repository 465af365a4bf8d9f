package test

import (
	"crypto/rand"
	"encoding/hex"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

var (
	keys        = deadline.NewKeys(deadline.DefaultPrefix)
	deadlineKey = keys.Deadline
	timeoutKey  = keys.Timeout
)

// kpoPod is a pod shaped as KubernetesPodOperator creates it: its labels, a
// name with a random suffix (KPO always sets metadata.name), one "base"
// container, restartPolicy Never.
func kpoPod(namespace string, annotations map[string]string, ads *int64) *corev1.Pod {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "run-long-pod-" + hex.EncodeToString(suffix),
			Namespace: namespace,
			Labels: map[string]string{
				"dag_id":                  "kpo_deferrable_execution_timeout_repro",
				"task_id":                 "run_long_pod",
				"run_id":                  "manual__2026-05-20T100000.0000000000-4b5c6d7e8",
				"try_number":              "1",
				"kubernetes_pod_operator": "True",
				"airflow_version":         "3.2.1",
				"airflow_kpo_in_cluster":  "True",
			},
			Annotations: annotations,
		},
		Spec: corev1.PodSpec{
			ActiveDeadlineSeconds: ads,
			RestartPolicy:         corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:    "base",
				Image:   "alpine:3.20",
				Command: []string{"sh", "-c"},
				Args:    []string{"sleep 1800"},
			}},
		},
	}
}

func plainPod(namespace string) *corev1.Pod {
	p := kpoPod(namespace, nil, ptr.To[int64](3600))
	p.Name = "plain-" + p.Name
	return p
}
