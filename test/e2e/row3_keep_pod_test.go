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
	c := runCell(t, e, e.cellName("row3", with), "apd_keep_pod", seedTask, 30*time.Second)
	deadline := c.begin(t)
	if !with {
		c.recordWithout(t, deadline, deadline.Add(60*time.Second))
		return
	}
	c.requireEnforced(t, deadline, deadline)
	assert.True(t, c.podExists(t), "%s: keep_pod: the stopped pod stays (last seen %s)", c.name, c.lastPod())
}
