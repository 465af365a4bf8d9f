package sweeper

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Values of the "result" label of airflow_pod_deadline_airflow_checks_total.
const (
	CheckOK    = "ok"
	CheckError = "error"
	// CheckUnconfirmed: Airflow answered, but no answer of it has shown a
	// tracked pod's own try yet (sweeper.Confirms): nothing was ended.
	CheckUnconfirmed = "unconfirmed"
)

// Values of the "action" label of airflow_pod_deadline_airflow_pods_ended_total.
const (
	EndedLowered = "lowered"
	EndedDeleted = "deleted"
	EndedDryRun  = "dry_run"
)

// The Airflow instance is the label airflow_instance, not instance:
// Prometheus sets instance on every scraped series (the target's address)
// and, without honor_labels, renames a scraped instance to exported_instance.
var (
	tryChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airflow_pod_deadline_airflow_checks_total",
		Help: "Try checks (one per poll with tracked pods, and one per recheck when a handoff ends) by Airflow instance and result: ok (Airflow answered), error (nothing was ended), unconfirmed (Airflow answered but has shown no tracked pod's own try, same try_number and try-id on Airflow 3 or start_date on Airflow 2, yet: nothing was ended).",
	}, []string{"airflow_instance", "result"})
	tryAPIErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airflow_pod_deadline_airflow_api_errors_total",
		Help: "Failed Airflow API calls of the try check by instance and kind: auth (401 after a fresh token, 403, unreadable credentials), timeout, network, http (other non-2xx), parse.",
	}, []string{"airflow_instance", "kind"})
	tryEnded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airflow_pod_deadline_airflow_pods_ended_total",
		Help: "Pods the try check ended because Airflow reported their try over, by instance and action: lowered (activeDeadlineSeconds, the kubelet stops it), deleted (never started, or not stopped by the kubelet), dry_run (would have).",
	}, []string{"airflow_instance", "action"})
)

func init() {
	metrics.Registry.MustRegister(tryChecks, tryAPIErrors, tryEnded)
}

// zeroTryMetrics exports zeros for an instance, so rate() works from the start.
func zeroTryMetrics(instance string) {
	for _, r := range []string{CheckOK, CheckError, CheckUnconfirmed} {
		tryChecks.WithLabelValues(instance, r)
	}
	for _, a := range []string{EndedLowered, EndedDeleted, EndedDryRun} {
		tryEnded.WithLabelValues(instance, a)
	}
}
