package sweeper

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
)

var (
	tryCfg  = TryConfig{Instance: "prod", Grace: 30 * time.Second}
	tryTask = airflowapi.TaskKey{DagID: "etl", RunID: "manual__2026-05-20T10:00:00+00:00", TaskID: "load", MapIndex: -1}
	podTry  = Try{Instance: "prod", Task: tryTask, Number: 2}
	// checkedAt is well past the grace of a pod created at created.
	checkedAt = created.Add(time.Minute)
)

// tryStart is a try's start_date as the policy stamps it and Airflow records it.
var tryStart = time.Date(2026, 5, 20, 10, 0, 0, 123456000, time.UTC)

func startedTI(state string, try int, start time.Time) *airflowapi.TaskInstance {
	t := ti(state, try)
	t.StartDate = start
	return t
}

func ti(state string, try int) *airflowapi.TaskInstance {
	return &airflowapi.TaskInstance{TaskKey: tryTask, State: state, TryNumber: try}
}

func TestDecideTry(t *testing.T) {
	base := func(mod func(*TryInput)) TryInput {
		in := TryInput{Try: podTry, Created: created, Complete: true, DAGKnown: true, Answer: ti("running", 2), Confirmed: true}
		if mod != nil {
			mod(&in)
		}
		return in
	}
	tests := map[string]struct {
		in    TryInput
		now   time.Time
		over  bool
		state string
	}{
		"running: live":    {in: base(nil), state: "running"},
		"deferred: live":   {in: base(func(in *TryInput) { in.Answer = ti("deferred", 2) }), state: "deferred"},
		"queued: live":     {in: base(func(in *TryInput) { in.Answer = ti("queued", 2) }), state: "queued"},
		"null state: live": {in: base(func(in *TryInput) { in.Answer = ti("", 2) })},
		"restarting: live (Airflow is ending it itself)": {
			in: base(func(in *TryInput) { in.Answer = ti("restarting", 2) }), state: "restarting"},
		"up_for_reschedule: live": {in: base(func(in *TryInput) { in.Answer = ti("up_for_reschedule", 2) }), state: "up_for_reschedule"},
		"success: over":           {in: base(func(in *TryInput) { in.Answer = ti("success", 2) }), over: true, state: "success"},
		"failed: over":            {in: base(func(in *TryInput) { in.Answer = ti("failed", 2) }), over: true, state: "failed"},
		"skipped: over":           {in: base(func(in *TryInput) { in.Answer = ti("skipped", 2) }), over: true, state: "skipped"},
		"upstream_failed: over":   {in: base(func(in *TryInput) { in.Answer = ti("upstream_failed", 2) }), over: true, state: "upstream_failed"},
		"removed: over":           {in: base(func(in *TryInput) { in.Answer = ti("removed", 2) }), over: true, state: "removed"},
		"up_for_retry: over":      {in: base(func(in *TryInput) { in.Answer = ti("up_for_retry", 2) }), over: true, state: "up_for_retry"},
		"failed but young: kept": {
			in: base(func(in *TryInput) { in.Answer = ti("failed", 2) }), now: created.Add(29 * time.Second), state: ""},
		"failed at exactly the grace: over": {
			in: base(func(in *TryInput) { in.Answer = ti("failed", 2) }), now: created.Add(30 * time.Second), over: true, state: "failed"},
		"failed but another instance's pod: kept": {
			in: base(func(in *TryInput) { in.Answer = ti("failed", 2); in.Try.Instance = "staging" })},
		"failed but the call failed: kept": {
			in: base(func(in *TryInput) { in.Answer = ti("failed", 2); in.Failed = true })},
		"missing from a complete answer, DAG known: over": {
			in: base(func(in *TryInput) { in.Answer = nil }), over: true, state: StateMissing},
		"missing from a partial answer: kept": {
			in: base(func(in *TryInput) { in.Answer = nil; in.Complete = false }), state: StateMissing},
		"missing, DAG unknown (wrong Airflow?): kept": {
			in: base(func(in *TryInput) { in.Answer = nil; in.DAGKnown = false }), state: StateMissing},
		"missing but young: kept": {
			in: base(func(in *TryInput) { in.Answer = nil }), now: created.Add(time.Second)},
		"Airflow's try below the pod's: kept even if failed": {
			in: base(func(in *TryInput) { in.Answer = ti("failed", 1) }), state: "failed"},
		"newer try running, pod not superseded (may be adopted): kept": {
			in: base(func(in *TryInput) { in.Answer = ti("running", 3) }), state: "running"},
		"newer try queued, pod not superseded: kept": {
			in: base(func(in *TryInput) { in.Answer = ti("queued", 3) }), state: "queued"},
		"newer try running, a newer live pod exists: over": {
			in: base(func(in *TryInput) { in.Answer = ti("running", 3); in.Superseded = true }), over: true, state: "running"},
		"newer try null state, pod already_checked: over": {
			in: base(func(in *TryInput) { in.Answer = ti("", 3); in.Superseded = true }), over: true},
		"newer try failed, not superseded (adopted, now over): over": {
			in: base(func(in *TryInput) { in.Answer = ti("failed", 3) }), over: true, state: "failed"},
		"failed, Airflow not confirmed (wrong URL?): kept": {
			in: base(func(in *TryInput) { in.Answer = ti("failed", 2); in.Confirmed = false })},
		"missing, Airflow not confirmed: kept": {
			in: base(func(in *TryInput) { in.Answer = nil; in.Confirmed = false })},
		"failed, the pod's start stamped and equal: over": {
			in: base(func(in *TryInput) { in.Try.Start = tryStart; in.Answer = startedTI("failed", 2, tryStart) }), over: true, state: "failed"},
		"failed, another start (another Airflow's try): kept": {
			in: base(func(in *TryInput) {
				in.Try.Start = tryStart
				in.Answer = startedTI("failed", 2, tryStart.Add(time.Microsecond))
			}), state: "failed"},
		"failed, Airflow's start null: kept": {
			in: base(func(in *TryInput) { in.Try.Start = tryStart; in.Answer = ti("failed", 2) }), state: "failed"},
		"Airflow 3: same id, the stored start some ms before the stamped one: over": {
			in: base(func(in *TryInput) {
				in.Try.Start, in.Try.ID = tryStart, "0193a5b2-7c1e-7d3a-9f00-0123456789ab"
				in.Answer = startedTI("failed", 2, tryStart.Add(-28*time.Millisecond))
				in.Answer.ID = in.Try.ID
			}), over: true, state: "failed"},
		"Airflow 3: another id, same start (another Airflow's try): kept": {
			in: base(func(in *TryInput) {
				in.Try.Start, in.Try.ID = tryStart, "0193a5b2-7c1e-7d3a-9f00-0123456789ab"
				in.Answer = startedTI("failed", 2, tryStart)
				in.Answer.ID = "0193a5b2-7c1e-7d3a-9f00-ffffffffffff"
			}), state: "failed"},
		"Airflow 3 pod, an answer without id: the start decides (ms off: kept)": {
			in: base(func(in *TryInput) {
				in.Try.Start, in.Try.ID = tryStart, "0193a5b2-7c1e-7d3a-9f00-0123456789ab"
				in.Answer = startedTI("failed", 2, tryStart.Add(-28*time.Millisecond))
			}), state: "failed"},
		"stamped, newer try failed (adopted): over, its start is its own": {
			in: base(func(in *TryInput) {
				in.Try.Start = tryStart
				in.Answer = startedTI("failed", 3, tryStart.Add(time.Hour))
			}), over: true, state: "failed"},
		"same try, superseded flag alone: judged by state (running: kept)": {
			in: base(func(in *TryInput) { in.Superseded = true }), state: "running"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = checkedAt
			}
			v := DecideTry(tc.in, now, tryCfg)
			assert.Equal(t, tc.over, v.Over, v.Why)
			if tc.state != "" {
				assert.Equal(t, tc.state, v.State)
			}
			assert.NotEmpty(t, v.Why)
		})
	}
}

