package helmchart

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// Manifest is a rendered chart: its objects, in order, and each one's YAML.
type Manifest struct {
	Objs []*unstructured.Unstructured
	docs map[string][]byte // by kind/name
}

func key(kind, name string) string { return kind + "/" + name }

// Parse reads a multi-document rendering; built-in kinds are strictly
// decoded into their Go types, so a misspelled field fails here.
func Parse(t testing.TB, data []byte) *Manifest {
	t.Helper()
	m := &Manifest{docs: map[string][]byte{}}
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
		m.Objs = append(m.Objs, u)
		m.docs[k] = doc
	}
	return m
}

// Has reports whether kind/name was rendered.
func (m *Manifest) Has(kind, name string) bool {
	_, ok := m.docs[key(kind, name)]
	return ok
}

// OfKind returns the objects of kind, in order.
func (m *Manifest) OfKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range m.Objs {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// Kinds lists every object as kind/name, for messages.
func (m *Manifest) Kinds() []string {
	var out []string
	for _, u := range m.Objs {
		out = append(out, key(u.GetKind(), u.GetName()))
	}
	return out
}

// DecodeAs strictly decodes the rendered object kind/name into T.
func DecodeAs[T any](t testing.TB, m *Manifest, kind, name string) *T {
	t.Helper()
	doc, ok := m.docs[key(kind, name)]
	require.True(t, ok, "%s/%s not rendered; have %v", kind, name, m.Kinds())
	out := new(T)
	require.NoError(t, yaml.UnmarshalStrict(doc, out), "%s/%s", kind, name)
	return out
}

// Only returns the one object of kind.
func (m *Manifest) Only(t testing.TB, kind string) *unstructured.Unstructured {
	t.Helper()
	all := m.OfKind(kind)
	require.Len(t, all, 1, "one %s; have %v", kind, m.Kinds())
	return all[0]
}

// Deployment is the one Deployment.
func (m *Manifest) Deployment(t testing.TB) *appsv1.Deployment {
	t.Helper()
	return DecodeAs[appsv1.Deployment](t, m, "Deployment", m.Only(t, "Deployment").GetName())
}

// Args returns the container's flags as name -> value ("" for none) and in
// order.
func (m *Manifest) Args(t testing.TB) (map[string]string, []string) {
	t.Helper()
	d := m.Deployment(t)
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

// WebhookConfigs returns the Mutating and the Validating webhook
// configuration called name: one mutating webhook, and two validating ones
// (the pod webhook, and the one for the subresources that write a pod's
// metadata).
func (m *Manifest) WebhookConfigs(t testing.TB, name string) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	mut := DecodeAs[admissionregistrationv1.MutatingWebhookConfiguration](t, m, "MutatingWebhookConfiguration", name)
	val := DecodeAs[admissionregistrationv1.ValidatingWebhookConfiguration](t, m, "ValidatingWebhookConfiguration", name)
	require.Len(t, mut.Webhooks, 1)
	require.Len(t, val.Webhooks, 2)
	return mut, val
}

// AppVersion reads appVersion from the Chart.yaml of the repository at root.
func AppVersion(t testing.TB, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, Path, "Chart.yaml"))
	require.NoError(t, err)
	match := regexp.MustCompile(`(?m)^appVersion:\s*"?([^"\s]+)"?`).FindSubmatch(b)
	require.NotNil(t, match)
	return string(match[1])
}

// ExcludedNamespaces returns the namespaces a webhook's namespaceSelector
// leaves out: the chart renders one NotIn expression on the namespace name.
func ExcludedNamespaces(t testing.TB, sel *metav1.LabelSelector) []string {
	t.Helper()
	require.NotNil(t, sel)
	require.Len(t, sel.MatchExpressions, 1)
	e := sel.MatchExpressions[0]
	assert.Equal(t, "kubernetes.io/metadata.name", e.Key)
	assert.Equal(t, metav1.LabelSelectorOpNotIn, e.Operator)
	return e.Values
}
