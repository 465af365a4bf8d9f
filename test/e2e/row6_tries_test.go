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
	long := watchCell(t, e, e.cellName("row6-mapped0", with), "apd_mapped", seedTask, runID, 0, 0, row6Budget)
	short := watchCell(t, e, e.cellName("row6-mapped1", with), "apd_mapped", seedTask, runID, 1, 0, row6Budget)

	shortDeadline := short.begin(t)
	longDeadline := long.begin(t)

	end, ended := short.waitEnd(t, time.Until(shortDeadline.Add(30*time.Second)))
	short.report(t, shortDeadline, end)
	requireFitsBudget(t, short, shortDeadline, end, ended)

	if !with {
		long.recordWithout(t, longDeadline, longDeadline.Add(60*time.Second))
		return
	}
	long.requireEnforced(t, longDeadline, longDeadline)
}

// Matrix row 6b: retries=1. Try 1 sleeps 1800 s, past its budget; try 2 has
// a new start_date, so a new deadline, and sleeps 5 s: it must succeed.
func row6Retry(t *testing.T, e *env, with bool) {
	runID, err := e.airflow.Trigger(context.Background(), "apd_retry")
	require.NoError(t, err)
	first := watchCell(t, e, e.cellName("row6-retry-try1", with), "apd_retry", seedTask, runID, -1, 1, row6Budget)
	deadline1 := first.begin(t)
	if !with {
		if end1 := first.recordWithout(t, deadline1, deadline1.Add(60*time.Second)); end1.State != "up_for_retry" && end1.State != "failed" {
			return // try 1 never ended: there is no try 2 to watch
		}
	} else {
		first.requireEnforced(t, deadline1, deadline1)
	}

	var opts []func(*cell)
	if !with {
		// Try 1's pod may still run: try 2 then reattaches to it (labelled
		// try_number=1) and inherits its overrun.
		opts = append(opts, anyTryPod)
	}
	second := watchCell(t, e, e.cellName("row6-retry-try2", with), "apd_retry", seedTask, runID, -1, 2, row6Budget, opts...)
	if !with {
		started2 := second.waitStarted(t)
		end2, _ := second.waitEnd(t, time.Until(started2.Start.Add(row6Budget+90*time.Second)))
		second.report(t, started2.Start.Add(row6Budget), end2)
		t.Logf("%s: try 2 %s, pod %s", second.name, end2.State, second.lastPod())
		return
	}
	deadline2 := second.begin(t)
	assert.True(t, deadline2.After(deadline1), "try 2's deadline %s is its own, after try 1's %s", deadline2, deadline1)
	end2, ended := second.waitEnd(t, time.Until(deadline2.Add(30*time.Second)))
	second.report(t, deadline2, end2)
	requireFitsBudget(t, second, deadline2, end2, ended)
}