func TestEndTry(t *testing.T) {
	now := created.Add(10 * time.Minute)
	start := created.Add(5 * time.Second)
	tests := map[string]struct {
		pod  *corev1.Pod
		want Action
	}{
		"never started: delete": {
			pod: newPod(), want: Action{Kind: Delete, Deadline: now, Due: now, Why: WhyNeverStarted}},
		"running without ADS: lower to a value already past": {
			pod:  newPod(started(start)),
			want: Action{Kind: Lower, Deadline: now, ActiveDeadlineSeconds: 594, AtDeadline: true}},
		"running with a large ADS: lower": {
			pod:  newPod(started(start), ads(3600)),
			want: Action{Kind: Lower, Deadline: now, ActiveDeadlineSeconds: 594, AtDeadline: true}},
		"already lowered, kubelet still within its grace: nothing": {
			pod: newPod(started(start), ads(590), grace(30)), want: Action{Kind: None}},
		"lowered long ago and still running: delete": {
			pod:  newPod(started(start), ads(60), grace(30)),
			want: Action{Kind: Delete, Deadline: start.Add(time.Minute), Due: start.Add(time.Minute + 45*time.Second), Why: WhyStillRunning}},
		"started this second: lowered to 1": {
			pod:  newPod(started(now)),
			want: Action{Kind: Lower, Deadline: now, ActiveDeadlineSeconds: 1, AtDeadline: true}},
		"terminal: nothing":      {pod: newPod(started(start), phase(corev1.PodFailed)), want: Action{Kind: None}},
		"being deleted: nothing": {pod: newPod(started(start), deleting), want: Action{Kind: None}},
		"succeeded: nothing":     {pod: newPod(phase(corev1.PodSucceeded)), want: Action{Kind: None}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, EndTry(PodOf(tc.pod, keys), now, cfg))
		})
	}
}

