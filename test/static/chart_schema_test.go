package static

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
)

func TestChartSchemaRejectsBadValues(t *testing.T) {
	for _, c := range []struct {
		name   string
		values helmchart.Values
		want   []string
	}{
		{"replicas is not a number", helmchart.Values{"replicas": "two"}, []string{"at '/replicas': got string, want integer"}},
		{"zero replicas", helmchart.Values{"replicas": 0}, []string{"at '/replicas'", "minimum"}},
		{"unknown certificates.mode", helmchart.Values{}.With("certificates.mode", "vault"), []string{"at '/certificates/mode': value must be one of 'self-managed', 'cert-manager'"}},
		{"negative timeout", helmchart.Values{}.With("webhook.timeoutSeconds", -1), []string{"at '/webhook/timeoutSeconds'", "minimum"}},
		{"timeout above 30", helmchart.Values{}.With("webhook.timeoutSeconds", 31), []string{"at '/webhook/timeoutSeconds'", "maximum"}},
		{"failurePolicy Sometimes", helmchart.Values{}.With("webhook.failurePolicy", "Sometimes"), []string{"at '/webhook/failurePolicy': value must be one of 'Fail', 'Ignore'"}},
		{"unknown top-level key", helmchart.Values{"replicaCount": 3}, []string{"additional properties 'replicaCount' not allowed"}},
		{"unknown nested key", helmchart.Values{}.With("webhook.failurePolice", "Fail"), []string{"at '/webhook'", "additional properties 'failurePolice' not allowed"}},
		{"annotationPrefix not a DNS subdomain", helmchart.Values{"annotationPrefix": "Airflow_Deadline"}, []string{"at '/annotationPrefix'", "does not match pattern"}},
		{"kubeletGrace without unit", helmchart.Values{"kubeletGrace": "15"}, []string{"at '/kubeletGrace'", "does not match pattern"}},
		{"dryRun as a string", helmchart.Values{"dryRun": "yes"}, []string{"at '/dryRun': got string, want boolean"}},
		{"excluded namespace not a DNS label", helmchart.Values{}.With("webhook.excludeNamespaces", []any{"Team_B"}), []string{"at '/webhook/excludeNamespaces/0'"}},
		{"issuerRef without name", helmchart.Values{}.With("certificates.mode", "cert-manager").With("certificates.certManager.issuerRef", map[string]any{"kind": "ClusterIssuer"}), []string{"at '/certificates/certManager/issuerRef': missing property 'name'"}},
		{"logLevel unknown", helmchart.Values{"logLevel": "verbose"}, []string{"at '/logLevel'", "'debug', 'info', 'error', 'panic'"}},
		{"bad image digest", helmchart.Values{}.With("image.digest", "sha256:abc"), []string{"at '/image/digest'"}},
		{"port out of range", helmchart.Values{}.With("webhook.port", 70000), []string{"at '/webhook/port'", "maximum"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := helm().Template(t, "apd", "ops", c.values)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "values don't meet the specifications of the schema")
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
