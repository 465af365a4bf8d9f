package webhook

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// TestBadInput sends malformed and hostile inputs through both webhooks exactly
// as they are served (NewMutatingWebhook / NewValidatingWebhook, the framework's
// ServeHTTP, a fixed clock) and pins the answer each gets. The answers are also
// the table in docs/reliability.md between the badinput markers; run
//
//	go test ./webhook/ -run TestBadInput -update
//
// to rewrite it after an intended change.

var update = flag.Bool("update", false, "rewrite the bad-input table in docs/reliability.md")

const (
	reliabilityDoc = "../docs/reliability.md"
	badInputBegin  = "<!-- badinput:begin -->"
	badInputEnd    = "<!-- badinput:end -->"

	// frameworkLimit is controller-runtime's maxRequestSize for an AdmissionReview body.
	frameworkLimit = 7 << 20
	mib            = 1 << 20
	reviewUID      = "705ab4f5-6393-11e8-b7cc-42010a800002"
	v1Review       = "admission.k8s.io/v1"
	v1beta1Review  = "admission.k8s.io/v1beta1"
	omitHeader     = "(none)"
)

// answer is the class of one webhook's answer to one input.
type answer struct {
	// HTTP is the status of the HTTP response (the framework always writes
	// 200 and puts the verdict in the AdmissionReview).
	HTTP int
	// Allowed, Code and Msg are response.allowed, response.result.code and a
	// fragment of response.result.message.
	Allowed bool
	Code    int32
	Msg     string
	// Patched: the answer carries a JSON patch.
	Patched bool
	// Bare: the framework refused before decoding the review, so the answer
	// has no apiVersion/kind and no uid.
	Bare bool
	// Version is the answer's apiVersion (and kind, when not AdmissionReview)
	// when it is not an admission.k8s.io/v1 AdmissionReview.
	Version string
}

func allow() answer { return answer{HTTP: 200, Allowed: true, Code: 200} }
func patch() answer { return answer{HTTP: 200, Allowed: true, Code: 200, Patched: true} }

// deny is an admission denial (403), the message the user reads.
func deny(msg string) answer { return answer{HTTP: 200, Code: 403, Msg: msg} }

// fail is an error answer given by our handler (the review was decoded).
func fail(code int32, msg string) answer { return answer{HTTP: 200, Code: code, Msg: msg} }

// bare is an error answer given by the framework before decoding the review.
func bare(code int32, msg string) answer { return answer{HTTP: 200, Code: code, Msg: msg, Bare: true} }

// both: the two webhooks answer alike; pair: mutating first, validating second.
func both(a answer) [2]answer       { return [2]answer{a, a} }
func pair(m, v answer) [2]answer    { return [2]answer{m, v} }
func (a answer) as(v string) answer { a.Version = v; return a }

var webhookNames = [2]string{"mutate", "validate"}

type badInput struct {
	// body builds the request body; it is called once per webhook.
	body func(t testing.TB) io.Reader
	// contentType defaults to application/json; omitHeader sends none.
	contentType string
	// method defaults to POST.
	method string
	// noUID: the request has no uid (every other decoded request has reviewUID).
	noUID bool
	want  [2]answer
}

// observed is what one webhook answered to one input.
type observed struct {
	answer
	message   string
	respBytes int
	uid       string
}

var (
	dk = cfg.Keys.Deadline
	tk = cfg.Keys.Timeout
)

// readable is the reference pod: a deadline 20s after the fixed clock and an
// activeDeadlineSeconds far above it. The mutating webhook clamps it (a patch)
// and the validating webhook refuses it (3600 > 20 + tolerance), so a row that
// answers like this one read both fields correctly.
const readableDeadline = "2026-05-20T10:00:20Z"

func readable() [2]answer {
	return pair(patch(), deny("spec.activeDeadlineSeconds: Invalid value: 3600"))
}

// annotated is a KPO pod with the given annotations and no activeDeadlineSeconds.
func annotated(annotations map[string]string) func(t testing.TB) io.Reader {
	return func(t testing.TB) io.Reader {
		return bytes.NewReader(reviewBody(t, mustJSON(t, kpoPod(annotations, nil)), reviewOpts{}))
	}
}

func withOpts(object func(t testing.TB) []byte, o reviewOpts) func(t testing.TB) io.Reader {
	return func(t testing.TB) io.Reader {
		var obj []byte
		if object != nil {
			obj = object(t)
		}
		if o.oldObject != nil && string(o.oldObject) == "same" {
			o.oldObject = obj
		}
		return bytes.NewReader(reviewBody(t, obj, o))
	}
}

