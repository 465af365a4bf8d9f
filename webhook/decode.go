package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/json"
)

var podKind = metav1.GroupVersionKind{Group: "", Version: "v1", Kind: "Pod"}

// checkRequest sorts out the requests that are not ours to judge before a
// pod is decoded: judge is true for a Pod of one of the given operations.
// Otherwise the request is answered at once (unjudged): allowed, or refused
// as a bad request when err says why.
func checkRequest(req admission.Request, operations ...admissionv1.Operation) (judge bool, err error) {
	if req.SubResource != "" {
		// pods/status, pods/binding, ... carry no deadline of their own.
		return false, nil
	}
	if req.Kind != podKind {
		return false, fmt.Errorf("expected a v1 Pod, got %s", req.Kind.String())
	}
	return slices.Contains(operations, req.Operation), nil
}

// unjudged is the answer to a request checkRequest did not pass on, with its
// result for the metrics.
func unjudged(err error) (admission.Response, Result) {
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err), ResultError
	}
	return admission.Allowed(""), ResultUnchanged
}

// Pod is the part of a Pod that admission reads: every decision is a function
// of these two fields, the clock and the configuration, and decodePod fills
// nothing else. A rule that needs another field has to add it here, where the
// decoder is, so it cannot pass unit tests on a full pod and see "" in
// production.
type Pod struct {
	Annotations           map[string]string
	ActiveDeadlineSeconds *int64
}

// admittedPod is Pod as JSON, the shape decodePod reads.
type admittedPod struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds"`
	} `json:"spec"`
}

// decodePod decodes the admitted part of a pod from a request's raw object.
// Decoding the rest of a pod (several kilobytes of containers, volumes and
// defaults) would cost as much again as the framework's decoding of the whole
// AdmissionReview. Field names match case-sensitively, as the API server's own
// decoding does.
func decodePod(raw runtime.RawExtension) (Pod, error) {
	if len(raw.Raw) == 0 {
		return Pod{}, errors.New("the request carries no object")
	}
	var p admittedPod
	if err := json.UnmarshalCaseSensitivePreserveInts(raw.Raw, &p); err != nil {
		return Pod{}, fmt.Errorf("decoding the pod: %w", err)
	}
	return Pod{Annotations: p.Metadata.Annotations, ActiveDeadlineSeconds: p.Spec.ActiveDeadlineSeconds}, nil
}

// requestLogger replaces the framework's per-request logger, which attaches six
// values to every request; with zap that encodes them eagerly, on every
// admission, for log lines that are almost never written. Our handlers log
// only refusals and add the request's identity there (requestValues).
func requestLogger(base logr.Logger, _ *admission.Request) logr.Logger {
	return base
}

func requestValues(req admission.Request) []any {
	return []any{"namespace", req.Namespace, "name", req.Name, "user", req.UserInfo.Username, "requestID", req.UID}
}
