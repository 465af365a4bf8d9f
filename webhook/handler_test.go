package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

var fixedClock = testingclock.NewFakePassiveClock(anchor)

func newMutator() *admission.Webhook {
	return &admission.Webhook{Handler: &Mutator{Config: cfg, Clock: fixedClock}}
}

func newValidator() *admission.Webhook {
	return &admission.Webhook{Handler: &Validator{Config: cfg, Clock: fixedClock}}
}

type reviewOpts struct {
	op          admissionv1.Operation
	kind        metav1.GroupVersionKind
	subResource string
	dryRun      bool
	oldObject   []byte
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// reviewBody is an AdmissionReview as kube-apiserver sends it.
func reviewBody(t testing.TB, object []byte, o reviewOpts) []byte {
	if o.op == "" {
		o.op = admissionv1.Create
	}
	if o.kind == (metav1.GroupVersionKind{}) {
		o.kind = podKind
	}
	return mustJSON(t, admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             types.UID("705ab4f5-6393-11e8-b7cc-42010a800002"),
			Kind:            o.kind,
			Resource:        metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			SubResource:     o.subResource,
			RequestKind:     &o.kind,
			RequestResource: &metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:            "run-long-pod-x7k2pqrs",
			Namespace:       "airflow",
			Operation:       o.op,
			UserInfo:        authenticationv1.UserInfo{Username: "system:serviceaccount:airflow:airflow-worker", Groups: []string{"system:serviceaccounts", "system:authenticated"}},
			Object:          runtime.RawExtension{Raw: object},
			OldObject:       runtime.RawExtension{Raw: o.oldObject},
			DryRun:          ptr.To(o.dryRun),
			Options:         runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)},
		},
	})
}

// serve sends body through the framework's HTTP handler, as over the wire.
func serve(t testing.TB, wh http.Handler, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	wh.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	var out admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	require.NotNil(t, out.Response)
	return out.Response
}

// admitted applies a response's patch to the object, as kube-apiserver does.
func admitted(t *testing.T, object []byte, resp *admissionv1.AdmissionResponse) *corev1.Pod {
	t.Helper()
	out := object
	if len(resp.Patch) > 0 {
		require.Equal(t, admissionv1.PatchTypeJSONPatch, *resp.PatchType)
		patch, err := jsonpatch.DecodePatch(resp.Patch)
		require.NoError(t, err)
		out, err = patch.Apply(object)
		require.NoError(t, err)
	}
	var p corev1.Pod
	require.NoError(t, json.Unmarshal(out, &p))
	return &p
}

func TestMutatorClampsKPOPod(t *testing.T) {
	k := cfg.Keys
	in := kpoPod(map[string]string{k.Timeout: "20s", "unrelated": "kept"}, ptr.To[int64](3600))
	object := mustJSON(t, in)
	for _, dryRun := range []bool{false, true} {
		resp := serve(t, newMutator(), reviewBody(t, object, reviewOpts{dryRun: dryRun}))
		require.True(t, resp.Allowed)
		assert.Equal(t, types.UID("705ab4f5-6393-11e8-b7cc-42010a800002"), resp.UID)
		assert.Equal(t, []string{"airflow-pod-deadline: activeDeadlineSeconds 3600 -> 20 to fit execution deadline 2026-05-20T10:00:20Z"}, resp.Warnings)

		out := admitted(t, object, resp)
		assert.Equal(t, ptr.To[int64](20), out.Spec.ActiveDeadlineSeconds)
		assert.Equal(t, map[string]string{
			k.Timeout: "20s", k.Deadline: "2026-05-20T10:00:20Z", k.ClampedFrom: "3600", k.Admitted: "20", "unrelated": "kept",
		}, out.Annotations)
		// Nothing else moves.
		out.Spec.ActiveDeadlineSeconds, out.Annotations = in.Spec.ActiveDeadlineSeconds, in.Annotations
		assert.Equal(t, in, out)

		// Reinvocation: the admitted pod yields no second patch.
		again := serve(t, newMutator(), reviewBody(t, mustJSON(t, admitted(t, object, resp)), reviewOpts{dryRun: dryRun}))
		assert.True(t, again.Allowed)
		assert.Empty(t, again.Patch)
		assert.Empty(t, again.Warnings)
	}
}