// edited is the readable pod's review with one textual replacement.
func edited(old, new string) func(t testing.TB) io.Reader {
	return func(t testing.TB) io.Reader {
		review := string(reviewBody(t, readablePod(t), reviewOpts{}))
		require.Contains(t, review, old)
		return strings.NewReader(strings.Replace(review, old, new, 1))
	}
}

func readablePod(t testing.TB) []byte {
	return mustJSON(t, kpoPod(map[string]string{dk: readableDeadline}, ptr.To[int64](3600)))
}

func malformedPod(t testing.TB) []byte {
	return mustJSON(t, kpoPod(map[string]string{tk: "an hour"}, nil))
}

// raw is a body given verbatim.
func raw(s string) func(t testing.TB) io.Reader {
	return func(testing.TB) io.Reader { return strings.NewReader(s) }
}

// rawReview wraps a verbatim object (or anything else) in a v1 CREATE review
// for a Pod without re-encoding it, so invalid, duplicate-key or very deep JSON
// reaches the webhook as written.
func rawReview(object string) func(t testing.TB) io.Reader {
	return func(testing.TB) io.Reader { return strings.NewReader(rawReviewString(object)) }
}

func rawReviewString(object string) string {
	return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + reviewUID + `",` +
		`"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},` +
		`"name":"run-long-pod-x7k2pqrs","namespace":"airflow","operation":"CREATE",` +
		`"userInfo":{"username":"system:serviceaccount:airflow:airflow-worker"},"object":` + object + `,"dryRun":false}}`
}

// padded is a well-formed review of the readable pod followed by whitespace up
// to size bytes in total, streamed so that no test allocates the padding.
func padded(size int64) func(t testing.TB) io.Reader {
	return func(t testing.TB) io.Reader {
		review := reviewBody(t, readablePod(t), reviewOpts{})
		require.Less(t, int64(len(review)), size)
		return io.MultiReader(bytes.NewReader(review), io.LimitReader(spaces{}, size-int64(len(review))))
	}
}

type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// nested is a pod whose spec carries an unrelated field nested depth levels deep.
func nested(depth int, extra string) string {
	return `{` + extra + `"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"}},` +
		`"spec":{"activeDeadlineSeconds":3600,"x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}`
}

func manyAnnotations(n int) map[string]string {
	a := make(map[string]string, n+1)
	for i := range n {
		a[fmt.Sprintf("example.com/key-%05d", i)] = "value"
	}
	a[dk] = readableDeadline
	return a
}

