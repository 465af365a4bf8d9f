package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Row 7's DAG (apd_matrix.py): dagrun_timeout shorter than the task's
// execution_timeout, so the run's deadline is the pod's.
const (
	row7DAG        = "apd_dagrun_timeout"
	row7RunTimeout = 120 * time.Second // ROW7_RUN_TIMEOUT
	row7Budget     = 10 * time.Minute  // the task's execution_timeout
)

// Matrix row 7: the run times out (dagrun_timeout) while its deferred
// task's pod runs. Airflow's scheduler fails the run and skips the task at
// dag_run.start_date + dagrun_timeout; only a running triggerer then
// deletes the pod (the cancelled trigger's on_kill). With
// triggererDown the triggerer is stopped while the task is deferred and
// started again 15 s after the run's deadline, as in row 4. With
// airflow-pod-deadline the policy stamped the run's deadline (the earlier
// of the two) and the pod is stopped then, whatever Airflow does.
func row7(t *testing.T, e *env, with, triggererDown bool) {
	row7Cell(t, e, "row7-dagrun-timeout", with, triggererDown)
}

// row7Cell runs row 7 as the cell name (+ "-triggerer-down") and returns it.
func row7Cell(t *testing.T, e *env, name string, with, triggererDown bool) *cell {
	if triggererDown {
		name += "-triggerer-down"
	}
	c := runCell(t, e, e.cellName(name, with), row7DAG, seedTask, row7Budget)
	deadline := c.beginRun(t)
	_, err := c.wait([]string{"deferred"}, 2*time.Minute)
	require.NoError(t, err, "the task defers")
	c.waitPodRunning(t)

	from := deadline
	if triggererDown {
		stopping := time.Now()
		require.True(t, stopping.Before(deadline), "the triggerer must go down before the run's deadline (%s after it)",
			stopping.Sub(deadline))
		require.NoError(t, e.airflow.StopTriggerer())
		restarted := false
		defer func() {
			if !restarted {
				assert.NoError(t, e.airflow.StartTriggerer())
			}
		}()
		t.Logf("%s: triggerer stopped at deadline%+.1fs", c.name, time.Since(deadline).Seconds())
		during := c.stateAt(t, deadline.Add(triggererBackAfter))
		t.Logf("%s: task %s while the triggerer is down, at deadline+%s; pod %s", c.name, during.State, triggererBackAfter, c.lastPod())
		from = time.Now()
		require.NoError(t, e.airflow.RestartTriggerer(context.Background()))
		restarted = true
	}

	if !with {
		at := c.recordWithout(t, deadline, from.Add(60*time.Second))
		run, err := e.airflow.DagRun(context.Background(), c.dag, c.runID)
		require.NoError(t, err)
		t.Logf("%s: run %s, task %s, pod %s at deadline%+.0fs", c.name, run.State, at.State, c.lastPod(), time.Since(deadline).Seconds())
		return c
	}

	end, ended := c.waitEnd(t, time.Until(from.Add(taskWithin+30*time.Second)))
	c.waitPodStopped(deadline)
	c.report(t, deadline, end)
	run, err := e.airflow.DagRun(context.Background(), c.dag, c.runID)
	require.NoError(t, err)
	assert.Equal(t, "failed", run.State, "%s: the run timed out", c.name)
	assert.NotEqual(t, "success", end.State, "%s: a task of a timed-out run must not succeed", c.name)
	switch {
	case ended:
		assert.Contains(t, []string{"skipped", "failed", "up_for_retry"}, end.State, "%s: the run's timeout ends the task", c.name)
		ended1 := c.firstSeen(terminal)
		assert.False(t, ended1.After(from.Add(taskWithin)), "%s: task ended %s after %s (want within %s)", c.name,
			ended1.Sub(from), from.Format(time.RFC3339Nano), taskWithin)
	case end.State == "scheduled" && run.State == "failed":
		// Airflow's race, not a hang: the pod stops at the instant the
		// scheduler times the run out, so the trigger's event (DEFERRED ->
		// SCHEDULED) and the run's timeout (unfinished -> SKIPPED) meet; when
		// the event is written last the task stays SCHEDULED in the failed
		// run, which the scheduler never runs again (seen on Airflow 2.11).
		t.Logf("%s: task left %s in the %s run: the trigger's event and the run's timeout raced", c.name, end.State, run.State)
	default:
		assert.Fail(t, "task did not end", "%s: %v (run %s)", c.name, end, run.State)
	}
	requirePodStopped(t, c, deadline)
	return c
}

// beginRun is begin for row 7: it waits until the try has started and its
// pod exists, and returns the deadline on the pod, which must be the run's:
// dag_run.start_date + dagrun_timeout, earlier than the try's own
// start_date + execution_timeout.
func (c *cell) beginRun(t *testing.T) time.Time {
	t.Helper()
	started := c.waitStarted(t)
	c.waitPod(t)
	run, err := c.e.airflow.DagRun(context.Background(), c.dag, c.runID)
	require.NoError(t, err)
	require.False(t, run.Start.IsZero(), "running run without start_date: %+v", run)
	want := run.Start.Add(row7RunTimeout)
	c.mu.Lock()
	got := c.deadlineAnnotation
	c.mu.Unlock()
	require.NotEmpty(t, got, "pod %s has no %s annotation", c.podName, deadlineKey)
	parsed, err := time.Parse(time.RFC3339Nano, got)
	require.NoError(t, err)
	assert.True(t, parsed.Equal(want), "%s: deadline %s, want the run's start %s + dagrun_timeout %s = %s", c.name, got,
		run.Start.Format(time.RFC3339Nano), row7RunTimeout, want.Format(time.RFC3339Nano))
	assert.True(t, parsed.Before(started.Start.Add(row7Budget)), "%s: the run's deadline %s is earlier than the try's %s",
		c.name, got, started.Start.Add(row7Budget).Format(time.RFC3339Nano))
	t.Logf("%s: deadline %s = run start %s + %s (try started at run start%+.1fs)", c.name, got,
		run.Start.Format(time.RFC3339Nano), row7RunTimeout, started.Start.Sub(run.Start).Seconds())
	return parsed
}

// firstSeen is when the watcher first saw the task in one of states (zero
// if never).
func (c *cell) firstSeen(states []string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.states {
		if slices.Contains(states, s.Value) {
			return s.At
		}
	}
	return time.Time{}
}