func TestMutatorAnswers(t *testing.T) {
	k := cfg.Keys
	deadline := map[string]string{k.Deadline: "2026-05-20T10:00:20Z"}
	tests := map[string]struct {
		body    func(t testing.TB) []byte
		allowed bool
		code    int32
		message string
		patched bool
		result  Result
	}{
		"unset ADS is set": {
			body:    func(t testing.TB) []byte { return reviewBody(t, mustJSON(t, kpoPod(deadline, nil)), reviewOpts{}) },
			allowed: true, code: 200, patched: true, result: ResultClamped},
		"lower ADS keeps it, recorded as admitted": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, mustJSON(t, kpoPod(deadline, ptr.To[int64](5))), reviewOpts{})
			},
			allowed: true, code: 200, patched: true, result: ResultStamped},
		"late pod is denied": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, mustJSON(t, kpoPod(map[string]string{k.Deadline: "2026-05-20T09:59:48Z"}, nil)), reviewOpts{})
			},
			code: 403, message: "execution deadline 2026-05-20T09:59:48Z passed 12s ago; the task has exceeded its execution_timeout or its DAG run's dagrun_timeout", result: ResultDenied},
		"late dry-run is denied the same": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, mustJSON(t, kpoPod(map[string]string{k.Deadline: "2026-05-20T09:59:48Z"}, nil)), reviewOpts{dryRun: true})
			},
			code: 403, message: "passed 12s ago", result: ResultDenied},
		"malformed is invalid": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, mustJSON(t, kpoPod(map[string]string{k.Timeout: "an hour"}, nil)), reviewOpts{})
			},
			code: 403, message: "metadata.annotations[airflow-pod-deadline.io/execution-timeout]: Invalid value: \"an hour\"", result: ResultInvalid},
		"update is not mutated": {
			body: func(t testing.TB) []byte {
				p := mustJSON(t, kpoPod(deadline, nil))
				return reviewBody(t, p, reviewOpts{op: admissionv1.Update, oldObject: p})
			},
			allowed: true, code: 200, result: ResultUnchanged},
		"subresource is not ours": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, mustJSON(t, kpoPod(deadline, nil)), reviewOpts{subResource: "status"})
			},
			allowed: true, code: 200, result: ResultUnchanged},
		"wrong kind": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, []byte(`{"kind":"ConfigMap"}`), reviewOpts{kind: metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}})
			},
			code: 400, message: "expected a v1 Pod, got /v1, Kind=ConfigMap", result: ResultError},
		"undecodable object": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, []byte(`{"metadata":{"annotations":42}}`), reviewOpts{})
			},
			code: 400, message: "decoding the pod", result: ResultError},
		"missing object": {
			body: func(t testing.TB) []byte { return reviewBody(t, nil, reviewOpts{}) },
			code: 400, message: "carries no object", result: ResultError},
		"truncated review": {
			body: func(t testing.TB) []byte {
				return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":`)
			},
			code: 400, message: "unexpected end of JSON input"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			body := tc.body(t)
			var review admissionv1.AdmissionReview
			_ = json.Unmarshal(body, &review)
			op := ""
			if review.Request != nil {
				op = string(review.Request.Operation)
			}
			before := resultCount(WebhookMutate, op, tc.result)
			resp := serve(t, newMutator(), body)
			assert.Equal(t, tc.allowed, resp.Allowed)
			require.NotNil(t, resp.Result)
			assert.Equal(t, tc.code, resp.Result.Code)
			assert.Contains(t, resp.Result.Message, tc.message)
			assert.Equal(t, tc.patched, len(resp.Patch) > 0)
			if tc.result != "" {
				assert.Equal(t, before+1, resultCount(WebhookMutate, op, tc.result))
			}
		})
	}
}

func TestValidatorAnswers(t *testing.T) {
	k := cfg.Keys
	clamped := map[string]string{k.Deadline: "2026-05-20T10:00:20Z", k.ClampedFrom: "3600"}
	extended := map[string]string{k.Deadline: "2026-05-20T11:00:00Z", k.ClampedFrom: "3600"}
	tests := map[string]struct {
		body    func(t testing.TB) []byte
		allowed bool
		code    int32
		message string
	}{
		"clamped create": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, mustJSON(t, kpoPod(clamped, ptr.To[int64](20))), reviewOpts{})
			},
			allowed: true, code: 200},
		"create raised after us": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, mustJSON(t, kpoPod(clamped, ptr.To[int64](3600))), reviewOpts{})
			},
			code: 403, message: "spec.activeDeadlineSeconds: Invalid value: 3600"},
		"update extending the deadline": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, mustJSON(t, kpoPod(extended, ptr.To[int64](20))),
					reviewOpts{op: admissionv1.Update, oldObject: mustJSON(t, kpoPod(clamped, ptr.To[int64](20)))})
			},
			code: 403, message: "metadata.annotations[airflow-pod-deadline.io/execution-deadline]: Forbidden: cannot be changed from "},
		"update patching labels": {
			body: func(t testing.TB) []byte {
				p := kpoPod(clamped, ptr.To[int64](20))
				old := mustJSON(t, p)
				p.Labels["already_checked"] = "True"
				return reviewBody(t, mustJSON(t, p), reviewOpts{op: admissionv1.Update, oldObject: old})
			},
			allowed: true, code: 200},
		"update without old object": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, mustJSON(t, kpoPod(clamped, ptr.To[int64](20))), reviewOpts{op: admissionv1.Update})
			},
			code: 400, message: "carries no object"},
		"delete is not judged": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, nil, reviewOpts{op: admissionv1.Delete, oldObject: mustJSON(t, kpoPod(clamped, nil))})
			},
			allowed: true, code: 200},
		"wrong kind": {
			body: func(t testing.TB) []byte {
				return reviewBody(t, []byte(`{}`), reviewOpts{kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}})
			},
			code: 400, message: "expected a v1 Pod"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp := serve(t, newValidator(), tc.body(t))
			assert.Equal(t, tc.allowed, resp.Allowed)
			require.NotNil(t, resp.Result)
			assert.Equal(t, tc.code, resp.Result.Code)
			assert.Contains(t, resp.Result.Message, tc.message)
			assert.Empty(t, resp.Patch)
		})
	}
}

func resultCount(webhook, operation string, result Result) float64 {
	return testutil.ToFloat64(admissionsTotal.WithLabelValues(webhook, operation, string(result)))
}
