package webhook

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestValidatorGuardsSubresources: the subresources that write a pod's
// metadata (pods/status keeps the annotations an UPDATE sends; a Binding's
// annotations are copied onto the pod) may not change ours either; every
// other subresource request is not ours to judge.
func TestValidatorGuardsSubresources(t *testing.T) {
	k := cfg.Keys
	stamped := map[string]string{k.Deadline: "2026-05-20T10:00:30Z", k.DagID: "etl"}
	withDeadline := mustJSON(t, kpoPod(stamped, ptr.To[int64](30)))
	plain := mustJSON(t, kpoPod(nil, nil))
	binding := func(annotations map[string]string) []byte {
		return mustJSON(t, map[string]any{"kind": "Binding", "apiVersion": "v1",
			"metadata": map[string]any{"name": "run-long-pod-x7k2pqrs", "annotations": annotations},
			"target":   map[string]any{"kind": "Node", "name": "node-1"}})
	}
	bindingKind := metav1.GroupVersionKind{Version: "v1", Kind: "Binding"}
	tests := map[string]struct {
		object []byte
		opts   reviewOpts
		denial string // "" allowed
	}{
		"status update leaving ours alone": {object: withDeadline, opts: reviewOpts{op: admissionv1.Update, subResource: "status", oldObject: withDeadline}},
		"status update adding a deadline": {object: withDeadline, opts: reviewOpts{op: admissionv1.Update, subResource: "status", oldObject: plain},
			denial: "metadata.annotations[airflow-pod-deadline.io/execution-deadline]: Forbidden: cannot be added by an update"},
		"status update removing an identity": {object: plain, opts: reviewOpts{op: admissionv1.Update, subResource: "status", oldObject: withDeadline},
			denial: "metadata.annotations[airflow-pod-deadline.io/dag-id]: Forbidden: cannot be removed"},
		"ephemeralcontainers update adding a deadline": {object: withDeadline, opts: reviewOpts{op: admissionv1.Update, subResource: "ephemeralcontainers", oldObject: plain},
			denial: "cannot be added by an update"},
		"resize update adding a deadline": {object: withDeadline, opts: reviewOpts{op: admissionv1.Update, subResource: "resize", oldObject: plain},
			denial: "cannot be added by an update"},
		"scheduler's binding":            {object: binding(nil), opts: reviewOpts{subResource: "binding", kind: bindingKind}},
		"binding with other annotations": {object: binding(map[string]string{"team": "data"}), opts: reviewOpts{subResource: "binding", kind: bindingKind}},
		"binding carrying a deadline": {object: binding(map[string]string{k.Timeout: "1s"}), opts: reviewOpts{subResource: "binding", kind: bindingKind},
			denial: `metadata.annotations[airflow-pod-deadline.io/execution-timeout]: Forbidden: cannot be set through a binding (value "1s"); ` + createOnly},
		"eviction is not ours":            {object: []byte(`{"kind":"Eviction"}`), opts: reviewOpts{subResource: "eviction", kind: metav1.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}}},
		"status create is not ours":       {object: withDeadline, opts: reviewOpts{subResource: "status"}},
		"unknown subresource is not ours": {object: withDeadline, opts: reviewOpts{op: admissionv1.Update, subResource: "frobnicate", oldObject: plain}},
		"status update of another kind":   {object: []byte(`{}`), opts: reviewOpts{op: admissionv1.Update, subResource: "status", oldObject: []byte(`{}`), kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp := serve(t, newValidator(), reviewBody(t, tc.object, tc.opts))
			require.NotNil(t, resp.Result)
			if tc.denial == "" {
				assert.True(t, resp.Allowed, resp.Result.Message)
				return
			}
			assert.False(t, resp.Allowed)
			assert.Equal(t, int32(403), resp.Result.Code)
			assert.Contains(t, resp.Result.Message, tc.denial)
		})
	}
}

func TestValidateBinding(t *testing.T) {
	k := cfg.Keys
	assert.Equal(t, ResultUnchanged, ValidateBinding(nil, cfg).Result)
	assert.Equal(t, ResultUnchanged, ValidateBinding(map[string]string{"a": "b"}, cfg).Result)
	for _, key := range k.Protected() {
		got := ValidateBinding(map[string]string{key: ""}, cfg)
		assert.Equal(t, ResultInvalid, got.Result, key)
		assert.Contains(t, got.Denial, "metadata.annotations["+key+"]: Forbidden: cannot be set through a binding", key)
	}
}