func TestTryOf(t *testing.T) {
	good := map[string]string{
		keys.Instance: "prod", keys.DagID: "etl", keys.RunID: "r 1", keys.TaskID: "load",
		keys.MapIndex: "-1", keys.TryNumber: "2",
	}
	got, ok := TryOf(good, keys)
	require.True(t, ok)
	assert.Equal(t, Try{Instance: "prod", Task: airflowapi.TaskKey{DagID: "etl", RunID: "r 1", TaskID: "load", MapIndex: -1}, Number: 2}, got)
	assert.Equal(t, "dag_id=etl run_id=r 1 task_id=load map_index=-1 try_number=2 instance=prod", got.String())
	for name, mod := range map[string]func(map[string]string){
		"no instance":       func(a map[string]string) { delete(a, keys.Instance) },
		"empty dag id":      func(a map[string]string) { a[keys.DagID] = "" },
		"no run id":         func(a map[string]string) { delete(a, keys.RunID) },
		"no task id":        func(a map[string]string) { delete(a, keys.TaskID) },
		"map index word":    func(a map[string]string) { a[keys.MapIndex] = "none" },
		"map index -2":      func(a map[string]string) { a[keys.MapIndex] = "-2" },
		"try number empty":  func(a map[string]string) { a[keys.TryNumber] = "" },
		"try number signed": func(a map[string]string) { a[keys.TryNumber] = "-1" },
	} {
		t.Run(name, func(t *testing.T) {
			a := map[string]string{}
			for k, v := range good {
				a[k] = v
			}
			mod(a)
			_, ok := TryOf(a, keys)
			assert.False(t, ok)
		})
	}
}

// FuzzDecideTry: whatever Airflow answers, a failed call, a partial answer
// for an absent task instance, another instance's pod, an unknown DAG for an
// absent one, or a pod younger than the grace never yields "over".
func FuzzDecideTry(f *testing.F) {
	f.Add("failed", 2, 2, true, false, true, true, true, int64(60_000), uint8(0), true, int64(0), int64(0), uint8(0), uint8(0))
	f.Add("", 3, 2, false, true, false, false, false, int64(1_000), uint8(1), false, int64(1), int64(2), uint8(1), uint8(2))
	f.Add("failed", 2, 2, true, false, true, true, true, int64(60_000), uint8(0), true, int64(5), int64(4), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, state string, tiTry, podTryN int, present, failed, complete, dagKnown, superseded bool, ageMs int64, who uint8,
		confirmed bool, podStartUs, tiStartUs int64, podID, tiID uint8) {
		in := TryInput{Try: podTry, Created: created, Failed: failed, Complete: complete, DAGKnown: dagKnown, Superseded: superseded, Confirmed: confirmed}
		in.Try.Number = podTryN
		if who%2 == 1 {
			in.Try.Instance = "staging"
		}
		// 0: not stamped / null; otherwise microseconds after tryStart.
		at := func(us int64) time.Time {
			if us == 0 {
				return time.Time{}
			}
			return tryStart.Add(time.Duration(us%1e12) * time.Microsecond)
		}
		in.Try.Start = at(podStartUs)
		// 0: no id (Airflow 2, or not stamped); otherwise one of a few.
		id := func(n uint8) string {
			if n == 0 {
				return ""
			}
			return fmt.Sprintf("0193a5b2-7c1e-7d3a-9f00-%012d", n%4)
		}
		in.Try.ID = id(podID)
		if present {
			in.Answer = &airflowapi.TaskInstance{TaskKey: tryTask, State: state, TryNumber: tiTry, StartDate: at(tiStartUs), ID: id(tiID)}
		}
		now := created.Add(time.Duration(ageMs) * time.Millisecond)
		v := DecideTry(in, now, tryCfg)
		if !v.Over {
			return
		}
		switch {
		case failed:
			t.Fatalf("a failed call ended a pod: %+v", v)
		case !confirmed:
			t.Fatalf("an Airflow that confirmed no pod's own try ended a pod: %+v", v)
		case present && tiTry == podTryN && in.Try.ID != "" && in.Answer.ID != "" && in.Try.ID != in.Answer.ID:
			t.Fatalf("another task instance id than the pod's own try ended it: %+v", v)
		case present && tiTry == podTryN && (in.Try.ID == "" || in.Answer.ID == "") && !in.Try.Start.IsZero() && !in.Answer.StartDate.Equal(in.Try.Start):
			t.Fatalf("another start_date than the pod's own try ended it: %+v", v)
		case in.Try.Instance != tryCfg.Instance:
			t.Fatalf("another instance's pod was ended: %+v", v)
		case now.Sub(created) < tryCfg.Grace:
			t.Fatalf("a pod younger than the grace was ended: %+v", v)
		case !present && (!complete || !dagKnown):
			t.Fatalf("an absence in a partial answer or of an unknown DAG ended a pod: %+v", v)
		case present && tiTry < podTryN:
			t.Fatalf("an Airflow behind the pod ended it: %+v", v)
		case present && !finishedStates[state] && !(superseded && tiTry > podTryN):
			t.Fatalf("a live try's pod was ended: %+v", v)
		}
	})
}

