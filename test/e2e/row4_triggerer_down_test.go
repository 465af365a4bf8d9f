package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// triggererBackAfter is how long after the deadline row 4 starts the
// triggerer again.
const triggererBackAfter = 15 * time.Second

// Matrix row 4: the seed, with the triggerer stopped while the task is
// deferred and started again after the deadline. The kubelet stops the pod
// on time regardless; the task can only fail once a triggerer runs the
// trigger again. It stops the env's triggerer: no other deferred cell may
// run beside it.
func row4(t *testing.T, e *env, with bool) {
	c := runCell(t, e, e.cellName("row4", with), seedDAG, seedTask, 30*time.Second)
	deadline := c.begin(t)
	_, err := c.wait([]string{"deferred"}, 2*time.Minute)
	require.NoError(t, err, "the seed task defers")
	c.waitPodRunning(t)

	stopping := time.Now()
	require.True(t, stopping.Before(deadline), "the triggerer must go down before the deadline (%s after it)", stopping.Sub(deadline))
	require.NoError(t, e.airflow.StopTriggerer())
	down := time.Now()
	restarted := false
	defer func() {
		if !restarted {
			assert.NoError(t, e.airflow.StartTriggerer())
		}
	}()
	t.Logf("%s: triggerer stopping at deadline%+.1fs, stopped at deadline%+.1fs", c.name,
		stopping.Sub(deadline).Seconds(), down.Sub(deadline).Seconds())
	during := c.stateAt(t, deadline.Add(triggererBackAfter))
	t.Logf("%s: task %s while the triggerer is down, at deadline+%s; pod %s", c.name, during.State, triggererBackAfter, c.lastPod())
	require.NoError(t, e.airflow.StartTriggerer())
	restarted = true
	back := time.Now()

	if !with {
		c.recordWithout(t, deadline, back.Add(60*time.Second))
		return
	}
	c.requireEnforced(t, deadline, back)
}
