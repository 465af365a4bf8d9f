package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	end, ended := c.waitEnd(t, time.Until(deadline.Add(90*time.Second)))
	c.report(t, deadline, end)
	require.True(t, ended, "task did not end within 90s of its deadline")
	assert.Contains(t, []string{"failed", "up_for_retry"}, end.State, "a task past its execution_timeout fails")
	assert.False(t, end.End.After(deadline.Add(60*time.Second)), "task ended %s after its deadline (want within 60s)", end.End.Sub(deadline))

	stopped, how := c.podStoppedAt()
	require.False(t, stopped.IsZero(), "the pod was never stopped")
	t.Logf("row1/with: pod stopped (%s) %s after the deadline; task %s %s after", how, stopped.Sub(deadline), end.State, end.End.Sub(deadline))
	assert.False(t, stopped.Before(deadline), "pod stopped at %s, before its deadline %s", stopped, deadline)
	// The kubelet stops the pod at ceil(deadline) at its next 1s sync: 2s,
	// plus the watcher's 200ms polling.
	assert.False(t, stopped.After(deadline.Add(2200*time.Millisecond)), "pod stopped %s after its deadline (want within 2s)", stopped.Sub(deadline))
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
