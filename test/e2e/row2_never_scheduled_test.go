package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
)

// Matrix row 2: the pod never schedules (the DAG's nodeSelector matches no
// node), and KPO's startup_timeout_seconds (150) is longer than the 30s
// budget.
func row2(t *testing.T, e *env, with bool) {
	c := runCell(t, e, e.cellName("row2", with), "apd_never_scheduled", "run_long_pod", 30*time.Second)
	deadline := c.begin(t)
	if !with {
		at60 := c.stateAt(t, deadline.Add(60*time.Second))
		t.Logf("%s: task state at deadline+60s: %v", c.name, at60)
		end, ended := c.waitEnd(t, time.Until(deadline.Add(150*time.Second+90*time.Second)))
		c.report(t, deadline, end)
		if ended {
			assert.NotEqual(t, "success", end.State, "a task past its execution_timeout must not succeed")
			assert.True(t, !end.End.Before(deadline), "ended %s before its deadline %s", end.End, deadline)
		}
		return
	}
	end, ended := c.waitEnd(t, time.Until(deadline.Add(150*time.Second+60*time.Second)))
	c.report(t, deadline, end)
	require.NotNil(t, c.activeDeadline, "the webhook clamps activeDeadlineSeconds")
	gone := c.podGoneAt()
	require.False(t, gone.IsZero(), "the sweeper ends the never-started pod")
	assert.False(t, gone.Before(deadline), "pod gone at %s, before its deadline %s", gone, deadline)
	assert.WithinDuration(t, deadline, gone, 2*time.Second+time.Second, "pod ends within 2s (+1s polling) of its deadline")
	require.True(t, ended, "task did not end")
	t.Logf("%s: final %v; deadline -> end_date %s", c.name, end, end.End.Sub(deadline))
	assert.NotEqual(t, "success", end.State, "a task past its execution_timeout must not succeed")
	assert.False(t, end.End.After(deadline.Add(60*time.Second)), "task ended %s after its deadline (want within 60s)", end.End.Sub(deadline))
}

// enforcedDeadline checks the pod's deadline annotation against Airflow's
// start_date and returns it: the instant the cluster enforces.
//
// It is not exactly the task instance's start_date (as stored) plus
// execution_timeout. On Airflow 3.3 the task's context carries a second
// clock reading: the supervisor reports the start to the API server with
// now(), which is what the database stores, and then takes now() again for
// context["ti"].start_date, after that round trip. The policy (like
// cncf-kubernetes >= 10.18's own deadline) computes from the context's value,
// so the stamped deadline lies between stored start + timeout and the pod's
// creation + timeout.
func enforcedDeadline(t *testing.T, c *cell, started airflowenv.TaskInstance) time.Time {
	t.Helper()
	c.mu.Lock()
	got, created := c.deadlineAnnotation, c.podCreated
	c.mu.Unlock()
	require.NotEmpty(t, got, "pod %s has no %s annotation", c.podName, deadlineKey)
	parsed, err := time.Parse(time.RFC3339Nano, got)
	require.NoError(t, err)
	lo := started.Start.Add(c.budget)
	assert.False(t, parsed.Before(lo), "annotation %s before stored start_date+execution_timeout %s", got, lo.Format(time.RFC3339Nano))
	if !created.IsZero() {
		// creationTimestamp has whole seconds: allow the truncated second.
		hi := created.Add(c.budget + time.Second)
		assert.False(t, parsed.After(hi), "annotation %s after pod creation+execution_timeout %s", got, hi.Format(time.RFC3339Nano))
	}
	t.Logf("%s: deadline %s = stored start_date %s + %s + %s (context start_date later than stored)", c.name, got,
		started.Start.Format(time.RFC3339Nano), c.budget, parsed.Sub(lo))
	return parsed
}
