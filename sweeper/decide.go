package sweeper

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// AlreadyCheckedLabel is the label KPO patches on pods it has given up on.
const AlreadyCheckedLabel = "already_checked"

// Config is what the sweeper's decisions depend on besides the pod and the clock.
type Config struct {
	Keys deadline.Keys
	// KubeletGrace is how long a started pod may outlive its deadline: the
	// kubelet enforces the lowered activeDeadlineSeconds, and only a pod it
	// failed to stop (node down, kubelet lagging) is deleted after this.
	KubeletGrace time.Duration
}

// Kind is what the sweeper does about a pod.
type Kind int

const (
	// None: nothing to do, now or later (no deadline, terminal, being deleted).
	None Kind = iota
	// Wait: nothing to do until At.
	Wait
	// Lower: lower activeDeadlineSeconds to ActiveDeadlineSeconds, then look
	// again at At.
	Lower
	// Delete: delete the pod now.
	Delete
	// Invalid: an annotation is malformed; the pod is not enforced.
	Invalid
)

func (k Kind) String() string {
	return [...]string{"None", "Wait", "Lower", "Delete", "Invalid"}[k]
}

// Why a pod is deleted, worded for the event message.
const (
	WhyNeverStarted   = "the pod never started"
	WhyStillRunning   = "the pod is still running"
	WhyAlreadyChecked = "KPO has given up on the pod (already_checked=True)"
)

// Action is the sweeper's decision for one pod at one instant.
type Action struct {
	Kind Kind
	// At is when the pod next needs a look (Wait, Lower).
	At time.Time
	// Deadline is the pod's execution deadline (all kinds but None, Invalid).
	Deadline time.Time
	// ActiveDeadlineSeconds is the value to lower to (Lower).
	ActiveDeadlineSeconds int64
	// AtDeadline marks the Lower made once the deadline has come, to have the
	// kubelet stop the pod now rather than at its next sync.
	AtDeadline bool
	// Due is when the deletion became due, for the lag metric (Delete).
	Due time.Time
	// Why says why the pod is deleted (Delete).
	Why string
	// Errors are the malformed annotations (Invalid).
	Errors []*deadline.AnnotationError
}

// Pod is the part of a pod that Decide reads. The informer keeps one for each
// tracked pod and the controller makes one of the pod it reads fresh before
// acting, both with PodOf, so a rule that needs another field has to add it
// here and cannot see it set on one path and zero on the other.
type Pod struct {
	// Deadline holds the raw deadline annotations.
	Deadline deadline.Values
	// Created is metadata.creationTimestamp, the anchor of a timeout-only pod.
	Created time.Time
	// Started is status.startTime; zero: not started.
	Started  time.Time
	Phase    corev1.PodPhase
	Deleting bool
	// ActiveDeadlineSeconds is spec.activeDeadlineSeconds.
	ActiveDeadlineSeconds *int64
	// GaveUp is KPO's already_checked=True label.
	GaveUp bool
	// TerminationGrace is spec.terminationGracePeriodSeconds (30s when unset,
	// as the API server defaults it).
	TerminationGrace time.Duration
}

// PodOf is what Decide reads of pod.
func PodOf(pod *corev1.Pod, keys deadline.Keys) Pod {
	p := Pod{
		Deadline:              keys.Values(pod.Annotations),
		Created:               pod.CreationTimestamp.Time,
		Phase:                 pod.Status.Phase,
		Deleting:              pod.DeletionTimestamp != nil,
		ActiveDeadlineSeconds: pod.Spec.ActiveDeadlineSeconds,
		GaveUp:                pod.Labels[AlreadyCheckedLabel] == "True",
		TerminationGrace:      corev1.DefaultTerminationGracePeriodSeconds * time.Second,
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		p.TerminationGrace = time.Duration(*g) * time.Second
	}
	if pod.Status.StartTime != nil {
		p.Started = pod.Status.StartTime.Time
	}
	return p
}

// terminal reports whether KPO's on_finish_action owns the pod.
func (p Pod) terminal() bool {
	return p.Phase == corev1.PodSucceeded || p.Phase == corev1.PodFailed
}

// Decide returns the next action for pod at now: the sweeper table of
// README.md ("What the sweeper does").
func Decide(pod Pod, now time.Time, cfg Config) Action {
	if pod.Deleting || pod.terminal() {
		return Action{Kind: None}
	}
	d, ok, errs := cfg.Keys.Resolve(pod.Deadline, deadline.CreationAnchor(pod.Created))
	if len(errs) > 0 {
		return Action{Kind: Invalid, Errors: errs}
	}
	if !ok {
		return Action{Kind: None}
	}
	at := d.At
	if pod.Started.IsZero() {
		// activeDeadlineSeconds counts from startTime, so it never fires here.
		if now.Before(at) {
			return Action{Kind: Wait, At: at, Deadline: at}
		}
		return Action{Kind: Delete, Deadline: at, Due: at, Why: WhyNeverStarted}
	}

	// The kubelet stops the pod at the deadline, gracefully: the pod is
	// terminal only once its containers have exited, which for a process
	// that ignores SIGTERM is its whole grace period later. Deleting it
	// meanwhile would take the kubelet's DeadlineExceeded from KPO (newer
	// providers count a pod that is gone as done).
	due, why := at.Add(pod.TerminationGrace+cfg.KubeletGrace), WhyStillRunning
	if pod.GaveUp {
		// Nobody in Airflow is watching this pod any more: no grace.
		due, why = at, WhyAlreadyChecked
	}
	if !now.Before(due) {
		return Action{Kind: Delete, Deadline: at, Due: due, Why: why}
	}
	// Counted from the actual start, this is the activeDeadlineSeconds that
	// ends the pod at its deadline. A pod that started after its deadline
	// gets the minimum, 1, and the kubelet stops it at once.
	fit := max(deadline.RemainingSeconds(at, pod.Started), 1)
	ads := pod.ActiveDeadlineSeconds
	if now.Before(at) {
		if ads == nil || *ads > fit {
			return Action{Kind: Lower, At: at, Deadline: at, ActiveDeadlineSeconds: fit}
		}
		return Action{Kind: Wait, At: at, Deadline: at}
	}
	// The deadline has come. Left alone, the kubelet notices it at the next
	// whole second after it (fit is rounded up) and at its next 1s sync
	// after that: up to 2s late. A spec update makes it sync the pod now,
	// and one second less is already past, so it stops the pod at once.
	if expired := max(fit-1, 1); ads == nil || *ads > expired {
		return Action{Kind: Lower, At: due, Deadline: at, ActiveDeadlineSeconds: expired, AtDeadline: true}
	}
	return Action{Kind: Wait, At: due, Deadline: at}
}
