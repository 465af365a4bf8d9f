package version

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// BuildInfoName is the gauge that is always 1 and carries the build in its
// labels: dashboards join on it and alerts can tell a rollout from a fault.
const BuildInfoName = "airflow_pod_deadline_build_info"

func init() {
	metrics.Registry.MustRegister(newBuildInfo(Get()))
}

func newBuildInfo(i Info) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        BuildInfoName,
		Help:        "Always 1; the labels say which build is running (version, commit, Go version).",
		ConstLabels: prometheus.Labels{"version": i.Version, "revision": i.Commit, "goversion": i.GoVersion},
	}, func() float64 { return 1 })
}
