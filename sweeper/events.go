package sweeper

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// Event reasons, the audit trail: kubectl get events -A --field-selector reason=...
const (
	ReasonClamped  = "ActiveDeadlineClamped"
	ReasonExceeded = "ExecutionDeadlineExceeded"
	ReasonInvalid  = "ExecutionDeadlineInvalid"
)

// Event actions (events.k8s.io/v1 "action").
const (
	eventActionDelete = "Delete"
	eventActionLower  = "Lower"
	eventActionIgnore = "Ignore"
)

// maxNote is the events.k8s.io/v1 limit on an event's note.
const maxNote = 1024

// identityLabels are the KPO labels event messages name the task by, in the
// order they are printed.
var identityLabels = []string{"dag_id", "task_id", "run_id", "try_number", "map_index"}

// identity names the Airflow task from KPO's labels: "(dag_id=etl task_id=load
// run_id=... try_number=2)", or "" for a pod without them.
func identity(pod *corev1.Pod) string {
	var parts []string
	for _, k := range identityLabels {
		if v, ok := pod.Labels[k]; ok && v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, " ") + ")"
}

func deleteNote(who string, a Action, now time.Time, dryRun bool) string {
	verb := "Deleted"
	if dryRun {
		verb = "Would delete"
	}
	return note(fmt.Sprintf("%s: execution deadline %s passed %s ago and %s%s",
		verb, deadline.Format(a.Deadline), deadline.FormatLateness(now.Sub(a.Deadline)), a.Why, who))
}

func lowerNote(pod *corev1.Pod, a Action, dryRun bool) string {
	if a.AtDeadline {
		return note(fmt.Sprintf("%s so the kubelet stops the pod now: its execution deadline %s has come%s",
			lowered(pod, a, dryRun), deadline.Format(a.Deadline), identity(pod)))
	}
	return note(fmt.Sprintf("%s so the kubelet stops the pod at its execution deadline %s%s",
		lowered(pod, a, dryRun), deadline.Format(a.Deadline), identity(pod)))
}

// lowered is the start of every note of a lowering: "Lowered
// activeDeadlineSeconds 3600 -> 30" (or "Would lower" in dry-run mode).
func lowered(pod *corev1.Pod, a Action, dryRun bool) string {
	verb := "Lowered"
	if dryRun {
		verb = "Would lower"
	}
	from := "unset"
	if ads := pod.Spec.ActiveDeadlineSeconds; ads != nil {
		from = fmt.Sprint(*ads)
	}
	return fmt.Sprintf("%s activeDeadlineSeconds %s -> %d", verb, from, a.ActiveDeadlineSeconds)
}

func invalidNote(who string, a Action) string {
	msgs := make([]string, 0, len(a.Errors))
	for _, e := range a.Errors {
		msgs = append(msgs, e.Error())
	}
	return note(fmt.Sprintf("Not enforced (the pod did not pass the admission webhook?): %s%s", strings.Join(msgs, "; "), who))
}

func note(s string) string {
	if len(s) <= maxNote {
		return s
	}
	return s[:maxNote-3] + "..."
}

// ReasonTryEnded is the event of a pod ended because Airflow reports its try
// over (the try check).
const ReasonTryEnded = "AirflowTryEnded"

func tryEventAction(a Action) string {
	if a.Kind == Lower {
		return eventActionLower
	}
	return eventActionDelete
}

// tryNote says what the check did and why: the try, as the policy stamped
// it, and the state Airflow reported.
func tryNote(pod *corev1.Pod, a Action, t Try, v TryVerdict, dryRun bool) string {
	why := fmt.Sprintf("Airflow reports the try over (%s; state %s: %s)", t, stateName(v.State), v.Why)
	switch {
	case a.Kind == Lower:
		return note(fmt.Sprintf("%s so the kubelet stops the pod now: %s", lowered(pod, a, dryRun), why))
	default:
		verb := "Deleted"
		if dryRun {
			verb = "Would delete"
		}
		return note(fmt.Sprintf("%s: %s and %s", verb, a.Why, why))
	}
}
