package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

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
// The returned Pod carries only the annotations and activeDeadlineSeconds.
//
// A pod is several kilobytes of containers, volumes and defaults, and decoding
// it with encoding/json costs as much again as the framework's decoding of the
// whole AdmissionReview. scanPod picks the two fields out of the JSON that
// kube-apiserver writes without decoding the rest; anything it does not
// recognise (escaped keys, malformed input) goes through the standard decoder,
// which is also the reference FuzzDecodePod holds scanPod to.
func decodePod(raw runtime.RawExtension) (*corev1.Pod, error) {
	if len(raw.Raw) == 0 {
		return nil, errors.New("the request carries no object")
	}
	p, ok := scanPod(raw.Raw)
	if !ok {
		var err error
		if p, err = decodePodStd(raw.Raw); err != nil {
			return nil, err
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Annotations: p.Metadata.Annotations},
		Spec:       corev1.PodSpec{ActiveDeadlineSeconds: p.Spec.ActiveDeadlineSeconds},
	}, nil
}

func decodePodStd(data []byte) (admittedPod, error) {
	var p admittedPod
	if err := json.UnmarshalCaseSensitivePreserveInts(data, &p); err != nil {
		return admittedPod{}, fmt.Errorf("decoding the pod: %w", err)
	}
	return p, nil
}

// scanPod extracts the admitted fields from a JSON object. ok is false when the
// input is not plainly shaped (the caller then uses the standard decoder). It
// does not validate what it skips: its input is the raw object of an
// AdmissionReview the framework has already decoded, which validated it.
func scanPod(data []byte) (p admittedPod, ok bool) {
	s := scanner{data: data}
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "metadata":
			return s.object(func(key []byte) bool {
				if string(key) != "annotations" {
					return s.skip()
				}
				start := s.i
				if !s.skip() {
					return false
				}
				// As encoding/json: null clears the map, a repeated key merges
				// into it. Small; the standard decoder handles escapes.
				raw := data[start:s.i]
				if string(raw) == "null" {
					p.Metadata.Annotations = nil
					return true
				}
				return json.UnmarshalCaseSensitivePreserveInts(raw, &p.Metadata.Annotations) == nil
			})
		case "spec":
			return s.object(func(key []byte) bool {
				if string(key) != "activeDeadlineSeconds" {
					return s.skip()
				}
				start := s.i
				if !s.skip() {
					return false
				}
				p.Spec.ActiveDeadlineSeconds = nil
				if raw := data[start:s.i]; string(raw) != "null" {
					n, err := strconv.ParseInt(string(raw), 10, 64)
					if err != nil {
						return false
					}
					p.Spec.ActiveDeadlineSeconds = &n
				}
				return true
			})
		}
		return s.skip()
	})
	if !ok {
		return admittedPod{}, false
	}
	s.space()
	return p, s.i == len(data)
}

// scanner walks JSON without validating what it skips; the callers only trust
// what it returns when the walk succeeds end to end.
type scanner struct {
	data []byte
	i    int
}

func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// object calls member for each key with s.i at the start of its value; member
// must consume the value.
func (s *scanner) object(member func(key []byte) bool) bool {
	s.space()
	if s.i >= len(s.data) || s.data[s.i] != '{' {
		return false
	}
	s.i++
	s.space()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.space()
		start := s.i
		escaped, ok := s.str()
		if !ok || escaped {
			return false
		}
		key := s.data[start+1 : s.i-1]
		s.space()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		if !member(key) {
			return false
		}
		s.space()
		if s.i >= len(s.data) {
			return false
		}
		switch s.data[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// str consumes a string, reporting whether it contains escapes.
func (s *scanner) str() (escaped, ok bool) {
	if s.i >= len(s.data) || s.data[s.i] != '"' {
		return false, false
	}
	for s.i++; s.i < len(s.data); s.i++ {
		switch c := s.data[s.i]; {
		case c == '"':
			s.i++
			return escaped, true
		case c == '\\':
			escaped = true
			s.i++
		case c < 0x20:
			return false, false
		}
	}
	return false, false
}

// skip consumes one value of any kind.
func (s *scanner) skip() bool {
	if s.i >= len(s.data) {
		return false
	}
	switch s.data[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.data) {
			switch s.data[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	default:
		start := s.i
		for s.i < len(s.data) {
			switch s.data[s.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return s.i > start
			}
			s.i++
		}
		return s.i > start
	}
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