func badInputs() map[string]badInput {
	apps := metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	return map[string]badInput{
		// --- reference rows: well-formed inputs, for comparison ---
		"0 reference: KPO pod, deadline 20s ahead, activeDeadlineSeconds 3600": {
			body: withOpts(readablePod, reviewOpts{}), want: readable()},
		"0 reference: deadline passed 12s ago": {
			body: annotated(map[string]string{dk: "2026-05-20T09:59:48Z"}),
			want: both(deny("execution deadline 2026-05-20T09:59:48Z passed 12s ago; the task has exceeded its execution_timeout or its DAG run's dagrun_timeout"))},

		// --- execution-deadline values ---
		"deadline: bad RFC 3339 (hour 25)": {
			body: annotated(map[string]string{dk: "2026-05-20T25:15:30Z"}), want: both(deny("is not an RFC 3339 timestamp"))},
		"deadline: bad RFC 3339 (leap second)": {
			body: annotated(map[string]string{dk: "2026-06-30T23:59:60Z"}), want: both(deny("is not an RFC 3339 timestamp"))},
		"deadline: naive time (no offset)": {
			body: annotated(map[string]string{dk: "2026-05-20T10:15:30"}), want: both(deny("has no UTC offset"))},
		"deadline: offset without colon (+0000)": {
			body: annotated(map[string]string{dk: "2026-05-20T10:15:30+0000"}), want: both(deny("is not an RFC 3339 timestamp"))},
		"deadline: lowercase t and z": {
			body: annotated(map[string]string{dk: "2026-05-20t10:15:30z"}), want: both(deny("is neither an RFC 3339 timestamp nor Unix epoch seconds"))},
		"deadline: date only": {
			body: annotated(map[string]string{dk: "2026-05-20"}), want: both(deny("is neither an RFC 3339 timestamp nor Unix epoch seconds"))},
		"deadline: epoch with exponent": {
			body: annotated(map[string]string{dk: "1.77927122e9"}), want: both(deny("is neither an RFC 3339 timestamp nor Unix epoch seconds"))},
		"deadline: negative epoch": {
			body: annotated(map[string]string{dk: "-1779271220"}), want: both(deny("is neither an RFC 3339 timestamp nor Unix epoch seconds"))},
		"deadline: epoch overflowing int64": {
			body: annotated(map[string]string{dk: "99999999999999999999"}), want: both(deny("has too many digits for epoch seconds"))},
		"deadline: epoch in milliseconds (13 digits)": {
			body: annotated(map[string]string{dk: "1779272420000"}), want: both(deny("has too many digits for epoch seconds (epoch milliseconds or microseconds?)"))},
		"deadline: epoch 9000000000 (year 2255)": {
			body: annotated(map[string]string{dk: "9000000000"}), want: both(deny("is more than a year away (epoch milliseconds instead of seconds?)"))},
		"deadline: more than a year in the past": {
			body: annotated(map[string]string{dk: "2000-01-01T00:00:00Z"}), want: both(deny("is more than a year in the past"))},
		"deadline: compact date 20260520 (read as epoch 1970)": {
			body: annotated(map[string]string{dk: "20260520"}), want: both(deny("is more than a year in the past"))},
		"deadline: trailing newline (YAML block scalar)": {
			body: annotated(map[string]string{dk: readableDeadline + "\n"}), want: both(deny("has leading or trailing whitespace"))},
		"deadline: fullwidth digits": {
			body: annotated(map[string]string{dk: "２０２６-05-20T10:15:30Z"}), want: both(deny("contains a non-ASCII, control or non-space whitespace character"))},

		// --- execution-timeout values ---
		"timeout: negative Go duration": {
			body: annotated(map[string]string{tk: "-30s"}), want: both(deny("is negative"))},
		"timeout: Python timedelta with negative days": {
			body: annotated(map[string]string{tk: "-1 day, 23:59:30"}), want: both(deny("is negative"))},
		"timeout: zero (0s)": {
			body: annotated(map[string]string{tk: "0s"}), want: both(deny("is not positive"))},
		"timeout: zero seconds (0.0)": {
			body: annotated(map[string]string{tk: "0.0"}), want: both(deny("is not positive"))},
		"timeout: below a nanosecond (PT0.0000000001S)": {
			body: annotated(map[string]string{tk: "PT0.0000000001S"}), want: both(deny("is not positive"))},
		"timeout: more than a year (8761h)": {
			body: annotated(map[string]string{tk: "8761h"}), want: both(deny("is more than a year (milliseconds instead of seconds?)"))},
		"timeout: more than a year (P53W)": {
			body: annotated(map[string]string{tk: "P53W"}), want: both(deny("is more than a year (milliseconds instead of seconds?)"))},
		"timeout: milliseconds as seconds (1800000)": {
			body: annotated(map[string]string{tk: "1800000000"}), want: both(deny("is more than a year (milliseconds instead of seconds?)"))},
		"timeout: Go duration overflowing int64": {
			body: annotated(map[string]string{tk: "9999999999999h"}), want: both(deny("is out of range"))},
		"timeout: seconds overflowing int64": {
			body: annotated(map[string]string{tk: "99999999999999999999"}), want: both(deny("is out of range"))},
		"timeout: ISO component overflowing float64": {
			body: annotated(map[string]string{tk: "PT" + strings.Repeat("9", 400) + "S"}), want: both(deny("is too long (shown cut at 64 of its 403 bytes)"))},
		"timeout: unknown unit (30y)": {
			body: annotated(map[string]string{tk: "30y"}), want: both(deny("is not a duration"))},
		"timeout: words (30 seconds)": {
			body: annotated(map[string]string{tk: "30 seconds"}), want: both(deny("is not a duration"))},
		"timeout: lowercase ISO (pt30s)": {
			body: annotated(map[string]string{tk: "pt30s"}), want: both(deny("is not a duration"))},
		"timeout: ISO years (P1Y)": {
			body: annotated(map[string]string{tk: "P1Y"}), want: both(deny("is not an ISO 8601 duration (years and months are not accepted)"))},
		"timeout: ISO months (P1M)": {
			body: annotated(map[string]string{tk: "P1M"}), want: both(deny("is not an ISO 8601 duration (years and months are not accepted)"))},
		"timeout: ISO fraction not last (PT1.5H30M)": {
			body: annotated(map[string]string{tk: "PT1.5H30M"}), want: both(deny("has a fraction on a component other than the last"))},
		"timeout: ISO without components (PT)": {
			body: annotated(map[string]string{tk: "PT"}), want: both(deny("is not an ISO 8601 duration"))},
		"timeout: Python timedelta with minutes 60": {
			body: annotated(map[string]string{tk: "0:60:00"}), want: both(deny("is not a Python timedelta"))},
		"timeout: Python timedelta without the comma": {
			body: annotated(map[string]string{tk: "1 day 0:00:05"}), want: both(deny("is not a Python timedelta"))},

		// --- whitespace and character tricks (timeout 30s unless said) ---
		"whitespace: leading space": {
			body: annotated(map[string]string{tk: " 30s"}), want: both(deny("has leading or trailing whitespace"))},
		"whitespace: trailing space": {
			body: annotated(map[string]string{tk: "30s "}), want: both(deny("has leading or trailing whitespace"))},
		"whitespace: trailing newline": {
			body: annotated(map[string]string{tk: "30s\n"}), want: both(deny("has leading or trailing whitespace"))},
		"whitespace: tab inside": {
			body: annotated(map[string]string{tk: "30\ts"}), want: both(deny("contains a non-ASCII, control or non-space whitespace character"))},
		"whitespace: NUL byte": {
			body: annotated(map[string]string{tk: "30s\x00"}), want: both(deny("contains a non-ASCII, control or non-space whitespace character"))},
		"whitespace: no-break space inside": {
			body: annotated(map[string]string{tk: "30\u00a0s"}), want: both(deny("contains a non-ASCII, control or non-space whitespace character"))},
		"whitespace: Arabic-Indic digits": {
			body: annotated(map[string]string{tk: "٣٠s"}), want: both(deny("contains a non-ASCII, control or non-space whitespace character"))},
		"whitespace: fullwidth digits": {
			body: annotated(map[string]string{tk: "３０s"}), want: both(deny("contains a non-ASCII, control or non-space whitespace character"))},
		"whitespace: invalid UTF-8 byte in the JSON string": {
			body: rawReview(`{"metadata":{"annotations":{"` + tk + `":"30s` + "\xff" + `"}}}`),
			want: both(deny("contains a non-ASCII, control or non-space whitespace character"))},

		// --- both annotations ---
		"both annotations malformed": {
			body: annotated(map[string]string{dk: "tomorrow", tk: "an hour"}),
			want: both(deny("[metadata.annotations[airflow-pod-deadline.io/execution-deadline]: Invalid value: \"tomorrow\""))},
		"both annotations, deadline valid and timeout malformed": {
			body: annotated(map[string]string{dk: readableDeadline, tk: "an hour"}),
			want: both(deny("metadata.annotations[airflow-pod-deadline.io/execution-timeout]: Invalid value: \"an hour\""))},

		// --- sizes ---
		"size: 1 MiB malformed annotation value": {
			body: annotated(map[string]string{tk: strings.Repeat("x", mib)}), want: both(deny("is too long (shown cut at 64 of its 1048576 bytes)"))},
		"size: 1 MiB unrelated annotation next to a valid deadline": {
			body: withOpts(func(t testing.TB) []byte {
				return mustJSON(t, kpoPod(map[string]string{dk: readableDeadline, "example.com/blob": strings.Repeat("x", mib)}, ptr.To[int64](3600)))
			}, reviewOpts{}),
			want: readable()},
		"size: 3 MiB malformed values of DEL bytes (5x quoting)": {
			body: annotated(map[string]string{dk: strings.Repeat("\x7f", 3*mib/2), tk: strings.Repeat("\x7f", 3*mib/2)}),
			want: both(deny("is too long (shown cut at 64 of its 1572864 bytes)"))},
		"size: 10 000 annotations": {
			body: withOpts(func(t testing.TB) []byte {
				return mustJSON(t, kpoPod(manyAnnotations(10000), ptr.To[int64](3600)))
			}, reviewOpts{}),
			want: readable()},
		"size: body of 7 MiB - 1 byte (readable pod padded with spaces)": {
			body: padded(frameworkLimit - 1), want: readable()},
		"size: body of exactly 7 MiB": {
			body: padded(frameworkLimit), want: both(bare(413, "request entity is too large; limit is 7340032 bytes"))},
		"size: body of 7 MiB + 1 byte": {
			body: padded(frameworkLimit + 1), want: both(bare(413, "request entity is too large; limit is 7340032 bytes"))},
		"size: endless body (1 GiB streamed, read up to the limit)": {
			body: padded(1 << 30), want: both(bare(413, "request entity is too large; limit is 7340032 bytes"))},
		"size: 8 MiB annotation value inside a review": {
			body: annotated(map[string]string{tk: strings.Repeat("1", 8*mib)}),
			want: both(bare(413, "request entity is too large; limit is 7340032 bytes"))},

		// --- transport ---
		"transport: empty body": {
			body: func(testing.TB) io.Reader { return http.NoBody }, want: both(bare(400, "request body is empty"))},
		"transport: Content-Type application/yaml": {
			body: withOpts(readablePod, reviewOpts{}), contentType: "application/yaml",
			want: both(bare(400, "contentType=application/yaml, expected application/json"))},
		"transport: Content-Type with charset": {
			body: withOpts(readablePod, reviewOpts{}), contentType: "application/json; charset=utf-8",
			want: both(bare(400, "contentType=application/json; charset=utf-8, expected application/json"))},
		"transport: no Content-Type": {
			body: withOpts(readablePod, reviewOpts{}), contentType: omitHeader,
			want: both(bare(400, "contentType=, expected application/json"))},
		"transport: GET instead of POST": {
			body: withOpts(readablePod, reviewOpts{}), method: http.MethodGet, want: readable()},

		// --- the AdmissionReview ---
		"review: truncated JSON": {
			body: func(t testing.TB) io.Reader {
				b := reviewBody(t, readablePod(t), reviewOpts{})
				return bytes.NewReader(b[:len(b)/2])
			},
			want: both(bare(400, "unexpected end of JSON input"))},
		"review: JSON array": {
			body: raw(`[]`), want: both(bare(400, "cannot unmarshal array"))},
		"review: JSON string": {
			body: raw(`"AdmissionReview"`), want: both(bare(400, "cannot unmarshal string"))},
		"review: JSON null": {
			body: raw(`null`), want: both(fail(400, "expected a v1 Pod, got /, Kind="))},
		"review: empty object {}": {
			body: raw(`{}`), want: both(fail(400, "expected a v1 Pod, got /, Kind="))},
		"review: YAML without request (Content-Type application/json)": {
			body: raw("apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\n"), want: both(fail(400, "expected a v1 Pod, got /, Kind="))},
		"review: whole review as YAML (Content-Type application/json)": {
			body: func(t testing.TB) io.Reader {
				y, err := yaml.JSONToYAML(reviewBody(t, readablePod(t), reviewOpts{}))
				require.NoError(t, err)
				return bytes.NewReader(y)
			},
			want: readable()},
		"review: admission.k8s.io/v1beta1": {
			body: edited(`"apiVersion":"`+v1Review+`"`, `"apiVersion":"`+v1beta1Review+`"`),
			want: pair(patch().as(v1beta1Review), deny("spec.activeDeadlineSeconds: Invalid value: 3600").as(v1beta1Review))},
		"review: unknown apiVersion admission.k8s.io/v2": {
			body: edited(`"apiVersion":"`+v1Review+`"`, `"apiVersion":"admission.k8s.io/v2"`),
			want: pair(patch().as("admission.k8s.io/v2"), deny("spec.activeDeadlineSeconds: Invalid value: 3600").as("admission.k8s.io/v2"))},
		"review: no apiVersion and kind": {
			body: edited(`"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1",`, ""),
			want: readable()},
		"review: wrong kind (AdmissionRequest)": {
			body: edited(`"kind":"AdmissionReview"`, `"kind":"AdmissionRequest"`),
			want: pair(patch().as(v1Review+" AdmissionRequest"), deny("spec.activeDeadlineSeconds: Invalid value: 3600").as(v1Review+" AdmissionRequest"))},
		"review: missing request": {
			body: raw(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), want: both(fail(400, "expected a v1 Pod, got /, Kind="))},
		"review: request null": {
			body: raw(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`), want: both(fail(400, "expected a v1 Pod, got /, Kind="))},
		"review: request without uid": {
			body: edited(`"uid":"`+reviewUID+`",`, ""), noUID: true,
			want: readable()},
		"review: missing object": {
			body: withOpts(nil, reviewOpts{}), want: both(fail(400, "the request carries no object"))},
		"review: object null": {
			body: rawReview(`null`), want: both(fail(400, "the request carries no object"))},
		"review: object is a JSON array": {
			body: rawReview(`[]`), want: both(fail(400, "decoding the pod: json: cannot unmarshal array"))},
		"review: object is a JSON string": {
			body: rawReview(`"pod"`), want: both(fail(400, "decoding the pod: json: cannot unmarshal string"))},
		"review: object is invalid JSON": {
			body: rawReview(`{"metadata":}`), want: both(bare(400, "invalid character"))},

		// --- kinds, subresources, operations ---
		"kind: ConfigMap": {
			body: withOpts(func(testing.TB) []byte { return []byte(`{"kind":"ConfigMap","apiVersion":"v1"}`) },
				reviewOpts{kind: metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}}),
			want: both(fail(400, "expected a v1 Pod, got /v1, Kind=ConfigMap"))},
		"kind: Deployment (apps/v1)": {
			body: withOpts(readablePod, reviewOpts{kind: apps}), want: both(fail(400, "expected a v1 Pod, got apps/v1, Kind=Deployment"))},
		"kind: Pod in group apps": {
			body: withOpts(readablePod, reviewOpts{kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Pod"}}),
			want: both(fail(400, "expected a v1 Pod, got apps/v1, Kind=Pod"))},
		"kind: Pod version v2": {
			body: withOpts(readablePod, reviewOpts{kind: metav1.GroupVersionKind{Version: "v2", Kind: "Pod"}}),
			want: both(fail(400, "expected a v1 Pod, got /v2, Kind=Pod"))},
		"subresource: pods/status with a malformed annotation": {
			body: withOpts(malformedPod, reviewOpts{subResource: "status"}), want: both(allow())},
		"subresource: pods/ephemeralcontainers (UPDATE) with a malformed annotation": {
			body: withOpts(malformedPod, reviewOpts{subResource: "ephemeralcontainers", op: admissionv1.Update, oldObject: []byte("same")}),
			want: both(allow())},
		"operation: DELETE (object null)": {
			body: withOpts(nil, reviewOpts{op: admissionv1.Delete, oldObject: []byte(`{"metadata":{"annotations":{"` + tk + `":"an hour"}}}`)}),
			want: both(allow())},
		"operation: CONNECT with a malformed pod": {
			body: withOpts(malformedPod, reviewOpts{op: admissionv1.Connect}), want: both(allow())},
		"operation: unknown (PATCH) with a malformed pod": {
			body: withOpts(malformedPod, reviewOpts{op: admissionv1.Operation("PATCH")}), want: both(allow())},
		"operation: UPDATE without oldObject": {
			body: withOpts(readablePod, reviewOpts{op: admissionv1.Update}),
			want: pair(allow(), fail(400, "the request carries no object"))},
		"operation: UPDATE with a malformed new annotation": {
			body: withOpts(malformedPod, reviewOpts{op: admissionv1.Update, oldObject: []byte(`{}`)}),
			want: pair(allow(), deny("Forbidden: cannot be added by an update"))},

		// --- hostile JSON inside the object ---
		"json: duplicate metadata keys (second without annotations)": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"}},"metadata":{"name":"x"},"spec":{"activeDeadlineSeconds":3600}}`),
			want: readable()},
		"json: duplicate annotations keys (merged, as encoding/json)": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"},"annotations":{}},"spec":{"activeDeadlineSeconds":3600}}`),
			want: readable()},
		"json: duplicate annotations keys plus one escaped key (merged)": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"},"annotations":{}},"spec":{"activeDeadlineSeconds":3600},"st\u0061tus":{}}`),
			want: readable()},
		"json: duplicate activeDeadlineSeconds (3600 then 5)": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"}},"spec":{"activeDeadlineSeconds":3600,"activeDeadlineSeconds":5}}`),
			want: pair(patch(), allow())},
		"json: duplicate annotation key (valid then malformed)": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `","` + dk + `":"tomorrow"}}}`),
			want: both(deny(`Invalid value: "tomorrow"`))},
		"json: escaped key meta\\u0064ata": {
			body: rawReview(`{"meta\u0064ata":{"annotations":{"` + dk + `":"` + readableDeadline + `"}},"spec":{"activeDeadlineSeconds":3600}}`),
			want: readable()},
		"json: escaped annotation key (\\/ and \\u002d)": {
			body: rawReview(`{"metadata":{"annotations":{"airflow\u002dpod-deadline.io\/execution-deadline":"` + readableDeadline + `"}},"spec":{"activeDeadlineSeconds":3600}}`),
			want: readable()},
		"json: key with other case (Metadata)": {
			body: rawReview(`{"Metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"}},"spec":{"activeDeadlineSeconds":3600}}`),
			want: both(allow())},
		"json: metadata null": {
			body: rawReview(`{"metadata":null,"spec":{"activeDeadlineSeconds":3600}}`), want: both(allow())},
		"json: annotations not an object": {
			body: rawReview(`{"metadata":{"annotations":42}}`), want: both(fail(400, "decoding the pod: json: cannot unmarshal number into Go struct field"))},
		"json: annotation value not a string": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":1779272420}}}`), want: both(fail(400, "decoding the pod: json: cannot unmarshal number into Go struct field"))},
		"json: 9 000 levels of nesting in an unrelated field": {
			body: rawReview(nested(9000, "")), want: readable()},
		"json: 9 000 levels of nesting plus an escaped key (standard decoder)": {
			body: rawReview(nested(9000, `"st\u0061tus":{},`)), want: readable()},
		"json: 10 000 levels of nesting in an unrelated field": {
			body: rawReview(nested(10000, "")), want: both(bare(400, "exceeded max depth"))},
		"json: 1 000 000 levels of nesting": {
			body: rawReview(nested(1000000, "")), want: both(bare(400, "exceeded max depth"))},

		// --- activeDeadlineSeconds ---
		"activeDeadlineSeconds: float 20.0": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"}},"spec":{"activeDeadlineSeconds":20.0}}`),
			want: both(fail(400, "decoding the pod: json: cannot unmarshal number 20.0 into Go struct field"))},
		"activeDeadlineSeconds: exponent 1e3": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"}},"spec":{"activeDeadlineSeconds":1e3}}`),
			want: both(fail(400, "decoding the pod: json: cannot unmarshal number 1e3 into Go struct field"))},
		"activeDeadlineSeconds: string \"20\"": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"}},"spec":{"activeDeadlineSeconds":"20"}}`),
			want: both(fail(400, "decoding the pod: json: cannot unmarshal string into Go struct field"))},
		"activeDeadlineSeconds: negative -1": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"}},"spec":{"activeDeadlineSeconds":-1}}`),
			want: pair(patch(), allow())},
		"activeDeadlineSeconds: zero": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"}},"spec":{"activeDeadlineSeconds":0}}`),
			want: pair(patch(), allow())},
		"activeDeadlineSeconds: overflowing int64": {
			body: rawReview(`{"metadata":{"annotations":{"` + dk + `":"` + readableDeadline + `"}},"spec":{"activeDeadlineSeconds":99999999999999999999}}`),
			want: both(fail(400, "decoding the pod: json: cannot unmarshal number 99999999999999999999 into Go struct field"))},
	}
}

