package webhook

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Every answer a webhook can give is a series from the start, so rate() and an
// alert on denials see a change from zero instead of a series appearing.
func TestAdmissionSeriesExistFromTheStart(t *testing.T) {
	families, err := metrics.Registry.Gather()
	require.NoError(t, err)
	series := map[[3]string]bool{}
	for _, f := range families {
		if f.GetName() != "airflow_pod_deadline_admissions_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			series[[3]string{labels["webhook"], labels["operation"], labels["result"]}] = true
		}
	}
	for _, want := range [][3]string{
		{"mutate", "CREATE", "clamped"}, {"mutate", "CREATE", "stamped"}, {"mutate", "CREATE", "denied"},
		{"mutate", "CREATE", "invalid"}, {"mutate", "CREATE", "error"}, {"mutate", "CREATE", "unchanged"},
		{"validate", "CREATE", "denied"}, {"validate", "UPDATE", "invalid"}, {"validate", "UPDATE", "unchanged"},
	} {
		assert.True(t, series[want], "no series %v", want)
	}
	// Results a webhook never gives are not exported.
	assert.False(t, series[[3]string{"validate", "CREATE", "clamped"}])
}
