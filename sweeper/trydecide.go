package sweeper

import (
	"fmt"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// finishedStates are the task instance states in which the try recorded in
// try_number is over: nothing of it will run again. up_for_retry is one: the
// next try gets a new try_number (and may adopt the pod only while it still
// runs, see DecideTry).
var finishedStates = map[string]bool{
	"success": true, "failed": true, "skipped": true,
	"upstream_failed": true, "removed": true, "up_for_retry": true,
}

// StateMissing is the state reported for a try whose task instance or DAG run
// does not exist any more.
const StateMissing = "missing"

// TryConfig is what the try decision depends on besides its input.
type TryConfig struct {
	// Instance is the Airflow instance the check serves.
	Instance string
	// Grace: a pod younger than this is never ended by the check.
	Grace time.Duration
	// Handoff: the check ends the pod of a try that is over only this long
	// after the end Airflow recorded (HandoffDue), so that Airflow's own
	// cleanup, where its components are alive, goes first. At most the poll
	// interval (the flag refuses more), which keeps the pod's stop within a
	// poll interval of the try's end.
	Handoff time.Duration
}

// TryInput is one pod's try and what Airflow answered about it.
type TryInput struct {
	Try Try
	// Created is the pod's creationTimestamp.
	Created time.Time
	// Failed says the API call failed: nothing is known.
	Failed bool
	// Answer is the task instance, nil when absent from the answer.
	Answer *airflowapi.TaskInstance
	// Complete says the answer was read in full (see airflowapi.Batch).
	Complete bool
	// DAGKnown says Airflow answered that the DAG exists.
	DAGKnown bool
	// Confirmed says this Airflow has shown that it is the one that made
	// the instance's pods: some answer of it confirmed a tracked pod's own
	// try (Confirms). Until then its answers prove nothing.
	Confirmed bool
	// Superseded says KPO will not adopt this pod for a later try: a live
	// pod of the same task instance with a higher try_number exists, or KPO
	// labelled this one already_checked=True.
	Superseded bool
}

// TryVerdict says whether a pod's try is over.
type TryVerdict struct {
	Over bool
	// State is the state Airflow reported (StateMissing, "" for null).
	State string
	// Why explains the verdict, for events and logs.
	Why string
	// End is when Airflow recorded the end of the try that ended the pod's
	// (its end_date); zero when not known.
	End time.Time
}

// DecideTry decides whether the pod's try is over. Only positive evidence
// ends a pod: a failed call, a partial answer, another instance's pod, a
// young pod or an unknown DAG all keep it.
//
// KPO with reattach_on_restart (its default) finds a still-running pod of
// the same dag_id, task_id, run_id and map_index (try_number is not in its
// label selector, already_checked!=True is) and reuses it for a later try
// without relabelling it. So a pod whose try_number is below the task
// instance's may be the current try's pod: it is judged by the current
// try's state unless it is Superseded.
func DecideTry(in TryInput, now time.Time, cfg TryConfig) TryVerdict {
	switch {
	case in.Try.Instance != cfg.Instance:
		return TryVerdict{Why: "another Airflow instance's pod"}
	case in.Failed:
		return TryVerdict{Why: "the Airflow API call failed"}
	case now.Sub(in.Created) < cfg.Grace:
		return TryVerdict{Why: "younger than the grace"}
	case !in.Confirmed:
		return TryVerdict{Why: "this Airflow has not shown any tracked pod's own try yet (a URL of another Airflow?)"}
	}
	ti := in.Answer
	if ti == nil {
		if in.Complete && in.DAGKnown {
			return TryVerdict{Over: true, State: StateMissing, Why: "its task instance or DAG run no longer exists"}
		}
		return TryVerdict{State: StateMissing, Why: "absent from a partial answer, or its DAG is unknown"}
	}
	switch {
	case contradicts(in.Try, *ti):
		// Another Airflow's task instance with the same ids (DAGs deployed
		// to prod and staging share ids, and scheduled runs their run ids).
		return TryVerdict{State: ti.State, Why: "Airflow's try at the pod's try_number is not the one that made it (another id or start_date)"}
	case ti.TryNumber < in.Try.Number:
		// Airflow is behind the pod: it proves nothing.
		return TryVerdict{State: ti.State, Why: "Airflow's try_number is below the pod's"}
	case ti.TryNumber > in.Try.Number && in.Superseded:
		return TryVerdict{Over: true, State: ti.State, Why: fmt.Sprintf("try %d superseded it (state %s)", ti.TryNumber, stateName(ti.State))}
	case finishedStates[ti.State]:
		if ti.TryNumber > in.Try.Number {
			return TryVerdict{Over: true, State: ti.State, End: ti.EndDate, Why: fmt.Sprintf("the try that may have adopted it, %d, is %s", ti.TryNumber, ti.State)}
		}
		return TryVerdict{Over: true, State: ti.State, End: ti.EndDate, Why: "the try is " + ti.State}
	}
	return TryVerdict{State: ti.State, Why: "the try is live"}
}

// Confirms says whether Airflow's answer shows the very try that made the
// pod: the same try_number and, on Airflow 3, the task instance id the
// policy stamped (try-id), on Airflow 2 the start_date (try-start, to the
// microsecond). Another Airflow with the same DAG, run and task ids cannot
// show it, so a check whose URL points at the wrong Airflow ends nothing.
func Confirms(t Try, ti airflowapi.TaskInstance) bool {
	same, known := ownTry(t, ti)
	return known && same
}

// contradicts says Airflow's try at the pod's try_number is known not to be
// the one that made the pod.
func contradicts(t Try, ti airflowapi.TaskInstance) bool {
	same, known := ownTry(t, ti)
	return known && !same
}

// ownTry compares ti with the try the pod was made by; known is false when
// they cannot be compared (another try_number, or nothing stamped). The
// ids when both sides have one: on Airflow 3 the worker's start_date is
// later than the stored one (28 ms to 6.3 s on 3.3.2, docs/airflow.md), so
// only the id is exact there; Airflow 2 has no id and equal start dates.
func ownTry(t Try, ti airflowapi.TaskInstance) (same, known bool) {
	switch {
	case ti.TryNumber != t.Number:
		return false, false
	case t.ID != "" && ti.ID != "":
		return t.ID == ti.ID, true
	case !t.Start.IsZero():
		return ti.StartDate.Equal(t.Start), true
	}
	return false, false
}

// HandoffDue is the instant from which the check may end the pod of a try it
// saw over at now: handoff after the end Airflow recorded. Where Airflow's
// components are alive they clean up themselves (a task marked failed:
// the cancelled trigger's or the task's on_kill deletes the pod, measured
// 1–6 s after the mark); acting first would make two actions on one pod.
// The end is Airflow's clock: one ahead of ours (an end after now) or an
// unknown end counts from now instead, so the wait is never longer than
// handoff after the check saw the try over.
func HandoffDue(end, now time.Time, handoff time.Duration) time.Time {
	from := now
	if !end.IsZero() && end.Before(now) {
		from = end
	}
	return from.Add(max(handoff, 0))
}

func stateName(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

// EndTry is how the check ends a live pod whose try is over, the way a
// deadline that has come ends it (Decide): a never-started pod is deleted; a
// started one gets activeDeadlineSeconds lowered to a value already past, so
// the kubelet stops it now, logs kept and on_finish_action (keep_pod) left
// to KPO; one the kubelet has not stopped by its termination grace plus the
// kubelet grace after that lowered deadline is deleted. Kind None: nothing
// (more) to do now.
func EndTry(pod Pod, now time.Time, cfg Config) Action {
	if pod.Deleting || pod.terminal() {
		return Action{Kind: None}
	}
	if pod.Started.IsZero() {
		return Action{Kind: Delete, Deadline: now, Due: now, Why: WhyNeverStarted}
	}
	// As in Decide at the deadline: ceil(now - started) - 1 is already past.
	expired := max(deadline.RemainingSeconds(now, pod.Started)-1, 1)
	ads := pod.ActiveDeadlineSeconds
	if ads == nil || *ads > expired {
		return Action{Kind: Lower, Deadline: now, ActiveDeadlineSeconds: expired, AtDeadline: true}
	}
	stop := pod.Started.Add(time.Duration(*ads) * time.Second)
	if due := stop.Add(pod.TerminationGrace + cfg.KubeletGrace); !now.Before(due) {
		return Action{Kind: Delete, Deadline: stop, Due: due, Why: WhyStillRunning}
	}
	return Action{Kind: None}
}
