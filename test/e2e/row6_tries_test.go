package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// row6Budget is row 6's execution_timeout (apd_matrix.py, ROW6).
const row6Budget = 90 * time.Second

// Matrix row 6a: a mapped task (.expand) of two map indexes; each is its
// own task instance with its own start_date, so its own deadline. Index 0
// sleeps 1800 s (past its budget), index 1 sleeps 5 s and must succeed.
func row6Mapped(t *testing.T, e *env, with bool) {
	runID, err := e.airflow.Trigger(context.Background(), "apd_mapped")
	require.NoError(t, err)
	long := watchCell(t, e, withName("row6-mapped0", with), "apd_mapped", seedTask, runID, 0, 0, row6Budget)
	short := watchCell(t, e, withName("row6-mapped1", with), "apd_mapped", seedTask, runID, 1, 0, row6Budget)

	startedShort := short.waitStarted(t)
	short.waitPod(t)
	shortDeadline := enforcedDeadline(t, short, startedShort)
	startedLong := long.waitStarted(t)
	long.waitPod(t)
	longDeadline := enforcedDeadline(t, long, startedLong)

	end, ended := short.waitEnd(t, time.Until(shortDeadline.Add(30*time.Second)))
	short.report(t, shortDeadline, end)
	requireFitsBudget(t, short, shortDeadline, end, ended)

	if !with {
		at60 := long.stateAt(t, longDeadline.Add(60*time.Second))
		long.report(t, longDeadline, at60)
		t.Logf("%s: at deadline+60s task %s, pod %s", long.name, at60.State, long.lastPod())
		assert.NotEqual(t, "success", at60.State, "a task past its execution_timeout must not succeed")
		return
	}
	end, ended = long.waitEnd(t, time.Until(longDeadline.Add(taskWithin+30*time.Second)))
	long.report(t, longDeadline, end)
	requireTaskFailed(t, long, longDeadline, end, ended)
	requirePodStopped(t, long, longDeadline)
}

// Matrix row 6b: retries=1. Try 1 sleeps 1800 s, past its budget; try 2 has
// a new start_date, so a new deadline, and sleeps 5 s: it must succeed.
func row6Retry(t *testing.T, e *env, with bool) {
	runID, err := e.airflow.Trigger(context.Background(), "apd_retry")
	require.NoError(t, err)
	first := watchCell(t, e, withName("row6-retry-try1", with), "apd_retry", seedTask, runID, -1, 1, row6Budget)
	started := first.waitStarted(t)
	first.waitPod(t)
	deadline1 := enforcedDeadline(t, first, started)

	if !with {
		end1 := first.stateAt(t, deadline1.Add(60*time.Second))
		first.report(t, deadline1, end1)
		t.Logf("%s: at deadline+60s try 1 %s, pod %s", first.name, end1.State, first.lastPod())
		assert.NotEqual(t, "success", end1.State, "a try past its execution_timeout must not succeed")
		if end1.State != "up_for_retry" && end1.State != "failed" {
			return // try 1 never ended: there is no try 2 to watch
		}
	} else {
		end1, ended := first.waitEnd(t, time.Until(deadline1.Add(taskWithin+30*time.Second)))
		first.report(t, deadline1, end1)
		requireTaskFailed(t, first, deadline1, end1, ended)
		requirePodStopped(t, first, deadline1)
	}

	var opts []func(*cell)
	if !with {
		// Try 1's pod may still run: try 2 then reattaches to it (labelled
		// try_number=1) and inherits its overrun.
		opts = append(opts, anyTryPod)
	}
	second := watchCell(t, e, withName("row6-retry-try2", with), "apd_retry", seedTask, runID, -1, 2, row6Budget, opts...)
	started2 := second.waitStarted(t)
	if !with {
		end2, _ := second.waitEnd(t, time.Until(started2.Start.Add(row6Budget+90*time.Second)))
		second.report(t, started2.Start.Add(row6Budget), end2)
		t.Logf("%s: try 2 %s, pod %s", second.name, end2.State, second.lastPod())
		return
	}
	second.waitPod(t)
	deadline2 := enforcedDeadline(t, second, started2)
	assert.True(t, deadline2.After(deadline1), "try 2's deadline %s is its own, after try 1's %s", deadline2, deadline1)
	end2, ended := second.waitEnd(t, time.Until(deadline2.Add(30*time.Second)))
	second.report(t, deadline2, end2)
	requireFitsBudget(t, second, deadline2, end2, ended)
}