func TestBadInput(t *testing.T) {
	handlers := [2]http.Handler{
		NewMutatingWebhook(cfg, fixedClock),
		NewValidatingWebhook(cfg, fixedClock),
	}
	inputs := badInputs()
	require.GreaterOrEqual(t, len(inputs), 45)
	got := make(map[string][2]observed, len(inputs))
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			var obs [2]observed
			for i, h := range handlers {
				obs[i] = serveBadInput(t, h, in)
				want := in.want[i]
				o := obs[i]
				assert.Equal(t, want.HTTP, o.HTTP, "%s: HTTP status", webhookNames[i])
				assert.Equal(t, want.Allowed, o.Allowed, "%s: allowed", webhookNames[i])
				assert.Equal(t, want.Code, o.Code, "%s: result code", webhookNames[i])
				assert.Equal(t, want.Patched, o.Patched, "%s: patched", webhookNames[i])
				assert.Equal(t, want.Bare, o.Bare, "%s: answered before decoding", webhookNames[i])
				assert.Equal(t, want.Version, o.Version, "%s: answer apiVersion", webhookNames[i])
				assert.Contains(t, o.message, want.Msg, "%s: message", webhookNames[i])
				// Whatever the input: never a server error, and an answer
				// to a decoded review names its request.
				assert.Less(t, o.Code, int32(500), "%s: server error", webhookNames[i])
				if !o.Bare && o.Code != 400 {
					wantUID := reviewUID
					if in.noUID {
						wantUID = ""
					}
					assert.Equal(t, wantUID, o.uid, "%s: response uid", webhookNames[i])
				}
			}
			got[name] = obs
		})
	}
	if t.Failed() {
		return
	}
	table := badInputTable(inputs, got)
	doc, err := os.ReadFile(reliabilityDoc)
	require.NoError(t, err)
	begin, end := bytes.Index(doc, []byte(badInputBegin)), bytes.Index(doc, []byte(badInputEnd))
	require.True(t, begin >= 0 && end > begin, "%s has no %s ... %s section", reliabilityDoc, badInputBegin, badInputEnd)
	current := string(doc[begin+len(badInputBegin) : end])
	if *update {
		var out bytes.Buffer
		out.Write(doc[:begin+len(badInputBegin)])
		out.WriteString(table)
		out.Write(doc[end:])
		require.NoError(t, os.WriteFile(reliabilityDoc, out.Bytes(), 0o644))
		return
	}
	if current != table {
		abs, _ := filepath.Abs(reliabilityDoc)
		n := firstDiffLine(current, table)
		t.Fatalf("the bad-input table in %s is stale: it differs from what the webhooks answer now.\n"+
			"Check the change is intended, then rewrite it with\n\tgo test ./webhook/ -run TestBadInput -update\n"+
			"first difference at line %d of the file:\n\tdoc:  %s\n\ttest: %s",
			abs, bytes.Count(doc[:begin], []byte("\n"))+n, lineAt(current, n), lineAt(table, n))
	}
}

