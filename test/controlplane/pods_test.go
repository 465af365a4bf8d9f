package controlplane

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
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
	p := testenv.KPOPod(namespace, "sleep 1800")
	p.Annotations = annotations
	p.Spec.ActiveDeadlineSeconds = ads
	return p
}

func plainPod(namespace string) *corev1.Pod {
	p := kpoPod(namespace, nil, ptr.To[int64](3600))
	p.Name = "plain-" + p.Name
	return p
}
