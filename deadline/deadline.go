package deadline

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultPrefix is the annotation prefix unless --annotation-prefix says otherwise.
const DefaultPrefix = "airflow-pod-deadline.io"

// Annotation names under the prefix.
const (
	DeadlineName    = "execution-deadline"
	TimeoutName     = "execution-timeout"
	ClampedFromName = "clamped-from"
	AdmittedName    = "admitted-active-deadline-seconds"
)

// Names of the try-identity annotations under the prefix. The Airflow policy
// stamps them at CREATE with the exact strings of the try that made the pod
// (KPO's labels are sanitized and truncated, so they cannot look a try up);
// the sweeper's Airflow check asks Airflow about that try. Like the deadline
// they are the creator's: an UPDATE may not add, change or remove them.
const (
	InstanceName  = "airflow-instance"
	DagIDName     = "dag-id"
	RunIDName     = "run-id"
	TaskIDName    = "task-id"
	MapIndexName  = "map-index"
	TryNumberName = "try-number"
	// TryStartName is the try's start_date as Airflow recorded it (RFC 3339,
	// microseconds). Not part of the identity (a pod without it is still
	// checked): the check compares it with Airflow's answer to make sure
	// it asks the Airflow that made the pod (sweeper.Confirms).
	TryStartName = "try-start"
	// TryIDName is the task instance's id on Airflow 3 (a UUID, new for
	// every try), which its API returns as id: the exact confirmation
	// there, where the worker's start_date is some milliseconds after the
	// one Airflow stores (so try-start serves Airflow 2 only).
	TryIDName = "try-id"
)

// ClampedFromUnset is the clamped-from value for a pod that asked for no
// activeDeadlineSeconds at all.
const ClampedFromUnset = "unset"

// MaxBudget bounds every deadline and timeout. Nothing Airflow runs is meant to
// take a year; a value beyond it is a unit mistake (epoch milliseconds read as
// seconds, a timeout in ms) that would silently mean "no deadline".
const MaxBudget = 365 * 24 * time.Hour

// Accepted forms, quoted in every parse error so the user can fix the value
// without reading the docs.
const (
	DeadlineForms = "RFC 3339 with a UTC offset (2026-05-20T10:15:30Z, 2026-05-20T10:15:30.123456+00:00, 2026-05-20 10:15:30+00:00) or Unix epoch seconds (1779272130, 1779272130.5)"
	TimeoutForms  = "a positive Go duration (30s, 1h30m), seconds (30, 30.0), ISO 8601 duration (PT30S, P1DT2H) or Python timedelta (0:00:30, 1 day, 0:00:05)"
)

// Keys are the annotation keys for one prefix.
type Keys struct {
	Deadline    string
	Timeout     string
	ClampedFrom string
	// Admitted is the activeDeadlineSeconds the mutating webhook admitted.
	Admitted string
	// The try identity (see InstanceName).
	Instance, DagID, RunID, TaskID, MapIndex, TryNumber string
	// TryStart is the try's start (see TryStartName).
	TryStart string
	// TryID is the try's task instance id (see TryIDName).
	TryID string
}

// NewKeys returns the keys under prefix. The prefix must pass ValidatePrefix.
func NewKeys(prefix string) Keys {
	return Keys{
		Deadline:    prefix + "/" + DeadlineName,
		Timeout:     prefix + "/" + TimeoutName,
		ClampedFrom: prefix + "/" + ClampedFromName,
		Admitted:    prefix + "/" + AdmittedName,
		Instance:    prefix + "/" + InstanceName,
		DagID:       prefix + "/" + DagIDName,
		RunID:       prefix + "/" + RunIDName,
		TaskID:      prefix + "/" + TaskIDName,
		MapIndex:    prefix + "/" + MapIndexName,
		TryNumber:   prefix + "/" + TryNumberName,
		TryStart:    prefix + "/" + TryStartName,
		TryID:       prefix + "/" + TryIDName,
	}
}

// Protected are the keys only a pod's creator may set: every annotation the
// deadline, its bookkeeping and the try identity live in. They are written at
// CREATE (by the creator or our mutating webhook) and an UPDATE may not add,
// change or remove any of them: otherwise whoever may only update a pod could
// hand it a deadline and have the sweeper end it (a confused deputy), or take
// one away. The chart's validating webhook matchConditions list the same keys
// (apd.protectedKeys in _helpers.tpl); a test keeps the two in step.
func (k Keys) Protected() []string {
	return []string{
		k.Deadline, k.Timeout, k.ClampedFrom, k.Admitted,
		k.Instance, k.DagID, k.RunID, k.TaskID, k.MapIndex, k.TryNumber, k.TryStart, k.TryID,
	}
}

