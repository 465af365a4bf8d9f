package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Matrix row 3: the seed with on_finish_action="keep_pod". KPO leaves the
// pod when it gives up on it; only the kubelet (at the deadline the webhook
// set) stops it. The sweeper leaves the stopped pod for KPO's choice.
func row3(t *testing.T, e *env, with bool) {
	c := runCell(t, e, withName("row3", with), "apd_keep_pod", seedTask, 30*time.Second)
	started := c.waitStarted(t)
	c.waitPod(t)
	deadline := enforcedDeadline(t, c, started)
	if !with {
		at60 := c.stateAt(t, deadline.Add(60*time.Second))
		c.report(t, deadline, at60)
		t.Logf("%s: at deadline+60s task %s, pod %s", c.name, at60.State, c.lastPod())
		assert.NotEqual(t, "success", at60.State, "a task past its execution_timeout must not succeed")
		return
	}
	end, ended := c.waitEnd(t, time.Until(deadline.Add(taskWithin+30*time.Second)))
	c.report(t, deadline, end)
	requireTaskFailed(t, c, deadline, end, ended)
	requirePodStopped(t, c, deadline)
	assert.True(t, c.podExists(t), "%s: keep_pod: the stopped pod stays (last seen %s)", c.name, c.lastPod())
}
