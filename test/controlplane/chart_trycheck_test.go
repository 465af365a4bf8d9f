package controlplane

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

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
)

// airflowInstances is airflowCheck.instances of two Airflows, an Airflow 3
// (apiVersion and pageLimit left to their defaults) and an Airflow 2 with a
// page of 1,000.
var airflowInstances = []any{
	map[string]any{"name": "prod", "url": "http://airflow-api-server.prod:8080", "existingSecret": "reader-prod"},
	map[string]any{"name": "legacy_2.x", "url": "https://airflow.legacy.example/af", "apiVersion": "v1", "existingSecret": "reader-legacy", "pageLimit": 1000},
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
		d := helm().Render(t, "apd", "ops", nil).Deployment(t)
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
		d := helm().Render(t, "apd", "ops", helmchart.Values{}.With("airflowCheck.instances", airflowInstances)).Deployment(t)
		assert.Empty(t, checkFlags(d.Spec.Template.Spec.Containers[0]))
		for _, v := range d.Spec.Template.Spec.Volumes {
			assert.NotContains(t, v.Name, "airflow-credentials")
		}
	})
	t.Run("two instances", func(t *testing.T) {
		t.Parallel()
		v := helmchart.Values{}.With("airflowCheck.enabled", true).With("airflowCheck.instances", airflowInstances).
			With("airflowCheck.pollInterval", "5s").With("airflowCheck.grace", "1m").With("airflowCheck.timeout", "3s").
			With("airflowCheck.handoff", "2s")
		m := helm().Render(t, "apd", "ops", v)
		d := m.Deployment(t)
		c := d.Spec.Template.Spec.Containers[0]
		assert.Equal(t, []string{
			"instance=prod,url=http://airflow-api-server.prod:8080,api-version=v2,credentials-dir=/etc/airflow-pod-deadline/airflow/prod",
			"instance=legacy_2.x,url=https://airflow.legacy.example/af,api-version=v1,credentials-dir=/etc/airflow-pod-deadline/airflow/legacy_2.x,page-limit=1000",
		}, checkFlags(c))
		for _, want := range []string{"--airflow-poll-interval=5s", "--airflow-grace=1m", "--airflow-timeout=3s", "--airflow-handoff=2s"} {
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
			dir, _, _ = strings.Cut(dir, ",") // page-limit= may follow
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
