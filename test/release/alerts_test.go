package release

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// renderedRules is the spec of the chart's PrometheusRule for namespace apd.
func renderedRules(t *testing.T, set ...string) map[string]any {
	t.Helper()
	args := []string{"template", "apd", chartPath, "--namespace", "apd", "--show-only", "templates/prometheusrule.yaml", "--set", "metrics.prometheusRule.enabled=true"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := run(t, helmEnv(t), tool(t, "helm", "bin-tools"), args...)
	require.NoError(t, err)
	var obj map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(out), &obj))
	require.Equal(t, "PrometheusRule", obj["kind"])
	return obj["spec"].(map[string]any)
}

func TestAlertRulesOffByDefault(t *testing.T) {
	out, err := run(t, helmEnv(t), tool(t, "helm", "bin-tools"), "template", "apd", chartPath, "--namespace", "apd")
	require.NoError(t, err)
	assert.NotContains(t, out, "kind: PrometheusRule")
	assert.NotContains(t, out, "grafana_dashboard")
}

func TestAlertRulesPromtool(t *testing.T) {
	promtool := tool(t, "promtool", "release-tools")
	spec := renderedRules(t)
	dir := t.TempDir()

	full, err := yaml.Marshal(spec)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "full.yaml"), full, 0o644))
	out, err := run(t, nil, promtool, "check", "rules", filepath.Join(dir, "full.yaml"))
	require.NoError(t, err, "promtool check rules validates expressions and annotation templates")
	assert.Contains(t, out, "SUCCESS: 7 rules found")

	// The unit tests compare annotations exactly; descriptions quote $value.
	alerts := 0
	for _, g := range spec["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			rule := r.(map[string]any)
			delete(rule["annotations"].(map[string]any), "description")
			alerts++
		}
	}
	require.Equal(t, 7, alerts)
	short, err := yaml.Marshal(spec)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), short, 0o644))
	tests, err := os.ReadFile("testdata/alerts_test.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644))
	out, err = run(t, nil, promtool, "test", "rules", filepath.Join(dir, "alerts_test.yaml"))
	require.NoError(t, err)
	assert.Contains(t, out, "SUCCESS")

	// Every alert the chart defines has a unit test.
	for _, g := range spec["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			name := r.(map[string]any)["alert"].(string)
			assert.Contains(t, string(tests), "alertname: "+name, "no promtool test for %s", name)
		}
	}
}

// TestAlertRulesThresholdsAreValues shows the thresholds reach the
// expressions, and that promtool's tests would notice a wrong one.
func TestAlertRulesThresholdsAreValues(t *testing.T) {
	spec := renderedRules(t, "metrics.prometheusRule.enforcementLagSeconds=30", "metrics.prometheusRule.certificateExpiryHours=48")
	exprs := map[string]string{}
	for _, g := range spec["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			rule := r.(map[string]any)
			exprs[rule["alert"].(string)] = rule["expr"].(string)
		}
	}
	assert.True(t, strings.HasSuffix(exprs["AirflowPodDeadlineEnforcementLagHigh"], "> 30"), exprs["AirflowPodDeadlineEnforcementLagHigh"])
	assert.True(t, strings.HasSuffix(exprs["AirflowPodDeadlineServingCertificateExpiresSoon"], "< 172800"), exprs["AirflowPodDeadlineServingCertificateExpiresSoon"])
	for name, expr := range exprs {
		assert.Contains(t, expr, `namespace="apd"`, "%s is scoped to the release namespace", name)
	}

	promtool := tool(t, "promtool", "release-tools")
	dir := t.TempDir()
	for _, g := range spec["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			delete(r.(map[string]any)["annotations"].(map[string]any), "description")
		}
	}
	rules, err := yaml.Marshal(spec)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644))
	tests, err := os.ReadFile("testdata/alerts_test.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644))
	_, err = run(t, nil, promtool, "test", "rules", filepath.Join(dir, "alerts_test.yaml"))
	require.Error(t, err, "with a 30s lag threshold and 48h expiry window the 10s-lag and 10-day cases must fail")
}
