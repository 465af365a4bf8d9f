package airflowapi

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// airflow_instance, not instance: Prometheus owns instance (the scrape
// target's address).
var requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "airflow_pod_deadline_airflow_api_request_duration_seconds",
	Help:    "Latency of the try check's requests to the Airflow API, by instance and operation (list_task_instances, get_dag, token), errors included.",
	Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
}, []string{"airflow_instance", "op"})

func init() {
	metrics.Registry.MustRegister(requestDuration)
}
