package test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// chartPath is the chart relative to the repository root, as the Makefile
// names it.
const chartPath = "manifests/chart/airflow-pod-deadline"

// helmCommand runs bin/helm from the repository root, isolated from the
// user's helm configuration, cache and plugins, talking (when a command
// needs a cluster) to the envtest API server.
func helmCommand(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(suite.root, "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("bin/helm missing: run `make bin-tools` (make test does)")
	}
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Dir = suite.root
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+suite.kubeconfig,
	)
	return cmd
}

// runHelm returns helm's stdout; the error carries its stderr.
func runHelm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := helmCommand(t, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// vals are chart values; with sets one by a dotted path.
type vals map[string]any

func (v vals) with(path string, value any) vals {
	out := vals{}
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

// valuesArgs writes v into a values file and returns helm's -f for it.
func valuesArgs(t testing.TB, v vals) []string {
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

func helmTemplate(t testing.TB, release, namespace string, v vals) (string, error) {
	t.Helper()
	args := append([]string{"template", release, chartPath, "--namespace", namespace}, valuesArgs(t, v)...)
	return runHelm(t, args...)
}

// manifest is a rendered chart: its objects, in order, and each one's YAML.
type manifest struct {
	objs []*unstructured.Unstructured
	docs map[string][]byte // by kind/name
}

func key(kind, name string) string { return kind + "/" + name }

// renderChart renders the chart and parses every object; built-in kinds are
// strictly decoded into their Go types, so a misspelled field fails here.
func renderChart(t testing.TB, release, namespace string, v vals) *manifest {
	t.Helper()
	out, err := helmTemplate(t, release, namespace, v)
	require.NoError(t, err)
	return parseManifest(t, []byte(out))
}

func parseManifest(t testing.TB, data []byte) *manifest {
	t.Helper()
	m := &manifest{docs: map[string][]byte{}}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		var obj map[string]any
		require.NoError(t, yaml.Unmarshal(doc, &obj))
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		k := key(u.GetKind(), u.GetName())
		require.NotContains(t, m.docs, k, "rendered twice")
		gvk := u.GroupVersionKind()
		if typed, err := scheme.Scheme.New(gvk); err == nil {
			require.NoError(t, yaml.UnmarshalStrict(doc, typed), "strict decode of %s", k)
		} else {
			require.Contains(t, []string{"cert-manager.io", "monitoring.coreos.com"}, gvk.Group, "unexpected kind %s", gvk)
		}
		m.objs = append(m.objs, u)
		m.docs[k] = doc
	}
	return m
}

func (m *manifest) has(kind, name string) bool {
	_, ok := m.docs[key(kind, name)]
	return ok
}

func (m *manifest) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range m.objs {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

func (m *manifest) kinds() []string {
	var out []string
	for _, u := range m.objs {
		out = append(out, key(u.GetKind(), u.GetName()))
	}
	return out
}

// decodeAs strictly decodes the rendered object kind/name into T.
func decodeAs[T any](t testing.TB, m *manifest, kind, name string) *T {
	t.Helper()
	doc, ok := m.docs[key(kind, name)]
	require.True(t, ok, "%s/%s not rendered; have %v", kind, name, m.kinds())
	out := new(T)
	require.NoError(t, yaml.UnmarshalStrict(doc, out), "%s/%s", kind, name)
	return out
}

// only returns the one object of kind.
func (m *manifest) only(t testing.TB, kind string) *unstructured.Unstructured {
	t.Helper()
	all := m.ofKind(kind)
	require.Len(t, all, 1, "one %s; have %v", kind, m.kinds())
	return all[0]
}

func (m *manifest) deployment(t testing.TB) *appsv1.Deployment {
	t.Helper()
	return decodeAs[appsv1.Deployment](t, m, "Deployment", m.only(t, "Deployment").GetName())
}

// args returns the container's flags as name -> value ("" for none) and in
// order.
func (m *manifest) args(t testing.TB) (map[string]string, []string) {
	t.Helper()
	d := m.deployment(t)
	require.Len(t, d.Spec.Template.Spec.Containers, 1)
	list := d.Spec.Template.Spec.Containers[0].Args
	out := map[string]string{}
	for _, a := range list {
		name, value, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		require.NotContains(t, out, name, "flag --%s given twice", name)
		out[name] = value
	}
	return out, list
}