func serveBadInput(t testing.TB, h http.Handler, in badInput) observed {
	t.Helper()
	method := in.method
	if method == "" {
		method = http.MethodPost
	}
	req := httptest.NewRequest(method, "/", nil)
	// As net/http's server does: an empty body is http.NoBody.
	if body := in.body(t); body == http.NoBody {
		req.Body = http.NoBody
	} else {
		req.Body = io.NopCloser(body)
	}
	switch in.contentType {
	case "":
		req.Header.Set("Content-Type", "application/json")
	case omitHeader:
	default:
		req.Header.Set("Content-Type", in.contentType)
	}
	rec := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	h.ServeHTTP(rec, req)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	t.Logf("%s %s: %s, %.1f MiB allocated, response %d bytes", method, in.contentType, elapsed.Round(time.Microsecond),
		float64(after.TotalAlloc-before.TotalAlloc)/mib, rec.Body.Len())

	var envelope struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &envelope), "the answer is not JSON")
	var review admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &review), "the answer is not an AdmissionReview")
	require.NotNil(t, review.Response, "the answer has no response")
	resp := review.Response
	o := observed{respBytes: rec.Body.Len(), uid: string(resp.UID)}
	o.HTTP = rec.Code
	o.Allowed = resp.Allowed
	if resp.Result != nil {
		o.Code = resp.Result.Code
		o.message = resp.Result.Message
	}
	o.Patched = len(resp.Patch) > 0
	switch {
	case envelope.APIVersion == "":
		o.Bare = true
		assert.Empty(t, envelope.Kind)
		assert.Empty(t, resp.UID)
	case envelope.Kind != "AdmissionReview":
		o.Version = envelope.APIVersion + " " + envelope.Kind
	case envelope.APIVersion != v1Review:
		o.Version = envelope.APIVersion
	}
	return o
}

