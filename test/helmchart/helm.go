package helmchart

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// Path is the chart relative to the repository root, as the Makefile names
// it.
const Path = "manifests/chart/airflow-pod-deadline"

// Helm runs bin/helm of the repository at Root, isolated from the user's
// helm configuration, cache and plugins.
type Helm struct {
	// Root is the repository root: bin/helm, and the directory helm runs in
	// (so Path resolves).
	Root string
	// Kubeconfig is the cluster a command that needs one talks to. Empty:
	// none (a file that does not exist), so a render cannot reach a cluster
	// by accident.
	Kubeconfig string
}

// Command is bin/helm with args, ready to run.
func (h Helm) Command(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(h.Root, "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("bin/helm missing: run `make bin-tools` (make test does)")
	}
	home := t.TempDir()
	kubeconfig := h.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = filepath.Join(home, "no-kubeconfig")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = h.Root
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+kubeconfig,
	)
	return cmd
}

// Run returns helm's stdout; the error carries its stderr.
func (h Helm) Run(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := h.Command(t, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Template is `helm template` of the chart for release in namespace with v.
func (h Helm) Template(t testing.TB, release, namespace string, v Values) (string, error) {
	t.Helper()
	args := append([]string{"template", release, Path, "--namespace", namespace}, ValuesArgs(t, v)...)
	return h.Run(t, args...)
}

// Render renders the chart and parses every object; built-in kinds are
// strictly decoded into their Go types, so a misspelled field fails here.
func (h Helm) Render(t testing.TB, release, namespace string, v Values) *Manifest {
	t.Helper()
	out, err := h.Template(t, release, namespace, v)
	require.NoError(t, err)
	return Parse(t, []byte(out))
}

// Values are chart values; With sets one by a dotted path.
type Values map[string]any

// With returns a copy of v with the value at the dotted path set (the maps
// on the way copied, so v is unchanged).
func (v Values) With(path string, value any) Values {
	out := Values{}
	for k, x := range v {
		out[k] = x
	}
	m := map[string]any(out)
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
		} else {
			next = copyMap(next)
		}
		m[p] = next
		m = next
	}
	m[parts[len(parts)-1]] = value
	return out
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ValuesArgs writes v into a values file and returns helm's -f for it.
func ValuesArgs(t testing.TB, v Values) []string {
	t.Helper()
	if len(v) == 0 {
		return nil
	}
	b, err := yaml.Marshal(map[string]any(v))
	require.NoError(t, err)
	f := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, os.WriteFile(f, b, 0o600))
	return []string{"-f", f}
}
