package webhook

import (
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// DefaultTolerance is how far above the remaining budget the validating webhook
// lets activeDeadlineSeconds be. The mutating call clamps to ceil(deadline −
// now) and the validating call recomputes it a few milliseconds later, possibly
// on another replica whose clock is slightly off; without slack a pod admitted
// just before a second boundary would be refused by our own second opinion.
const DefaultTolerance = 2 * time.Second

// reinvocationSlack absorbs the one-second step of ceil() between a mutation
// and its reinvocation (reinvocationPolicy: IfNeeded) milliseconds later, so a
// second pass over a pod we clamped yields no second patch.
const reinvocationSlack = 1

// Config is what the admission decisions depend on besides the pod and the clock.
type Config struct {
	Keys deadline.Keys
	// Tolerance, see DefaultTolerance.
	Tolerance time.Duration
}

// NewConfig returns the configuration for an annotation prefix with default tolerance.
func NewConfig(prefix string) Config {
	return Config{Keys: deadline.NewKeys(prefix), Tolerance: DefaultTolerance}
}

// Result classifies an admission for metrics and logs.
type Result string

// Admission results, the values of the metric label "result".
const (
	// ResultClamped: activeDeadlineSeconds was lowered or set.
	ResultClamped Result = "clamped"
	// ResultStamped: only annotations were written (the absolute deadline, the
	// admitted activeDeadlineSeconds); activeDeadlineSeconds already fit.
	ResultStamped Result = "stamped"
	// ResultUnchanged: allowed as is.
	ResultUnchanged Result = "unchanged"
	// ResultDenied: refused, the deadline has passed or the pod would outlive it.
	ResultDenied Result = "denied"
	// ResultInvalid: refused, an annotation is malformed or an update tampers with it.
	ResultInvalid Result = "invalid"
	// ResultError: the request itself was unusable (wrong kind, undecodable).
	ResultError Result = "error"
)

// Mutation is the mutating webhook's answer for one pod.
type Mutation struct {
	Result Result
	// Denial is the message of a refusal (ResultDenied, ResultInvalid).
	Denial string
	// Annotations are set on the pod (nil: none).
	Annotations map[string]string
	// ActiveDeadlineSeconds is the new value, nil when it stays as it is.
	ActiveDeadlineSeconds *int64
	// Warning is returned to the client as an admission warning.
	Warning string
	// Deadline is the pod's effective deadline when it has one.
	Deadline time.Time
}

// DecideMutation is the mutating webhook for a Pod CREATE: clamp
// activeDeadlineSeconds to the remaining budget, stamp the absolute deadline
// when a timeout was given, refuse a pod whose deadline has passed.
func DecideMutation(pod Pod, now time.Time, cfg Config) Mutation {
	a := admitCreate(pod, now, cfg)
	d, r := a.deadline, a.seconds
	if a.done != nil {
		return Mutation{Result: a.done.Result, Denial: a.done.Denial, Deadline: d.At}
	}

	m := Mutation{Result: ResultUnchanged, Deadline: d.At}
	if d.FromTimeout {
		// The contract stamps the instant so everything after admission reads
		// one absolute value. Millisecond precision keeps it readable; the
		// truncation only ever makes the deadline earlier.
		at := d.At.Truncate(time.Millisecond)
		m.Deadline = at
		if stamped := deadline.Format(at); pod.Annotations[cfg.Keys.Deadline] != stamped {
			m.Annotations = map[string]string{cfg.Keys.Deadline: stamped}
			m.Result = ResultStamped
		}
	}

	ads := pod.ActiveDeadlineSeconds
	_, clampedBefore := pod.Annotations[cfg.Keys.ClampedFrom]
	limit := r
	if clampedBefore {
		limit += reinvocationSlack
	}
	if ads == nil || *ads > limit {
		from := deadline.ClampedFromUnset
		if ads != nil {
			from = strconv.FormatInt(*ads, 10)
		}
		m.set(cfg.Keys.ClampedFrom, from, !clampedBefore) // a reinvocation keeps the first value
		m.ActiveDeadlineSeconds, ads = &r, &r
		m.Result = ResultClamped
		m.Warning = fmt.Sprintf("airflow-pod-deadline: activeDeadlineSeconds %s -> %d to fit execution deadline %s", from, r, deadline.Format(m.Deadline))
	}
	// What we admitted: the validating webhook's matchConditions skip a
	// CREATE whose activeDeadlineSeconds nothing raised after us.
	if admitted := strconv.FormatInt(*ads, 10); pod.Annotations[cfg.Keys.Admitted] != admitted {
		m.set(cfg.Keys.Admitted, admitted, true)
		if m.Result == ResultUnchanged {
			m.Result = ResultStamped
		}
	}
	return m
}

// set records an annotation to write when cond holds.
func (m *Mutation) set(key, value string, cond bool) {
	if !cond {
		return
	}
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[key] = value
}

// created is what both webhooks decide first about a created pod.
type created struct {
	// done is the verdict when the webhooks are done with the pod: it
	// carries no deadline, has a malformed annotation or is already late.
	// Nil: go on with deadline and seconds.
	done *Validation
	// deadline is the pod's deadline (zero when it has none or an annotation
	// is malformed).
	deadline deadline.Resolved
	// seconds is the activeDeadlineSeconds the pod is admitted with
	// (AdmissionSeconds).
	seconds int64
}

// admitCreate decides what both webhooks decide first about a created pod.
func admitCreate(pod Pod, now time.Time, cfg Config) created {
	if !cfg.Keys.Carries(pod.Annotations) {
		return created{done: &Validation{Result: ResultUnchanged}}
	}
	d, _, errs := cfg.Keys.Resolve(cfg.Keys.Values(pod.Annotations), now)
	if len(errs) > 0 {
		return created{done: &Validation{Result: ResultInvalid, Denial: annotationErrors(errs).ToAggregate().Error()}}
	}
	if deadline.RemainingSeconds(d.At, now) <= 0 {
		return created{done: &Validation{Result: ResultDenied, Denial: LateMessage(d.At, now)}, deadline: d}
	}
	return created{deadline: d, seconds: AdmissionSeconds(d.At, now)}
}

// LateMessage is the denial for a pod created after its deadline. KPO does not
// retry a 403: the task fails at once, and its log shows this message inside
// the API server's answer to the create. The policy stamps the earlier of the
// try's execution_timeout and its DAG run's dagrun_timeout, and the pod does
// not say which one it was: the message names both.
func LateMessage(at, now time.Time) string {
	return fmt.Sprintf("execution deadline %s passed %s ago; the task has exceeded its execution_timeout or its DAG run's dagrun_timeout",
		deadline.Format(at), deadline.FormatLateness(now.Sub(at)))
}

// Validation is the validating webhook's answer for one pod.
type Validation struct {
	Result Result
	// Denial is the message of a refusal; empty when allowed.
	Denial string
}

// ValidateCreate is the validating webhook for a Pod CREATE: the annotations
// parse and activeDeadlineSeconds fits the remaining budget (within
// cfg.Tolerance), whatever other mutating webhooks did after ours.
func ValidateCreate(pod Pod, now time.Time, cfg Config) Validation {
	a := admitCreate(pod, now, cfg)
	if a.done != nil {
		return *a.done
	}
	d, r := a.deadline, a.seconds
	limit := AdmissionSeconds(d.At.Add(cfg.Tolerance), now)
	path := field.NewPath("spec", "activeDeadlineSeconds")
	switch ads := pod.ActiveDeadlineSeconds; {
	case ads == nil:
		return Validation{Result: ResultDenied, Denial: field.ErrorList{field.Required(path, fmt.Sprintf(
			"must be set to at most %d, the seconds left until execution deadline %s (was the airflow-pod-deadline mutating webhook bypassed?)",
			r, deadline.Format(d.At)))}.ToAggregate().Error()}
	case *ads > limit:
		return Validation{Result: ResultDenied, Denial: field.ErrorList{field.Invalid(path, *ads, fmt.Sprintf(
			"exceeds the %d seconds left until execution deadline %s (another mutating webhook raised it after airflow-pod-deadline?)",
			r, deadline.Format(d.At)))}.ToAggregate().Error()}
	}
	return Validation{Result: ResultUnchanged}
}

// ValidateUpdate is the validating webhook for a Pod UPDATE: the
// annotations we read and stamp (deadline.Keys.Protected) are the creator's,
// set at CREATE only. An update that adds, changes or removes any of them is
// refused, whatever the new value says: otherwise anyone allowed to update a
// pod could hand it a deadline (even one a second away) and have our sweeper
// end a pod its owner never asked us to touch. Updates that leave them alone
// (labels, other annotations, KPO's already_checked label, the sweeper
// lowering activeDeadlineSeconds) pass. The clock plays no part.
func ValidateUpdate(oldPod, newPod Pod, _ time.Time, cfg Config) Validation {
	var errs field.ErrorList
	for _, key := range cfg.Keys.Protected() {
		oldValue, had := oldPod.Annotations[key]
		newValue, has := newPod.Annotations[key]
		path := annotationPath(key)
		switch {
		case !had && has:
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("cannot be added by an update (new value %s); %s", quoteBounded(newValue), createOnly)))
		case had && !has:
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("cannot be removed (value %s); %s", quoteBounded(oldValue), createOnly)))
		case had && oldValue != newValue:
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("cannot be changed from %s to %s; %s", quoteBounded(oldValue), quoteBounded(newValue), createOnly)))
		}
	}
	if len(errs) > 0 {
		return Validation{Result: ResultInvalid, Denial: errs.ToAggregate().Error()}
	}
	return Validation{Result: ResultUnchanged}
}

