package webhook

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// MutatePath is where the mutating webhook is served.
const MutatePath = "/mutate-v1-pod"

// Mutator adapts DecideMutation to controller-runtime's admission.Handler.
type Mutator struct {
	Config Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ admission.Handler = &Mutator{}

// patchView is the part of a Pod a mutation can change: our own annotations
// and activeDeadlineSeconds. The patch is the framework's diff of this view
// before and after the decision, which yields the same JSON paths as a diff of
// the whole pod at a fraction of the cost. Annotations is a pointer so that a
// pod with annotations but none of ours still diffs per key
// (add /metadata/annotations/<key>), never replacing the whole map.
type patchView struct {
	Metadata struct {
		Annotations *map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
	Spec struct {
		ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
	} `json:"spec"`
}

// newPatchView returns the view of pod restricted to the given annotation keys.
func newPatchView(pod *corev1.Pod, keys Keys) patchView {
	var v patchView
	if pod.Annotations != nil {
		ours := make(map[string]string, 3)
		for _, k := range []string{keys.Deadline, keys.Timeout, keys.ClampedFrom} {
			if value, ok := pod.Annotations[k]; ok {
				ours[k] = value
			}
		}
		v.Metadata.Annotations = &ours
	}
	v.Spec.ActiveDeadlineSeconds = pod.Spec.ActiveDeadlineSeconds
	return v
}

// Handle implements admission.Handler.
func (m *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	resp, result := m.handle(ctx, req)
	countAdmission(WebhookMutate, string(req.Operation), result)
	return resp
}

func (m *Mutator) handle(ctx context.Context, req admission.Request) (admission.Response, Result) {
	if resp := checkRequest(req, admissionv1.Create); resp != nil {
		return *resp, resultOf(*resp)
	}
	pod, err := decodePod(req.Object)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err), ResultError
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	d := DecideMutation(pod, now(), m.Config)
	switch d.Result {
	case ResultDenied, ResultInvalid:
		logf.FromContext(ctx).Info("refusing pod", append(requestValues(req), "result", d.Result, "reason", d.Denial)...)
		return admission.Denied(d.Denial), d.Result
	case ResultUnchanged:
		return admission.Allowed(""), d.Result
	}

	before := newPatchView(pod, m.Config.Keys)
	mutated := pod.DeepCopy()
	if mutated.Annotations == nil {
		mutated.Annotations = map[string]string{}
	}
	maps.Copy(mutated.Annotations, d.Annotations)
	if d.ActiveDeadlineSeconds != nil {
		mutated.Spec.ActiveDeadlineSeconds = d.ActiveDeadlineSeconds
	}
	after := newPatchView(mutated, m.Config.Keys)
	original, err := json.Marshal(before)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err), ResultError
	}
	current, err := json.Marshal(after)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err), ResultError
	}
	resp := admission.PatchResponseFromRaw(original, current)
	if d.Warning != "" {
		resp = resp.WithWarnings(d.Warning)
		logf.FromContext(ctx).V(1).Info("clamped activeDeadlineSeconds", append(requestValues(req), "deadline", FormatDeadline(d.Deadline), "activeDeadlineSeconds", *d.ActiveDeadlineSeconds)...)
	}
	return resp, d.Result
}

// resultOf classifies the answers checkRequest gives on its own.
func resultOf(resp admission.Response) Result {
	if resp.Allowed {
		return ResultUnchanged
	}
	return ResultError
}

// NewMutatingWebhook is the mutating webhook as served at MutatePath.
func NewMutatingWebhook(cfg Config, now func() time.Time) *admission.Webhook {
	return &admission.Webhook{Handler: &Mutator{Config: cfg, Now: now}, LogConstructor: requestLogger}
}