// --- the markdown table ---

const excerptRunes = 170

func badInputTable(inputs map[string]badInput, got map[string][2]observed) string {
	names := make([]string, 0, len(inputs))
	for name := range inputs {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(rowOrder(a), rowOrder(b)) })
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d inputs, generated by `TestBadInput` (webhook/badinput_test.go); regenerate with `go test ./webhook/ -run TestBadInput -update`.\n\n", len(inputs))
	b.WriteString("| input | webhook | answer | message excerpt |\n|---|---|---|---|\n")
	for _, name := range names {
		obs := got[name]
		m, v := describeAnswer(obs[0]), describeAnswer(obs[1])
		me, ve := excerpt(obs[0].message), excerpt(obs[1].message)
		label := cell(strings.TrimPrefix(name, "0 "))
		if m == v && me == ve {
			fmt.Fprintf(&b, "| %s | both | %s | %s |\n", label, m, me)
			continue
		}
		// One row per input: the two answers one above the other.
		fmt.Fprintf(&b, "| %s | mutate<br>validate | %s<br>%s | %s<br>%s |\n", label, m, v, dash(me), dash(ve))
	}
	return b.String()
}

// rowOrder groups the rows in the order a reader meets the layers: reference,
// annotation values, sizes, transport, the review, kinds and operations, JSON.
func rowOrder(name string) string {
	groups := []string{"0 reference", "deadline", "timeout", "whitespace", "both", "size", "transport", "review", "kind", "subresource", "operation", "json", "activeDeadlineSeconds"}
	for i, g := range groups {
		if strings.HasPrefix(name, g) {
			return fmt.Sprintf("%02d %s", i, name)
		}
	}
	return "99 " + name
}

