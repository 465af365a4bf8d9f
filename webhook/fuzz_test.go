package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	sigsjson "sigs.k8s.io/json"
)

// Native fuzz targets. Their seed corpora run in every `go test`;
// `make fuzz` explores each for FUZZTIME.

// FuzzAdmissionReview sends arbitrary bodies through both webhooks as the
// API server would: never a panic, always a well-formed AdmissionReview
// answer, and a request with a UID gets it back.
func FuzzAdmissionReview(f *testing.F) {
	k := cfg.Keys
	pod := mustJSON(f, kpoPod(map[string]string{k.Timeout: "20s"}, ptr.To[int64](3600)))
	f.Add(reviewBody(f, pod, reviewOpts{}))
	f.Add(reviewBody(f, pod, reviewOpts{op: admissionv1.Update, oldObject: pod}))
	f.Add(reviewBody(f, pod, reviewOpts{op: admissionv1.Update, subResource: "status", oldObject: []byte(`{}`)}))
	f.Add(reviewBody(f, []byte(`{"kind":"Binding","metadata":{"annotations":{"`+k.Timeout+`":"1s"}},"target":{"name":"n"}}`),
		reviewOpts{subResource: "binding", kind: metav1.GroupVersionKind{Version: "v1", Kind: "Binding"}}))
	f.Add(reviewBody(f, mustJSON(f, kpoPod(map[string]string{k.Deadline: "2000-01-01T00:00:00Z"}, nil)), reviewOpts{}))
	f.Add(reviewBody(f, []byte(`{"metadata":{"annotations":{"`+k.Timeout+`":"x"}}}`), reviewOpts{}))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":{}}}`))
	f.Add([]byte(`{"kind":"AdmissionReview","request":{"uid":"1","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":null}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`nul`))
	handlers := map[string]http.Handler{
		"mutate":   NewMutatingWebhook(cfg, fixedClock),
		"validate": NewValidatingWebhook(cfg, fixedClock),
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for name, h := range handlers {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
				t.Fatalf("%s: answer is not an AdmissionReview (%v): %s", name, err, rec.Body)
			}
			// The framework, like the API server, decodes field names
			// case-sensitively: {"uId": ...} carries no UID.
			var in admissionv1.AdmissionReview
			if sigsjson.UnmarshalCaseSensitivePreserveInts(body, &in) == nil && in.Request != nil && in.Request.UID != "" && out.Response.Result != nil &&
				out.Response.Result.Code < 400 && out.Response.UID != in.Request.UID {
				t.Fatalf("%s: answered UID %q for request %q", name, out.Response.UID, in.Request.UID)
			}
		}
	})
}
