package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Matrix row 5: a non-deferrable KPO task whose process is SIGKILLed while
// its pod runs, before the deadline: nothing of Airflow is left to stop the
// pod (on_kill never runs). Airflow ends the try when it notices the dead
// process (its supervisor, or the heartbeat timeout, set to 20s here).
func row5(t *testing.T, e *env, with bool) {
	c := runCell(t, e, withName("row5", with), "apd_non_deferrable", seedTask, 30*time.Second)
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
	end := c.requireEnforced(t, deadline, deadline)
	assert.False(t, end.End.Before(killed), "%s: ended %s before the kill %s", c.name, end.End, killed)
}
