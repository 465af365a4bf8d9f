package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunnerSmoke proves the runner on every Airflow major: the seed DAG
// (verbatim) is parsed, triggered and deferred; its pod is created stamped by
// the policy package (the task log says so); the triggerer can be stopped and
// started again. The pod never schedules here (no nodes); the task is left
// deferred and everything is stopped.
func TestRunnerSmoke(t *testing.T) {
	for _, venv := range venvs(t, "af2.11.2-k8s10.25.0", "af3.3.2-k8s10.25.0") {
		t.Run(venv, func(t *testing.T) {
			e := startEnv(t, venv)
			c := runCell(t, e, "smoke", "kpo_deferrable_execution_timeout_repro", "run_long_pod", 30*time.Second)
			ti, err := e.airflow.WaitTaskState(context.Background(), c.dag, c.runID, c.task, -1, []string{"deferred"}, 4*time.Minute, c.observe)
			require.NoError(t, err)
			assert.Equal(t, 1, ti.TryNumber)
			c.waitPod(t)
			enforcedDeadline(t, c, ti)
			log, err := e.airflow.TaskLog(c.dag, c.runID, c.task, -1, 1)
			require.NoError(t, err)
			assert.Contains(t, log, "airflow-pod-deadline: pod "+c.podName+" stamped airflow-pod-deadline.io/execution-deadline=")

			require.NoError(t, e.airflow.StopTriggerer())
			assert.NotContains(t, strings.Join(e.airflow.Running(), " "), "triggerer")
			require.NoError(t, e.airflow.StartTriggerer())
			assert.Contains(t, strings.Join(e.airflow.Running(), " "), "triggerer")
		})
	}
}
