package test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// airflowInstances is airflowCheck.instances of two Airflows, an Airflow 3
// (apiVersion left to its default) and an Airflow 2.
var airflowInstances = []any{
	map[string]any{"name": "prod", "url": "http://airflow-api-server.prod:8080", "existingSecret": "reader-prod"},
	map[string]any{"name": "legacy_2.x", "url": "https://airflow.legacy.example/af", "apiVersion": "v1", "existingSecret": "reader-legacy"},
}

// checkFlags are the container's --airflow-check values, in order.
func checkFlags(c corev1.Container) []string {
	var out []string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--airflow-check="); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestChartTryCheckInstances renders the try check for two Airflows: one
// --airflow-check each, each Secret mounted at the directory its flag
// names, the common durations once; off by default; and the binary accepts
// the flags.
func TestChartTryCheckInstances(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		d := renderChart(t, "apd", "ops", nil).deployment(t)
		c := d.Spec.Template.Spec.Containers[0]
		for _, a := range c.Args {
			assert.NotContains(t, a, "--airflow-", "no try-check flag when airflowCheck is off")
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			assert.NotContains(t, v.Name, "airflow-credentials")
		}
	})
	t.Run("listed but off", func(t *testing.T) {
		t.Parallel()
		d := renderChart(t, "apd", "ops", vals{}.with("airflowCheck.instances", airflowInstances)).deployment(t)
		assert.Empty(t, checkFlags(d.Spec.Template.Spec.Containers[0]))
		for _, v := range d.Spec.Template.Spec.Volumes {
			assert.NotContains(t, v.Name, "airflow-credentials")
		}
	})
	t.Run("two instances", func(t *testing.T) {
		t.Parallel()
		v := vals{}.with("airflowCheck.enabled", true).with("airflowCheck.instances", airflowInstances).
			with("airflowCheck.pollInterval", "5s").with("airflowCheck.grace", "1m").with("airflowCheck.timeout", "3s")
		m := renderChart(t, "apd", "ops", v)
		d := m.deployment(t)
		c := d.Spec.Template.Spec.Containers[0]
		assert.Equal(t, []string{
			"instance=prod,url=http://airflow-api-server.prod:8080,api-version=v2,credentials-dir=/etc/airflow-pod-deadline/airflow/prod",
			"instance=legacy_2.x,url=https://airflow.legacy.example/af,api-version=v1,credentials-dir=/etc/airflow-pod-deadline/airflow/legacy_2.x",
		}, checkFlags(c))
		for _, want := range []string{"--airflow-poll-interval=5s", "--airflow-grace=1m", "--airflow-timeout=3s"} {
			assert.Contains(t, c.Args, want)
		}
		for _, a := range c.Args {
			for _, single := range []string{"--airflow-api-url", "--airflow-instance", "--airflow-credentials-dir", "--airflow-api-version"} {
				assert.NotContains(t, a, single+"=", "the chart gives every instance as --airflow-check")
			}
		}

		// Each instance's Secret at its own directory, the one its flag names.
		secrets := map[string]string{} // volume -> Secret
		for _, vol := range d.Spec.Template.Spec.Volumes {
			if vol.Secret != nil && strings.HasPrefix(vol.Name, "airflow-credentials") {
				secrets[vol.Name] = vol.Secret.SecretName
				assert.Equal(t, int32(0o440), *vol.Secret.DefaultMode, vol.Name)
			}
		}
		mounted := map[string]string{} // directory -> Secret
		for _, mnt := range c.VolumeMounts {
			if s, ok := secrets[mnt.Name]; ok {
				assert.True(t, mnt.ReadOnly, mnt.Name)
				require.NotContains(t, mounted, mnt.MountPath, "two Secrets at one path")
				mounted[mnt.MountPath] = s
			}
		}
		assert.Equal(t, map[string]string{
			"/etc/airflow-pod-deadline/airflow/prod":       "reader-prod",
			"/etc/airflow-pod-deadline/airflow/legacy_2.x": "reader-legacy",
		}, mounted)
		for _, f := range checkFlags(c) {
			_, dir, _ := strings.Cut(f, "credentials-dir=")
			assert.Contains(t, mounted, dir, "the flag's credentials-dir is a mounted Secret")
		}

		// The binary parses and validates them (exit status 2 and
		// "airflow-pod-deadline: --flag: ..." are how it refuses flags); it
		// then fails only for the missing kubeconfig.
		missing := filepath.Join(t.TempDir(), "no-kubeconfig")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, suite.binary, append(c.Args, "--kubeconfig="+missing)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+missing, "POD_NAMESPACE=ops")
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "no kubeconfig: the binary cannot start")
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			assert.NotEqual(t, 2, exit.ExitCode(), "the binary refused the chart's flags:\n%s", out)
		}
		assert.NotContains(t, string(out), "airflow-pod-deadline: --")
	})
}

// TestChartTryCheckRejectsBadValues: the schema (and, for a name listed
// twice, the template) refuses what the binary would refuse, naming the
// value; the single-instance values of before the list are refused by name.
func TestChartTryCheckRejectsBadValues(t *testing.T) {
	on := vals{}.with("airflowCheck.enabled", true)
	one := func(kv ...string) vals {
		in := map[string]any{"name": "prod", "url": "http://airflow:8080", "existingSecret": "reader"}
		for i := 0; i+1 < len(kv); i += 2 {
			in[kv[i]] = kv[i+1]
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(in, kv[i])
			}
		}
		return on.with("airflowCheck.instances", []any{in})
	}
	schema := "values don't meet the specifications of the schema"
	for name, tc := range map[string]struct {
		values vals
		want   []string
	}{
		"enabled without instances": {on, []string{schema, "at '/airflowCheck/instances': minItems: got 0, want 1"}},
		"the single-instance values of before": {
			on.with("airflowCheck.url", "http://airflow:8080").with("airflowCheck.existingSecret", "reader").with("airflowCheck.instance", "prod"),
			[]string{schema, "at '/airflowCheck': additional properties", "'url'", "'existingSecret'", "'instance'"},
		},
		"no url":             {one("url", "<unset>"), []string{schema, "at '/airflowCheck/instances/0': missing property 'url'"}},
		"no existingSecret":  {one("existingSecret", "<unset>"), []string{schema, "at '/airflowCheck/instances/0': missing property 'existingSecret'"}},
		"no name":            {one("name", "<unset>"), []string{schema, "at '/airflowCheck/instances/0': missing property 'name'"}},
		"name with a slash":  {one("name", "team/a"), []string{schema, "at '/airflowCheck/instances/0/name'", "does not match pattern"}},
		"name with a comma":  {one("name", "a,b"), []string{schema, "at '/airflowCheck/instances/0/name'", "does not match pattern"}},
		"url without scheme": {one("url", "airflow:8080"), []string{schema, "at '/airflowCheck/instances/0/url'", "does not match pattern"}},
		"url with a comma":   {one("url", "http://airflow:8080/a,b"), []string{schema, "at '/airflowCheck/instances/0/url'", "does not match pattern"}},
		"apiVersion v3":      {one("apiVersion", "v3"), []string{schema, "at '/airflowCheck/instances/0/apiVersion'", "'v2', 'v1'"}},
		"unknown key":        {one("secret", "reader"), []string{schema, "at '/airflowCheck/instances/0'", "additional properties 'secret' not allowed"}},
		"a name twice": {
			on.with("airflowCheck.instances", []any{airflowInstances[0], airflowInstances[1], airflowInstances[0]}),
			[]string{`airflowCheck.instances: instance "prod" is listed twice`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := helmTemplate(t, "apd", "ops", tc.values)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
