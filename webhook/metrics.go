package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Webhook names, the values of the metric label "webhook".
const (
	WebhookMutate   = "mutate"
	WebhookValidate = "validate"
)

// admissionsTotal counts every answer our webhooks give. controller-runtime's
// own controller_runtime_webhook_* series already time the requests per path.
var admissionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "airflow_pod_deadline_admissions_total",
	Help: "Admission reviews answered, by webhook (mutate, validate), operation (CREATE, UPDATE, ...) and result (clamped, stamped, unchanged, denied, invalid, error).",
}, []string{"webhook", "operation", "result"})

// answerable are the operations each webhook is registered for and the
// results it can give them.
var answerable = map[string]struct {
	operations []string
	results    []Result
}{
	WebhookMutate:   {[]string{"CREATE"}, []Result{ResultClamped, ResultStamped, ResultUnchanged, ResultDenied, ResultInvalid, ResultError}},
	WebhookValidate: {[]string{"CREATE", "UPDATE"}, []Result{ResultUnchanged, ResultDenied, ResultInvalid, ResultError}},
}

func init() {
	metrics.Registry.MustRegister(admissionsTotal)
	// Export zeros, so rate() and alerts on denials work from the start.
	for webhook, a := range answerable {
		for _, op := range a.operations {
			for _, result := range a.results {
				admissionsTotal.WithLabelValues(webhook, op, string(result))
			}
		}
	}
}

func countAdmission(webhook, operation string, result Result) {
	admissionsTotal.WithLabelValues(webhook, operation, string(result)).Inc()
}
