package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// The webhook issue's pair: BenchmarkMutate, our handler on a realistic KPO pod
// review, next to BenchmarkDecodeOnly, decoding that same body the way the
// framework does before any handler runs. Target: Mutate ≤ 1.5× DecodeOnly.
// The Serve benchmarks put both on the wire path: the whole ServeHTTP of our
// mutator against the framework's ServeHTTP with a no-op handler (its floor).

func benchBody(b *testing.B) []byte {
	return reviewBody(b, mustJSON(b, kpoPod(map[string]string{cfg.Keys.Timeout: "30m"}, ptr.To[int64](3600))), reviewOpts{})
}

func decodeReview(b *testing.B, decoder runtime.Decoder, body []byte) admission.Request {
	var review admissionv1.AdmissionReview
	if _, _, err := decoder.Decode(body, nil, &review); err != nil || review.Request == nil {
		b.Fatal(err)
	}
	return admission.Request{AdmissionRequest: *review.Request}
}

func admissionDecoder(b *testing.B) runtime.Decoder {
	scheme := runtime.NewScheme()
	if err := admissionv1.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	return serializer.NewCodecFactory(scheme).UniversalDeserializer()
}

func BenchmarkDecodeOnly(b *testing.B) {
	body, decoder := benchBody(b), admissionDecoder(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		decodeReview(b, decoder, body)
	}
}

func BenchmarkMutate(b *testing.B) {
	body, decoder := benchBody(b), admissionDecoder(b)
	req := decodeReview(b, decoder, body)
	m := &Mutator{Config: cfg, Clock: fixedClock}
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp := m.Handle(ctx, req)
		if err := resp.Complete(req); err != nil || len(resp.Patch) == 0 {
			b.Fatalf("unexpected answer: %v %+v", err, resp)
		}
	}
}

func serveBench(b *testing.B, wh *admission.Webhook) {
	body := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, MutatePath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		wh.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("unexpected answer: %s", rec.Body)
		}
	}
}

func BenchmarkServeMutate(b *testing.B) {
	serveBench(b, NewMutatingWebhook(cfg, fixedClock))
}

func BenchmarkServeNoop(b *testing.B) {
	serveBench(b, &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})})
}

// BenchmarkMutateStraightforward is the same decision made the textbook way,
// for comparison in the same run: the framework's decoder for the whole pod,
// and the framework's patch from the whole pod marshalled before and after.
// It is what BenchmarkMutate replaced (docs/performance.md).
func BenchmarkMutateStraightforward(b *testing.B) {
	body, decoder := benchBody(b), admissionDecoder(b)
	req := decodeReview(b, decoder, body)
	podDecoder := admission.NewDecoder(runtime.NewScheme())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var pod corev1.Pod
		if err := podDecoder.DecodeRaw(req.Object, &pod); err != nil {
			b.Fatal(err)
		}
		d := DecideMutation(Pod{Annotations: pod.Annotations, ActiveDeadlineSeconds: pod.Spec.ActiveDeadlineSeconds}, anchor, cfg)
		mutated := pod.DeepCopy()
		for k, v := range d.Annotations {
			mutated.Annotations[k] = v
		}
		mutated.Spec.ActiveDeadlineSeconds = d.ActiveDeadlineSeconds
		current, err := json.Marshal(mutated)
		if err != nil {
			b.Fatal(err)
		}
		resp := admission.PatchResponseFromRaw(req.Object.Raw, current).WithWarnings(d.Warning)
		if err := resp.Complete(req); err != nil || len(resp.Patch) == 0 {
			b.Fatalf("unexpected answer: %v", err)
		}
	}
}