// InstancePattern is the rule for an Airflow instance name (the value of
// the airflow-instance annotation, --airflow-instance, instance= of
// --airflow-check): 1 to 63 letters, digits, "-", "_" or ".", starting and
// ending with a letter or digit. It fits a metric label, a directory name
// (the chart mounts each instance's Secret at .../airflow/<name>) and a
// --airflow-check value (no commas). The same string is in the chart's
// values.schema.json (airflowCheck.instances[].name) and in the policy
// (integrations/airflow/src/airflow_pod_deadline/policy.py,
// INSTANCE_PATTERN); test/static/instance_pattern_test.go keeps the three
// equal.
const InstancePattern = `^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`

var instanceRE = regexp.MustCompile(InstancePattern)

// ValidateInstance reports why name cannot be an Airflow instance name.
func ValidateInstance(name string) error {
	if !instanceRE.MatchString(name) {
		return fmt.Errorf("%s is not 1 to 63 letters, digits, \"-\", \"_\" or \".\" starting and ending with a letter or digit (%s)", (&AnnotationError{Value: name}).Quoted(), InstancePattern)
	}
	return nil
}

// ValidatePrefix reports why prefix cannot be an annotation prefix: it must be a
// DNS subdomain, as Kubernetes requires of the part of a key before the slash.
func ValidatePrefix(prefix string) error {
	if errs := validation.IsDNS1123Subdomain(prefix); len(errs) > 0 {
		return fmt.Errorf("%q is not a DNS subdomain: %s", prefix, strings.Join(errs, "; "))
	}
	return nil
}

// AnnotationError says why one annotation value is not acceptable. Its message
// is what a user reads in a denial, so it quotes the key, the value and the
// accepted forms.
type AnnotationError struct {
	Key    string
	Value  string
	Reason string
	Forms  string
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("annotation %s: value %s %s; accepted forms: %s", e.Key, e.Quoted(), e.Reason, e.Forms)
}

// MaxQuoted bounds how much of a bad value a message repeats. Annotations may
// hold up to 256 KiB, and quoting escapes a control byte into six: echoing a
// hostile value in full would multiply it in every denial and log line.
const MaxQuoted = 64

// Quoted is the value as messages show it: quoted, cut after MaxQuoted bytes
// with its full length noted.
func (e *AnnotationError) Quoted() string {
	if len(e.Value) <= MaxQuoted {
		return strconv.Quote(e.Value)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(e.Value[:MaxQuoted]), len(e.Value))
}

// maxValue is longer than any accepted form; a longer value is refused before
// it is parsed.
const maxValue = 64

// Values are a pod's two deadline annotations as written; "" when absent or
// empty, which the contract treats alike ("no deadline").
type Values struct {
	Deadline, Timeout string
}

// Values picks the deadline annotations out of a pod's annotations.
func (k Keys) Values(annotations map[string]string) Values {
	return Values{Deadline: annotations[k.Deadline], Timeout: annotations[k.Timeout]}
}

// Carries reports whether a pod with these annotations carries a deadline:
// either deadline annotation has a value (an empty one is no deadline). It is
// the one definition: the sweeper watches such pods, the webhooks judge them,
// and the chart's CEL matchCondition (apd.carriesDeadline) sends exactly
// these to the webhooks (test/static/chart_cel_test.go holds the two equal).
func (k Keys) Carries(annotations map[string]string) bool {
	return annotations[k.Deadline] != "" || annotations[k.Timeout] != ""
}

// Resolved is the execution deadline a pod carries, resolved from its
// annotations.
type Resolved struct {
	// At is the effective instant: the earlier of the two annotations.
	At time.Time
	// FromTimeout is true when execution-timeout was present, so the contract
	// wants At stamped into execution-deadline.
	FromTimeout bool
}

// Resolve reads the deadline annotations. anchor is the instant a timeout counts
// from: now at admission, CreationAnchor for a pod that never met the webhook.
// ok is false when the pod asks for no deadline (no annotation, or only empty
// values). Every malformed value is reported, not just the first.
func (k Keys) Resolve(v Values, anchor time.Time) (d Resolved, ok bool, errs []*AnnotationError) {
	deadline, hasDeadline, err := k.ParseDeadlineAnnotation(v.Deadline, anchor)
	if err != nil {
		errs = append(errs, err)
	}
	timeout, hasTimeout, err := k.ParseTimeoutAnnotation(v.Timeout)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Resolved{}, false, errs
	}
	switch {
	case hasDeadline && hasTimeout:
		d = Resolved{At: deadline, FromTimeout: true}
		if byTimeout := anchor.Add(timeout); byTimeout.Before(deadline) {
			d.At = byTimeout
		}
	case hasDeadline:
		d = Resolved{At: deadline}
	case hasTimeout:
		d = Resolved{At: anchor.Add(timeout), FromTimeout: true}
	default:
		return Resolved{}, false, nil
	}
	return d, true, nil
}

