package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
)

// Matrix row 5: a non-deferrable KPO task whose process is SIGKILLed while
// its pod runs, before the deadline: nothing of Airflow is left to stop the
// pod (on_kill never runs). Airflow ends the try when it notices the dead
// process (its supervisor, or the heartbeat timeout, set to 20s here).
func row5(t *testing.T, e *env, with bool) {
	c := runCell(t, e, e.cellName("row5", with), "apd_non_deferrable", seedTask, 30*time.Second)
	deadline := c.begin(t)
	c.waitPodRunning(t)
	var pid int
	require.Eventually(t, func() bool {
		var err error
		pid, err = e.airflow.KillTaskProcess(context.Background(), c.dag, c.runID, c.task, -1)
		return err == nil
	}, time.Minute, 500*time.Millisecond, "the running task never showed a pid")
	killed := time.Now()
	t.Logf("%s: SIGKILLed task process %d at deadline%+.1fs", c.name, pid, killed.Sub(deadline).Seconds())
	require.True(t, killed.Before(deadline), "the kill must come before the deadline (came %s after it)", killed.Sub(deadline))

	if !with {
		c.recordWithout(t, deadline, deadline.Add(60*time.Second))
		return
	}
	if e.check {
		e.tryOver(c) // killed: the check may end its pod
		end := c.requireFollowsTry(t, deadline)
		assert.False(t, end.End.Before(killed), "%s: ended %s before the kill %s", c.name, end.End, killed)
		return
	}
	end := c.requireEnforced(t, deadline, deadline)
	assert.False(t, end.End.Before(killed), "%s: ended %s before the kill %s", c.name, end.End, killed)
}

// requireFollowsTry is requireEnforced with the try check on, for a try
// that ends before its deadline: the task FAILED as without the check, and
// the pod stopped after the try's end and within a poll interval + podWithin
// of it (of the pod turning checkGrace old, if later: the check leaves
// younger pods alone), or at its deadline if that comes first.
func (c *cell) requireFollowsTry(t *testing.T, deadline time.Time) airflowenv.TaskInstance {
	t.Helper()
	end, ended := c.waitEnd(t, time.Until(deadline.Add(taskWithin+30*time.Second)))
	c.waitPodStopped(deadline)
	c.report(t, deadline, end)
	requireTaskFailed(t, c, deadline, end, ended)
	from := c.tryEnd(end)
	c.mu.Lock()
	grown := c.podCreated.Add(checkGrace)
	c.mu.Unlock()
	bound := from
	if grown.After(bound) {
		bound = grown
	}
	bound = bound.Add(checkInterval + podWithin)
	if d := deadline.Add(podWithin); d.Before(bound) {
		bound = d
	}
	stopped, how := c.podStoppedAt()
	require.False(t, stopped.IsZero(), "%s: the pod was never stopped (last seen %s)", c.name, c.lastPod())
	t.Logf("%s: try ended at deadline%+.1fs, pod stopped (%s) %s after it", c.name, from.Sub(deadline).Seconds(), how, stopped.Sub(from))
	assert.False(t, stopped.Before(from), "%s: pod stopped %s before its try ended", c.name, from.Sub(stopped))
	assert.False(t, stopped.After(bound), "%s: pod stopped %s after its try ended (bound %s)", c.name, stopped.Sub(from), bound.Sub(from))
	return end
}
