package webhook

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// kpoPod is a pod as KubernetesPodOperator creates it and as a mutating
// webhook receives it: KPO's labels, its "base" container, and the fields the
// API server's defaulting and built-in admission plugins add before webhooks
// run (service account token volume, default tolerations, ...).
func kpoPod(annotations map[string]string, ads *int64) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      "run-long-pod-x7k2pqrs",
			Namespace: "airflow",
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
				Env: []corev1.EnvVar{
					{Name: "AIRFLOW_CTX_DAG_ID", Value: "kpo_deferrable_execution_timeout_repro"},
					{Name: "AIRFLOW_CTX_TASK_ID", Value: "run_long_pod"},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
				},
				VolumeMounts: []corev1.VolumeMount{{
					Name: "kube-api-access-9xk2m", ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
				}},
				TerminationMessagePath:   "/dev/termination-log",
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ImagePullPolicy:          corev1.PullIfNotPresent,
			}},
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			DNSPolicy:                     corev1.DNSClusterFirst,
			ServiceAccountName:            "default",
			SecurityContext:               &corev1.PodSecurityContext{},
			SchedulerName:                 "default-scheduler",
			Affinity:                      &corev1.Affinity{},
			Priority:                      ptr.To[int32](0),
			EnableServiceLinks:            ptr.To(true),
			PreemptionPolicy:              ptr.To(corev1.PreemptLowerPriority),
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			},
			Volumes: []corev1.Volume{{
				Name: "kube-api-access-9xk2m",
				VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					DefaultMode: ptr.To[int32](420),
					Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
							Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
							Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
					},
				}},
			}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBurstable},
	}
}
