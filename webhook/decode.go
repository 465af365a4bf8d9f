package webhook

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/json"
)

var podKind = metav1.GroupVersionKind{Group: "", Version: "v1", Kind: "Pod"}

// checkRequest answers the requests that are not ours to judge: nil means
// the request is a Pod of one of the given operations and should be decided.
func checkRequest(req admission.Request, operations ...admissionv1.Operation) *admission.Response {
	if req.SubResource != "" {
		// pods/status, pods/binding, ... carry no deadline of their own.
		resp := admission.Allowed("")
		return &resp
	}
	if req.Kind != podKind {
		resp := admission.Errored(http.StatusBadRequest, fmt.Errorf("expected a v1 Pod, got %s", req.Kind.String()))
		return &resp
	}
	for _, op := range operations {
		if req.Operation == op {
			return nil
		}
	}
	resp := admission.Allowed("")
	return &resp
}

// admittedPod is the part of a Pod that admission reads: every decision is a
// function of metadata.annotations and spec.activeDeadlineSeconds only.
type admittedPod struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds"`
	} `json:"spec"`
}

// decodePod decodes the admitted part of a pod from a request's raw object.
// The returned Pod carries only the annotations and activeDeadlineSeconds:
// decoding the rest of a pod (several kilobytes of containers, volumes and
// defaults) would cost as much again as the framework's decoding of the whole
// AdmissionReview. Field names match case-sensitively, as the API server's
// own decoding does.
func decodePod(raw runtime.RawExtension) (*corev1.Pod, error) {
	if len(raw.Raw) == 0 {
		return nil, errors.New("the request carries no object")
	}
	var p admittedPod
	if err := json.UnmarshalCaseSensitivePreserveInts(raw.Raw, &p); err != nil {
		return nil, fmt.Errorf("decoding the pod: %w", err)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Annotations: p.Metadata.Annotations},
		Spec:       corev1.PodSpec{ActiveDeadlineSeconds: p.Spec.ActiveDeadlineSeconds},
	}, nil
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