func describeAnswer(o observed) string {
	var s string
	switch {
	case o.Allowed && o.Patched:
		s = fmt.Sprintf("HTTP %d, allowed, patched", o.HTTP)
	case o.Allowed:
		s = fmt.Sprintf("HTTP %d, allowed", o.HTTP)
	case o.Code == 403:
		s = fmt.Sprintf("HTTP %d, **denied 403**", o.HTTP)
	default:
		s = fmt.Sprintf("HTTP %d, **error %d**", o.HTTP, o.Code)
	}
	if o.Bare {
		s += " (framework, before decoding: no apiVersion, no uid)"
	}
	if o.Version != "" {
		s += ", answered as " + o.Version
	}
	if o.respBytes > 64<<10 {
		s += fmt.Sprintf(", response %.1f MiB", float64(o.respBytes)/mib)
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// excerpt is the start of a message, with the accepted forms every annotation
// error quotes shortened to "…".
func excerpt(msg string) string {
	if msg == "" {
		return ""
	}
	size := len(msg)
	msg = strings.NewReplacer("; accepted forms: "+deadline.DeadlineForms, "; accepted forms: …", "; accepted forms: "+deadline.TimeoutForms, "; accepted forms: …").Replace(msg)
	short := msg
	if utf8.RuneCountInString(msg) > excerptRunes {
		short = string([]rune(msg)[:excerptRunes]) + "…"
	}
	if size > 1<<10 {
		short += fmt.Sprintf(" (%d bytes)", size)
	}
	return "`" + strings.NewReplacer("|", `\|`, "`", "'", "\n", `\n`, "\r", `\r`).Replace(short) + "`"
}

func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func firstDiffLine(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		if i >= len(al) || i >= len(bl) || al[i] != bl[i] {
			return i + 1
		}
	}
	return 0
}

func lineAt(s string, n int) string {
	lines := strings.Split(s, "\n")
	if n < 1 || n > len(lines) {
		return "(none)"
	}
	return lines[n-1]
}
