package webhook

import (
	"context"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/utils/clock"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// ValidatePath is where the validating webhook is served.
const ValidatePath = "/validate-v1-pod"

// Validator adapts ValidateCreate and ValidateUpdate to admission.Handler.
type Validator struct {
	Config Config
	// Clock reads now for each request (required).
	Clock clock.PassiveClock
}

var _ admission.Handler = &Validator{}

// Handle implements admission.Handler.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	resp, result := v.handle(ctx, req)
	countAdmission(WebhookValidate, string(req.Operation), result)
	return resp
}

func (v *Validator) handle(ctx context.Context, req admission.Request) (admission.Response, Result) {
	check := checkRequest
	if req.SubResource != "" {
		check = checkSubresource
	}
	if judge, err := check(req, admissionv1.Create, admissionv1.Update); !judge {
		return unjudged(err)
	}
	pod, err := decodePod(req.Object)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err), ResultError
	}
	now := v.Clock.Now()
	var verdict Validation
	switch {
	case req.SubResource == bindingSubresource:
		// The Binding's metadata, not a pod's.
		verdict = ValidateBinding(pod.Annotations, v.Config)
	case req.Operation == admissionv1.Create:
		verdict = ValidateCreate(pod, now, v.Config)
	default:
		oldPod, err := decodePod(req.OldObject)
		if err != nil {
			return admission.Errored(http.StatusBadRequest, err), ResultError
		}
		verdict = ValidateUpdate(oldPod, pod, now, v.Config)
	}
	if verdict.Denial != "" {
		logf.FromContext(ctx).Info("refusing pod", append(requestValues(req), "result", verdict.Result, "reason", verdict.Denial)...)
		return admission.Denied(verdict.Denial), verdict.Result
	}
	return admission.Allowed(""), verdict.Result
}

// bindingSubresource is pods/binding: the API server copies a Binding's
// annotations onto the pod it binds.
const bindingSubresource = "binding"

// podWritingSubresources write a whole Pod, metadata included: the API
// server keeps the annotations an UPDATE of pods/status sends (shown by
// test/controlplane/deputy_test.go), so each is one more way to change ours after create.
var podWritingSubresources = map[string]bool{"status": true, "ephemeralcontainers": true, "resize": true}

// checkSubresource is checkRequest for subresources: judge an UPDATE of a
// subresource that writes the Pod, or a CREATE of pods/binding; allow the
// rest.
func checkSubresource(req admission.Request, _ ...admissionv1.Operation) (judge bool, err error) {
	switch {
	case req.SubResource == bindingSubresource && req.Operation == admissionv1.Create:
		return true, nil
	case podWritingSubresources[req.SubResource] && req.Operation == admissionv1.Update && req.Kind == podKind:
		return true, nil
	}
	return false, nil
}

// NewValidatingWebhook is the validating webhook as served at ValidatePath.
func NewValidatingWebhook(cfg Config, clk clock.PassiveClock) *admission.Webhook {
	return &admission.Webhook{Handler: &Validator{Config: cfg, Clock: clk}, LogConstructor: requestLogger}
}