// ValidateBinding is the validating webhook for a pods/binding CREATE. The
// API server copies the Binding's annotations onto the pod it binds, so a
// Binding that carries one of ours would set it after the pod was created
// (the scheduler's carry none).
func ValidateBinding(annotations map[string]string, cfg Config) Validation {
	var errs field.ErrorList
	for _, key := range cfg.Keys.Protected() {
		if value, ok := annotations[key]; ok {
			errs = append(errs, field.Forbidden(annotationPath(key), fmt.Sprintf("cannot be set through a binding (value %s); %s", quoteBounded(value), createOnly)))
		}
	}
	if len(errs) > 0 {
		return Validation{Result: ResultInvalid, Denial: errs.ToAggregate().Error()}
	}
	return Validation{Result: ResultUnchanged}
}

// createOnly ends every refusal of an update to a protected annotation.
const createOnly = "airflow-pod-deadline annotations are set only when the pod is created, by its creator (SECURITY.md)"

// quoteBounded quotes an annotation value for a message, cut after
// deadline.MaxQuoted bytes as in deadline.AnnotationError.Quoted: a denial
// must not repeat a hostile 256 KiB value.
func quoteBounded(v string) string {
	e := deadline.AnnotationError{Value: v}
	return e.Quoted()
}

func annotationPath(key string) *field.Path {
	return field.NewPath("metadata", "annotations").Key(key)
}

func annotationErrors(errs []*deadline.AnnotationError) field.ErrorList {
	list := make(field.ErrorList, 0, len(errs))
	for _, e := range errs {
		value, detail := e.Value, e.Reason
		if len(value) > deadline.MaxQuoted {
			// Bounded, as in AnnotationError.Quoted.
			value, detail = value[:deadline.MaxQuoted], fmt.Sprintf("%s (shown cut at %d of its %d bytes)", detail, deadline.MaxQuoted, len(e.Value))
		}
		list = append(list, field.Invalid(annotationPath(e.Key), value, detail+"; accepted forms: "+e.Forms))
	}
	return list
}
