package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
)

// What the matrix (docs/airflow.md) requires of every cell run with
// airflow-pod-deadline.
const (
	// taskWithin: the task is FAILED (or UP_FOR_RETRY) this long after its
	// deadline, once Airflow's components are up.
	taskWithin = 60 * time.Second
	// podWithin: the pod is stopped (Failed/DeadlineExceeded, or gone) this
	// long after its deadline. The watcher polls every 200ms.
	podWithin = 2*time.Second + 200*time.Millisecond
)

// requireTaskFailed asserts the try ended FAILED or UP_FOR_RETRY, not
// before its deadline's consequences could be known and within taskWithin
// of from (the deadline, or when Airflow was whole again).
func requireTaskFailed(t *testing.T, c *cell, from time.Time, end airflowenv.TaskInstance, ended bool) {
	t.Helper()
	require.True(t, ended, "%s: task did not end: %v", c.name, end)
	assert.NotEqual(t, "success", end.State, "%s: a task past its execution_timeout must not succeed", c.name)
	assert.Contains(t, []string{"failed", "up_for_retry"}, end.State, "%s: a task past its execution_timeout fails", c.name)
	assert.False(t, end.End.After(from.Add(taskWithin)), "%s: task ended %s after %s (want within %s)", c.name,
		end.End.Sub(from), from.Format(time.RFC3339Nano), taskWithin)
}

// requirePodStopped asserts the watcher saw the pod stopped at or after its
// deadline and within podWithin of it. It waits for that long: a try can
// end before its deadline (row 5) and leave its pod running.
func requirePodStopped(t *testing.T, c *cell, deadline time.Time) {
	t.Helper()
	c.waitPodStopped(deadline)
	stopped, how := c.podStoppedAt()
	require.False(t, stopped.IsZero(), "%s: the pod was never stopped (last seen %s)", c.name, c.lastPod())
	t.Logf("%s: pod stopped (%s) %s after the deadline", c.name, how, stopped.Sub(deadline))
	assert.False(t, stopped.Before(deadline), "%s: pod stopped at %s, before its deadline %s", c.name, stopped, deadline)
	assert.False(t, stopped.After(deadline.Add(podWithin)), "%s: pod stopped %s after its deadline (want within 2s)",
		c.name, stopped.Sub(deadline))
}

// waitPodStopped waits until the watcher has seen the pod stopped, or for
// a second longer than podWithin after the deadline.
func (c *cell) waitPodStopped(deadline time.Time) {
	for stopped, _ := c.podStoppedAt(); stopped.IsZero() && time.Now().Before(deadline.Add(podWithin+time.Second)); {
		time.Sleep(200 * time.Millisecond)
		stopped, _ = c.podStoppedAt()
	}
}

// podStoppedAt returns when the watcher first saw the pod stopped: Failed or
// Succeeded, being deleted, or gone; and which.
func (c *cell) podStoppedAt() (time.Time, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pods {
		v := p.Value
		if strings.Contains(v, "phase=Failed") || strings.Contains(v, "phase=Succeeded") || strings.Contains(v, "deleting") || v == "gone" {
			return p.At, v
		}
	}
	return time.Time{}, ""
}

// lastPod is the pod as the watcher last saw it.
func (c *cell) lastPod() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pods) == 0 {
		return "never seen"
	}
	return c.pods[len(c.pods)-1].Value
}

// waitPodRunning waits until the watcher has seen the pod Running.
func (c *cell) waitPodRunning(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if strings.Contains(c.lastPod(), "phase=Running") {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.FailNow(t, "pod never ran", "%s: last seen %s", c.name, c.lastPod())
}

// requireFitsBudget asserts what row 6 requires of a try whose pod finishes
// within its budget: the pod Succeeded before its deadline, untouched, and
// the try SUCCEEDED before its deadline. One end is Airflow's, not ours:
// Airflow 2 re-applies execution_timeout, counted from the try's start,
// when a deferred task resumes, so a resume that waited past the deadline
// for the SequentialExecutor's single slot fails with AirflowTaskTimeout
// although the pod had finished in time. That end is accepted, and logged,
// only when the task log says so.
func requireFitsBudget(t *testing.T, c *cell, deadline time.Time, end airflowenv.TaskInstance, ended bool) {
	t.Helper()
	require.True(t, ended, "%s: did not end: %v", c.name, end)
	stopped, how := c.podStoppedAt()
	assert.Contains(t, how, "phase=Succeeded", "%s: the pod of a try that fits its budget succeeds", c.name)
	assert.True(t, stopped.Before(deadline), "%s: pod ended %s, after its deadline %s", c.name, stopped, deadline)
	if end.State == "success" {
		assert.True(t, end.End.Before(deadline), "%s: succeeded %s, after its deadline %s", c.name, end.End, deadline)
		return
	}
	log, err := c.e.airflow.TaskLog(c.dag, c.runID, c.task, c.mapIndex, max(end.TryNumber, c.try, 1))
	require.NoError(t, err)
	if c.e.airflow.Major < 3 && strings.Contains(log, "Resuming after deferral") && strings.Contains(log, "AirflowTaskTimeout") {
		t.Logf("%s: %s: the pod succeeded %s before the deadline, the resume came %s after it: Airflow's own timeout",
			c.name, end.State, deadline.Sub(stopped), end.End.Sub(deadline))
		return
	}
	assert.Equal(t, "success", end.State, "%s: a try that fits its budget succeeds", c.name)
}

// begin waits until the cell's try has started and its pod exists, and
// returns the deadline the cluster enforces on it.
func (c *cell) begin(t *testing.T) time.Time {
	t.Helper()
	started := c.waitStarted(t)
	c.waitPod(t)
	return enforcedDeadline(t, c, started)
}

// recordWithout is a cell without airflow-pod-deadline: it records the task
// and its pod until `until` and requires only that the task did not
// succeed; what the provider does alone is the finding.
func (c *cell) recordWithout(t *testing.T, deadline, until time.Time) airflowenv.TaskInstance {
	t.Helper()
	at := c.stateAt(t, until)
	c.report(t, deadline, at)
	t.Logf("%s: at deadline%+.0fs task %s, pod %s", c.name, until.Sub(deadline).Seconds(), at.State, c.lastPod())
	assert.NotEqual(t, "success", at.State, "%s: a task past its execution_timeout must not succeed", c.name)
	return at
}

// requireEnforced is a cell with airflow-pod-deadline: it waits for the
// try's end and requires it FAILED or UP_FOR_RETRY within taskWithin of
// from (the deadline, or when Airflow was whole again), and the pod stopped
// within podWithin of the deadline.
func (c *cell) requireEnforced(t *testing.T, deadline, from time.Time) airflowenv.TaskInstance {
	t.Helper()
	end, ended := c.waitEnd(t, time.Until(from.Add(taskWithin+30*time.Second)))
	c.waitPodStopped(deadline) // a try can end before its deadline (row 5): the pod's end comes later
	c.report(t, deadline, end)
	requireTaskFailed(t, c, from, end, ended)
	requirePodStopped(t, c, deadline)
	return end
}
