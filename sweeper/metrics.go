package sweeper

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Values of the "action" label of airflow_pod_deadline_sweeper_actions_total.
const (
	ActionDeleted = "deleted"
	ActionLowered = "lowered"
	ActionDryRun  = "dry_run"
	ActionFailed  = "failed"
	ActionInvalid = "invalid"
)

var (
	trackedPods = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "airflow_pod_deadline_tracked_pods",
		Help: "Pods with a valid execution deadline, neither finished nor being deleted, that the sweeper is waiting on (on the leader; 0 elsewhere).",
	})
	actionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airflow_pod_deadline_sweeper_actions_total",
		Help: "Sweeper actions by kind: deleted, lowered (activeDeadlineSeconds), dry_run (would have deleted or lowered), failed (API error, retried), invalid (malformed annotation, not enforced).",
	}, []string{"action"})
	enforcementLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "airflow_pod_deadline_enforcement_lag_seconds",
		Help:    "Time from the instant a deletion was due (the deadline; deadline + kubelet grace for a started pod) to the delete request being sent.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60, 300},
	})
)

func init() {
	metrics.Registry.MustRegister(trackedPods, actionsTotal, enforcementLag)
	for _, a := range []string{ActionDeleted, ActionLowered, ActionDryRun, ActionFailed, ActionInvalid} {
		actionsTotal.WithLabelValues(a) // export zeros, so rate() works from the start
	}
}