func TestHandoffDue(t *testing.T) {
	now := created.Add(time.Hour)
	for name, tc := range map[string]struct {
		end     time.Time
		handoff time.Duration
		want    time.Time
	}{
		"ended 2s ago: handoff after the end":       {end: now.Add(-2 * time.Second), handoff: 5 * time.Second, want: now.Add(3 * time.Second)},
		"ended long ago: due already":               {end: now.Add(-time.Minute), handoff: 5 * time.Second, want: now.Add(-55 * time.Second)},
		"ended now":                                 {end: now, handoff: 5 * time.Second, want: now.Add(5 * time.Second)},
		"end after now (Airflow's clock ahead)":     {end: now.Add(time.Hour), handoff: 5 * time.Second, want: now.Add(5 * time.Second)},
		"end unknown: handoff after now":            {handoff: 5 * time.Second, want: now.Add(5 * time.Second)},
		"no handoff: due at the end":                {end: now.Add(-2 * time.Second), want: now.Add(-2 * time.Second)},
		"no handoff, end unknown: due now":          {want: now},
		"negative handoff counts as none":           {end: now.Add(-2 * time.Second), handoff: -time.Second, want: now.Add(-2 * time.Second)},
		"no handoff, end ahead of our clock: now":   {end: now.Add(time.Hour), want: now},
		"handoff exactly past: due now (inclusive)": {end: now.Add(-5 * time.Second), handoff: 5 * time.Second, want: now},
	} {
		t.Run(name, func(t *testing.T) {
			got := HandoffDue(tc.end, now, tc.handoff)
			assert.True(t, got.Equal(tc.want), "got %s, want %s", got, tc.want)
			assert.False(t, got.After(now.Add(max(tc.handoff, 0))), "never later than handoff after now")
		})
	}
}

func TestDecideTryEnd(t *testing.T) {
	end := created.Add(time.Minute)
	in := TryInput{Try: podTry, Created: created, Complete: true, DAGKnown: true, Confirmed: true}
	for name, tc := range map[string]struct {
		answer *airflowapi.TaskInstance
		want   time.Time
	}{
		"failed: its end_date": {answer: &airflowapi.TaskInstance{State: "failed", TryNumber: podTry.Number, EndDate: end}, want: end},
		"the adopting try failed: its end_date": {
			answer: &airflowapi.TaskInstance{State: "failed", TryNumber: podTry.Number + 1, EndDate: end}, want: end},
		"missing: no end": {},
	} {
		t.Run(name, func(t *testing.T) {
			in := in
			in.Answer = tc.answer
			v := DecideTry(in, created.Add(time.Hour), TryConfig{Instance: podTry.Instance, Grace: time.Second})
			require.True(t, v.Over, v.Why)
			assert.True(t, v.End.Equal(tc.want), "got %s", v.End)
		})
	}
}
