package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunnerKillTask is the groundwork for matrix row 5: a non-deferrable
// KPO task waits in execute() for its pod (which never schedules here); the
// runner SIGKILLs the task's process and the test records how Airflow ends
// the try (without airflow-pod-deadline: that half of row 5 needs pods that
// run).
func TestRunnerKillTask(t *testing.T) {
	for _, venv := range venvs(t, "af3.3.2-k8s10.25.0", "af2.11.2-k8s10.25.0") {
		t.Run(venv, func(t *testing.T) {
			e := startEnv(t, venv)
			c := runCell(t, e, "kill/without", "apd_non_deferrable", "run_long_pod", 30*time.Second)
			started := c.waitStarted(t)
			c.waitPod(t)
			deadline := enforcedDeadline(t, c, started)
			var pid int
			require.Eventually(t, func() bool {
				var err error
				pid, err = e.airflow.KillTaskProcess(context.Background(), c.dag, c.runID, c.task, -1)
				return err == nil
			}, time.Minute, 500*time.Millisecond, "the running task never showed a pid")
			killed := time.Now()
			t.Logf("kill: SIGKILLed task process %d at deadline%+.1fs", pid, killed.Sub(deadline).Seconds())
			end, ended := c.waitEnd(t, 4*time.Minute)
			c.report(t, deadline, end)
			require.True(t, ended, "the killed try never ended: %v", end)
			assert.Contains(t, []string{"failed", "up_for_retry"}, end.State)
			assert.False(t, end.End.Before(killed), "ended %s before the kill %s", end.End, killed)
			t.Logf("kill: pod still there after the try ended: %v", c.podExists(t))
			e.deleteAllPods(t)
		})
	}
}
