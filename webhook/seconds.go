package webhook

import (
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// AdmissionSeconds is the activeDeadlineSeconds the mutating webhook gives a
// pod admitted at now. The kubelet counts activeDeadlineSeconds from
// status.startTime, which the API server keeps in whole seconds (truncated),
// and a pod starts no earlier than the second it is admitted in: counted from
// the start of that second, the value never ends a pod before its deadline
// (ceil(deadline − now) can, by up to a second, as measured on a real
// kubelet). The sweeper lowers it to the exact value when the pod starts.
func AdmissionSeconds(at, now time.Time) int64 {
	return deadline.RemainingSeconds(at, now.Truncate(time.Second))
}
