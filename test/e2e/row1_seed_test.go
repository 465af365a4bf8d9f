package e2e

import (
	"testing"
	"time"
)

// Matrix row 1: the upstream seed reproduction, verbatim (deferrable,
// execution_timeout=30s, sleep 1800, default get_logs): the pod runs on a
// hollow node past the task's budget.
const seedDAG, seedTask = "kpo_deferrable_execution_timeout_repro", "run_long_pod"

func row1(t *testing.T, e *env, with bool) {
	c := runCell(t, e, e.cellName("row1", with), seedDAG, seedTask, 30*time.Second)
	deadline := c.begin(t)
	if !with {
		// The seed's bug (still deferred, pod running) before 10.18, its own
		// timeout after.
		c.recordWithout(t, deadline, deadline.Add(60*time.Second))
		return
	}
	c.requireEnforced(t, deadline, deadline)
}