// CreationAnchor is the instant a timeout-only pod that never met the webhook
// counts its budget from: its creation. creationTimestamp is recorded in whole
// seconds while the webhook stamps the instant it admitted the pod, a few
// milliseconds before; taking the end of the creation second keeps the
// sweeper from ever enforcing earlier than the stamped deadline of a pod that
// met the webhook.
func CreationAnchor(created time.Time) time.Time {
	return created.Add(time.Second - time.Nanosecond)
}

// ParseDeadlineAnnotation parses an execution-deadline annotation value.
// present is false when it is empty. A deadline more than MaxBudget away from
// anchor, either way, is refused as a unit mistake.
func (k Keys) ParseDeadlineAnnotation(v string, anchor time.Time) (t time.Time, present bool, err *AnnotationError) {
	if v == "" {
		return time.Time{}, false, nil
	}
	t, reason := parseDeadline(v)
	switch {
	case reason != "":
	case t.Sub(anchor) > MaxBudget:
		reason = "is more than a year away (epoch milliseconds instead of seconds?)"
	case anchor.Sub(t) > MaxBudget:
		// Not merely late: no task ran that long, so the value was meant as
		// something else (a compact date such as 20260520, a bad template).
		reason = "is more than a year in the past"
	}
	if reason != "" {
		return time.Time{}, false, &AnnotationError{Key: k.Deadline, Value: v, Reason: reason, Forms: DeadlineForms}
	}
	return t, true, nil
}

// ParseTimeoutAnnotation parses an execution-timeout annotation value.
// present is false when it is empty.
func (k Keys) ParseTimeoutAnnotation(v string) (d time.Duration, present bool, err *AnnotationError) {
	if v == "" {
		return 0, false, nil
	}
	d, reason := parseTimeout(v)
	if reason != "" {
		return 0, false, &AnnotationError{Key: k.Timeout, Value: v, Reason: reason, Forms: TimeoutForms}
	}
	return d, true, nil
}

