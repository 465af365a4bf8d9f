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
	// Due is when the deletion became due, for the lag metric (Delete).
	Due time.Time
	// Why says why the pod is deleted (Delete).
	Why string
	// Errors are the malformed annotations (Invalid).
	Errors []*deadline.AnnotationError
}

// Decide returns the next action for pod at now (the DESIGN sweeper table).
func Decide(pod *corev1.Pod, now time.Time, cfg Config) Action {
	if pod.DeletionTimestamp != nil {
		return Action{Kind: None}
	}
	if phase := pod.Status.Phase; phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		// KPO's on_finish_action owns finished pods.
		return Action{Kind: None}
	}
	d, ok, errs := cfg.Keys.Resolve(cfg.Keys.Values(pod.Annotations), deadline.CreationAnchor(pod.CreationTimestamp.Time))
	if len(errs) > 0 {
		return Action{Kind: Invalid, Errors: errs}
	}
	if !ok {
		return Action{Kind: None}
	}
	at := d.At
	if pod.Status.StartTime == nil {
		// activeDeadlineSeconds counts from startTime, so it never fires here.
		if now.Before(at) {
			return Action{Kind: Wait, At: at, Deadline: at}
		}
		return Action{Kind: Delete, Deadline: at, Due: at, Why: WhyNeverStarted}
	}

	gaveUp := pod.Labels[AlreadyCheckedLabel] == "True"
	due, why := at.Add(cfg.KubeletGrace), WhyStillRunning
	if gaveUp {
		// Nobody in Airflow is watching this pod any more: no grace.
		due, why = at, WhyAlreadyChecked
	}
	if !now.Before(due) {
		return Action{Kind: Delete, Deadline: at, Due: due, Why: why}
	}
	// Counted from the actual start, this is the activeDeadlineSeconds that
	// ends the pod at its deadline. A pod that started after its deadline
	// gets the minimum, 1, and the kubelet stops it at once.
	fit := max(deadline.RemainingSeconds(at, pod.Status.StartTime.Time), 1)
	if ads := pod.Spec.ActiveDeadlineSeconds; ads == nil || *ads > fit {
		return Action{Kind: Lower, At: due, Deadline: at, ActiveDeadlineSeconds: fit}
	}
	return Action{Kind: Wait, At: due, Deadline: at}
}
