package static

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
)

// TestChartInstallYAMLUpToDate renders manifests/install.yaml as
// `make manifests` does and compares bytes.
func TestChartInstallYAMLUpToDate(t *testing.T) {
	header, err := os.ReadFile(filepath.Join(root, "manifests", "chart", "install-namespace.yaml"))
	require.NoError(t, err)
	out, err := helm().Run(t, "template", "airflow-pod-deadline", helmchart.Path, "--namespace", "airflow-pod-deadline")
	require.NoError(t, err)
	want := append(header, out...)
	have, err := os.ReadFile(filepath.Join(root, "manifests", "install.yaml"))
	require.NoError(t, err)
	if !bytes.Equal(want, have) {
		w, h := strings.Split(string(want), "\n"), strings.Split(string(have), "\n")
		line := 0
		for line < len(w) && line < len(h) && w[line] == h[line] {
			line++
		}
		get := func(s []string) string {
			if line < len(s) {
				return s[line]
			}
			return "<end of file>"
		}
		t.Fatalf("manifests/install.yaml is stale: run `make manifests`.\nfirst difference at line %d:\n  file:     %q\n  rendered: %q", line+1, get(h), get(w))
	}

	// What kubectl apply gets: the Namespace first, then the chart, every
	// namespaced object in that namespace.
	m := helmchart.Parse(t, have)
	require.Equal(t, "Namespace", m.Objs[0].GetKind())
	assert.Equal(t, "airflow-pod-deadline", m.Objs[0].GetName())
	assert.Equal(t, "restricted", m.Objs[0].GetLabels()["pod-security.kubernetes.io/enforce"])
	for _, u := range m.Objs[1:] {
		switch u.GetKind() {
		case "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
		default:
			assert.Equal(t, "airflow-pod-deadline", u.GetNamespace(), "%s/%s", u.GetKind(), u.GetName())
		}
	}
	args, _ := m.Args(t)
	assert.Equal(t, "self-managed", args["cert-mode"])
}
