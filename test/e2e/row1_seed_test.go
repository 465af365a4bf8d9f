package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Matrix row 1: the upstream seed reproduction, verbatim (deferrable,
// execution_timeout=30s, sleep 1800, default get_logs): the pod runs on a
// hollow node past the task's budget.
const seedDAG, seedTask = "kpo_deferrable_execution_timeout_repro", "run_long_pod"

func row1Without(t *testing.T, e *env) {
	c := runCell(t, e, "row1/without", seedDAG, seedTask, 30*time.Second)
	started := c.waitStarted(t)
	c.waitPod(t)
	deadline := enforcedDeadline(t, c, started)
	at60 := c.stateAt(t, deadline.Add(60*time.Second))
	c.report(t, deadline, at60)
	// What the provider does alone is recorded, not required: the seed's
	// bug (still deferred, pod running) before 10.18, its own timeout
	// after. Never success.
	t.Logf("row1/without: at deadline+60s task %s, pod %s", at60.State, c.lastPod())
	assert.NotEqual(t, "success", at60.State, "a task past its execution_timeout must not succeed")
}

func row1With(t *testing.T, e *env) {
	c := runCell(t, e, "row1/with", seedDAG, seedTask, 30*time.Second)
	started := c.waitStarted(t)
	c.waitPod(t)
	deadline := enforcedDeadline(t, c, started)
	end, ended := c.waitEnd(t, time.Until(deadline.Add(taskWithin+30*time.Second)))
	c.report(t, deadline, end)
	requireTaskFailed(t, c, deadline, end, ended)
	// The kubelet stops the pod at ceil(deadline) at its next 1s sync.
	requirePodStopped(t, c, deadline)
}
