package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/cellresult"
)

func TestReplaceKeepsTheRest(t *testing.T) {
	md := []byte("intro\n" + beginMarker + "\nold\n" + endMarker + "\nafter\n")
	out, err := replace(md, "new\n")
	require.NoError(t, err)
	assert.Equal(t, "intro\n"+beginMarker+"\nnew\n"+endMarker+"\nafter\n", string(out))
	_, err = replace([]byte("no markers"), "x")
	assert.Error(t, err)
}

func TestCells(t *testing.T) {
	end := 14.2
	tests := map[string]struct {
		r                 result
		state, ended, pod string
	}{
		"failed by the kubelet": {
			r: result{FinalState: "failed", EndAfter: &end, ObservedAfter: 15,
				Pod: []cellresult.Relative{{Value: "phase=Pending", After: -30}, {Value: "phase=Running node=hollow-node-0", After: -28}, {Value: "phase=Failed reason=DeadlineExceeded node=hollow-node-0", After: 1.6}}},
			state: "FAILED", ended: "+14.2 s", pod: "Failed/DeadlineExceeded +1.6 s",
		},
		"still deferred": {
			r:     result{FinalState: "deferred", ObservedAfter: 60, Pod: []cellresult.Relative{{Value: "phase=Running node=hollow-node-0", After: -28}}},
			state: "DEFERRED at +60 s", ended: "—", pod: "still Running at +60 s",
		},
		"gone": {
			r:     result{FinalState: "failed", EndAfter: &end, Pod: []cellresult.Relative{{Value: "phase=Pending", After: -30}, {Value: "gone", After: 0.4}}},
			state: "FAILED", ended: "+14.2 s", pod: "gone +0.4 s",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.state, taskState(tc.r))
			assert.Equal(t, tc.ended, taskEnd(tc.r))
			assert.Equal(t, tc.pod, podEnd(tc.r))
		})
	}
}

func TestWhyPrefersTheTriggerEvent(t *testing.T) {
	lines := []string{
		"2026-12-02T04:00:00.000000Z info Pausing task as DEFERRED. dag_id=x",
		"2026-12-02T04:00:30.000000Z error Trigger emitted an failed event, failing the task: Container state failed",
		"2026-12-02T04:00:30.100000Z error Task failed with exception\n      AirflowException: Pod x returned a failure.",
	}
	assert.Equal(t, "Trigger emitted an failed event, failing the task: Container state failed", why(lines))
	assert.Equal(t, "AirflowException: Pod x returned a failure.", why(lines[2:]))
	assert.Equal(t, "Task failed with exception → ApiException: (403)",
		why([]string{"2026-12-02T04:37:35.172494Z error Task failed with exception\n      ApiException: (403)"}))
	assert.Equal(t, "Pausing task as DEFERRED. dag_id=x", why(lines[:1]))
	assert.Equal(t, "DeadlineExceeded, Killing", eventReasons([]string{"Normal Scheduled: x", "Normal DeadlineExceeded: Pod was active",
		"Normal Killing: Stopping", "Normal DeadlineExceeded: again"}))
	assert.True(t, versionLess("10.9.0", "10.17.1"))
}

func TestTableSaysWhatTimesAreRelativeTo(t *testing.T) {
	end := 0.0
	out := table([]result{
		{Cell: "row1/with", With: true, FinalState: "failed", EndAfter: &end},
		{Cell: "cleared-triggerer-down/with", With: true, From: cellresult.FromTryEnd, FinalState: "failed", EndAfter: &end},
	})
	row1, tc, ok := strings.Cut(out, "#### Try check: a deferred task cleared")
	require.True(t, ok, out)
	assert.NotContains(t, row1, "after the try's end", "row 1's times are after the deadline")
	assert.Contains(t, tc, "Times are seconds after the try's end as Airflow recorded it")
}

func TestWhyShowsAnAdoptedPod(t *testing.T) {
	lines := []string{
		"2026-12-07T08:44:16Z info Reusing existing pod 'run-long-pod-x' (phase=Running, reason=) since it is not terminated or evicted.",
		"2026-12-07T08:44:17Z info Pausing task as DEFERRED. dag_id=x",
	}
	assert.Equal(t, "Reusing existing pod 'run-long-pod-x' (phase=Running, reason=) since it is not terminated or evicted.", why(lines))
}

func TestTableOrdersPhases(t *testing.T) {
	end := 1.0
	cell := func(name string, with, check bool) result {
		return result{Cell: "row1/" + name, Airflow: "3.3.2", Provider: "10.25.0", With: with, TryCheck: check,
			FinalState: "failed", EndAfter: &end}
	}
	out := table([]result{cell("with-check", true, true), cell("with", true, false), cell("without", false, false)})
	without := strings.Index(out, "| without |")
	with := strings.Index(out, "| **with** |")
	check := strings.Index(out, "| **with + try check** |")
	require.True(t, without >= 0 && with >= 0 && check >= 0, out)
	assert.Less(t, without, with)
	assert.Less(t, with, check)
}