// Format is the stamped form of a deadline: RFC 3339 in UTC, with a fraction
// only when the instant has one.
func Format(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// RemainingSeconds is r = ceil(deadline − now) in whole seconds, the largest
// activeDeadlineSeconds that cannot outlive the deadline when counted from now.
func RemainingSeconds(deadline, now time.Time) int64 {
	d := deadline.Sub(now)
	if d <= 0 {
		return int64(math.Floor(d.Seconds()))
	}
	return int64((d + time.Second - 1) / time.Second)
}

// FormatLateness renders how long ago a deadline passed for messages: a tenth
// of a second below ten seconds ("1.2s"), whole seconds above ("12s").
func FormatLateness(d time.Duration) string {
	if d < 10*time.Second {
		return strconv.FormatFloat(math.Round(d.Seconds()*10)/10, 'f', 1, 64) + "s"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// --- value grammars ---

var (
	epochRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	// Python's str(timedelta): "H:MM:SS[.ffffff]" with an optional "D day[s], " before it.
	timedeltaRe = regexp.MustCompile(`^(?:([0-9]+) days?, )?([0-9]+):([0-5][0-9]):([0-5][0-9](?:\.[0-9]{1,9})?)$`)
	// ISO 8601 durations without years and months, which have no fixed length.
	isoRe = regexp.MustCompile(`^P(?:([0-9]+(?:[.,][0-9]+)?)W)?(?:([0-9]+(?:[.,][0-9]+)?)D)?(?:T(?:([0-9]+(?:[.,][0-9]+)?)H)?(?:([0-9]+(?:[.,][0-9]+)?)M)?(?:([0-9]+(?:[.,][0-9]+)?)S)?)?$`)
)

func checkSpaces(v string) string {
	if strings.TrimSpace(v) != v {
		return "has leading or trailing whitespace"
	}
	for _, r := range v {
		if r > unicode.MaxASCII || (unicode.IsSpace(r) && r != ' ') || unicode.IsControl(r) {
			return "contains a non-ASCII, control or non-space whitespace character"
		}
	}
	return ""
}

func parseDeadline(v string) (time.Time, string) {
	if len(v) > maxValue {
		return time.Time{}, "is too long"
	}
	if reason := checkSpaces(v); reason != "" {
		return time.Time{}, reason
	}
	if epochRe.MatchString(v) {
		if whole, _, _ := strings.Cut(v, "."); len(strings.TrimLeft(whole, "0")) >= 12 {
			// Seconds since 1970 have 10 digits until 2286.
			return time.Time{}, "has too many digits for epoch seconds (epoch milliseconds or microseconds?)"
		}
		secs, reason := parseSeconds(v)
		if reason != "" {
			return time.Time{}, reason
		}
		return time.Unix(0, 0).Add(secs).UTC(), ""
	}
	if len(v) > 10 && (v[10] == 'T' || v[10] == ' ') {
		// RFC 3339 (section 5.6) lets applications use a space instead of
		// the T; that is what Python's str(datetime) and a Jinja template
		// without .isoformat() print.
		t, err := time.Parse(time.RFC3339Nano, v[:10]+"T"+v[11:])
		if err != nil {
			if _, naive := time.Parse("2006-01-02T15:04:05.999999999", v[:10]+"T"+v[11:]); naive == nil {
				return time.Time{}, "has no UTC offset (Python: use an aware datetime, e.g. pendulum or datetime.now(timezone.utc))"
			}
			return time.Time{}, "is not an RFC 3339 timestamp"
		}
		return t, ""
	}
	return time.Time{}, "is neither an RFC 3339 timestamp nor Unix epoch seconds"
}

func parseTimeout(v string) (time.Duration, string) {
	if len(v) > maxValue {
		return 0, "is too long"
	}
	if reason := checkSpaces(v); reason != "" {
		return 0, reason
	}
	var d time.Duration
	var reason string
	switch {
	case strings.HasPrefix(v, "-"):
		return 0, "is negative"
	case epochRe.MatchString(v):
		d, reason = parseSeconds(v)
	case strings.HasPrefix(v, "P"):
		d, reason = parseISO(v)
	case strings.Contains(v, ":"):
		d, reason = parseTimedelta(v)
	default:
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			if strings.Contains(err.Error(), "invalid duration") && looksHuge(v) {
				return 0, "is out of range"
			}
			return 0, "is not a duration"
		}
	}
	switch {
	case reason != "":
		return 0, reason
	case d <= 0:
		return 0, "is not positive"
	case d > MaxBudget:
		return 0, "is more than a year (milliseconds instead of seconds?)"
	}
	return d, ""
}

// looksHuge tells an overflowing Go duration ("9999999999999h") from a typo.
func looksHuge(v string) bool {
	digits := 0
	for _, r := range v {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	return digits >= 10
}

// parseSeconds parses "123" or "123.456" exactly (no float rounding).
func parseSeconds(v string) (time.Duration, string) {
	whole, frac, _ := strings.Cut(v, ".")
	// A year is under 2^25 seconds; anything with more digits is absurd long
	// before it could overflow an int64 of nanoseconds.
	if len(strings.TrimLeft(whole, "0")) > 11 {
		return 0, "is out of range"
	}
	secs, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || secs > math.MaxInt64/int64(time.Second) {
		return 0, "is out of range"
	}
	d := time.Duration(secs) * time.Second
	if frac != "" {
		frac = (frac + "000000000")[:9] // nanoseconds; finer digits are dropped
		ns, _ := strconv.ParseInt(frac, 10, 64)
		d += time.Duration(ns)
	}
	return d, ""
}

func parseTimedelta(v string) (time.Duration, string) {
	m := timedeltaRe.FindStringSubmatch(v)
	if m == nil {
		return 0, "is not a Python timedelta"
	}
	var total time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || n > int64(MaxBudget/unit)+1 {
			return 0, "is out of range"
		}
		total += time.Duration(n) * unit
	}
	secs, reason := parseSeconds(m[4])
	if reason != "" {
		return 0, reason
	}
	return total + secs, ""
}

func parseISO(v string) (time.Duration, string) {
	m := isoRe.FindStringSubmatch(v)
	if m == nil || v == "P" || strings.HasSuffix(v, "T") {
		return 0, "is not an ISO 8601 duration (years and months are not accepted)"
	}
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	last := 0
	for i := range units {
		if m[i+1] != "" {
			last = i
		}
	}
	var total float64
	for i, unit := range units {
		s := m[i+1]
		if s == "" {
			continue
		}
		if strings.ContainsAny(s, ".,") && i != last {
			return 0, "has a fraction on a component other than the last"
		}
		f, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
		if err != nil {
			return 0, "is out of range"
		}
		total += f * float64(unit)
	}
	if total > float64(MaxBudget)*2 {
		return 0, "is more than a year (milliseconds instead of seconds?)"
	}
	return time.Duration(math.Round(total)), ""
}
