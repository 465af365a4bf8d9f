package release

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var projectMetric = regexp.MustCompile(`airflow_pod_deadline_[a-z_]+`)

// readmeMetrics are the metric names README's metrics table documents.
func readmeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	names := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(airflow_pod_deadline_[a-z_]+)").FindAllStringSubmatch(string(b), -1) {
		names[m[1]] = true
	}
	require.Contains(t, names, "airflow_pod_deadline_tracked_pods")
	return names
}

// documented reports whether a series name belongs to a documented metric
// (histograms add _bucket, _sum, _count).
func documented(names map[string]bool, series string) bool {
	for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
		if names[strings.TrimSuffix(series, suffix)] && strings.HasSuffix(series, suffix) {
			return true
		}
	}
	return false
}

func TestGrafanaDashboard(t *testing.T) {
	out, err := run(t, helmEnv(t), tool(t, "helm", "bin-tools"), "template", "apd", chartPath, "--namespace", "apd",
		"--show-only", "templates/grafana-dashboard.yaml", "--set", "metrics.grafanaDashboard.enabled=true")
	require.NoError(t, err)
	var cm corev1.ConfigMap
	require.NoError(t, yaml.UnmarshalStrict([]byte(out), &cm))
	assert.Equal(t, "1", cm.Labels["grafana_dashboard"], "Grafana's sidecar default label")
	raw := cm.Data["airflow-pod-deadline.json"]
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &dash), "the ConfigMap holds valid JSON")
	assert.Equal(t, "airflow-pod-deadline", dash.UID)

	names := readmeMetrics(t)
	shown := map[string]bool{}
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, target := range p.Targets {
			// The try check's series name their Airflow in airflow_instance:
			// Prometheus owns instance (each scrape target's address), so a
			// panel by instance would split by replica, not by Airflow.
			assert.NotRegexp(t, `\binstance\b`, target.Expr, "panel %q groups or filters by Prometheus' instance", p.Title)
			if strings.Contains(target.Expr, "airflow_pod_deadline_airflow_") {
				assert.Regexp(t, `by \([^)]*\bairflow_instance\b`, target.Expr, "panel %q shows the try check per Airflow instance", p.Title)
			}
			for _, series := range projectMetric.FindAllString(target.Expr, -1) {
				assert.True(t, documented(names, series), "panel %q queries %s, which README does not list", p.Title, series)
				for n := range names {
					if strings.HasPrefix(series, n) {
						shown[n] = true
					}
				}
			}
		}
	}
	for n := range names {
		assert.True(t, shown[n], "README lists %s but no panel shows it", n)
	}
}

func TestAlertRulesUseDocumentedMetrics(t *testing.T) {
	names := readmeMetrics(t)
	spec := renderedRules(t)
	for _, g := range spec["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			rule := r.(map[string]any)
			for _, series := range projectMetric.FindAllString(rule["expr"].(string), -1) {
				assert.True(t, documented(names, series), "%s uses %s, which README does not list", rule["alert"], series)
			}
		}
	}
}
