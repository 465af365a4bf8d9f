package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refused is case (a) of docs/airflow.md with real Airflow: the pod's
// deadline (an explicit annotation, 2026-01-01) has passed when KPO creates
// it, so the webhook denies the create and the try fails at once, with no
// pod. It records the task log lines the docs quote.
func refused(t *testing.T, e *env) {
	c := runCell(t, e, "refused/with", "apd_refused", seedTask, 30*time.Second)
	end, ended := c.waitEnd(t, 4*time.Minute)
	require.True(t, ended, "the refused try did not end: %v", end)
	assert.Equal(t, "failed", end.State)
	log, err := e.airflow.TaskLog(c.dag, c.runID, c.task, -1, max(end.TryNumber, 1))
	require.NoError(t, err)
	t.Logf("refused/with (%s, cncf-kubernetes %s): %v; task log (selected lines):\n    %s", e.airflow.Version,
		e.airflow.Provider, end, strings.Join(whyLines(log), "\n    "))
	assert.Contains(t, log, "denied the request: execution deadline 2026-01-01T00:00:00Z passed")
	for _, line := range strings.Split(log, "\n") {
		if i := strings.Index(line, "HTTP response body:"); i >= 0 && strings.Contains(line, "denied the request") {
			t.Logf("refused/with: %s", clip(line[i:], 600))
			break
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Empty(t, c.podName, "no pod is created")
}
