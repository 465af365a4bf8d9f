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

// plainPod is a KPO-shaped pod without the annotations: the webhooks never
// see it.
func plainPod(namespace string) *corev1.Pod {
	p := testenv.KPOPod(namespace, testenv.LongSleep, nil, ptr.To[int64](3600))
	p.Name = "plain-" + p.Name
	return p
}
