package e2e

import "testing"

// TestRows1And2 runs matrix rows 1 (the seed: the pod runs past the budget)
// and 2 (the pod never schedules) on Airflow 3.3.2 with cncf-kubernetes
// 10.17.1 (before the upstream fix) and the newest provider, once without
// and once with airflow-pod-deadline: what `make test` runs. Each venv has
// its own cluster and Airflow, side by side; within a venv the two rows of
// one phase run at once (the webhook is cluster-wide, so the phases cannot).
func TestRows1And2(t *testing.T) {
	for _, venv := range venvs(t, "af3.3.2-k8s10.17.1", "af3.3.2-k8s10.25.0") {
		t.Run(venv, func(t *testing.T) {
			t.Parallel()
			e := startEnv(t, venv)
			t.Run("without", func(t *testing.T) {
				t.Run("row1", func(t *testing.T) { t.Parallel(); row1(t, e, false) })
				t.Run("row2", func(t *testing.T) { t.Parallel(); row2(t, e, false) })
			})
			e.deleteAllPods(t)
			e.withDeadlines(t)
			t.Run("with", func(t *testing.T) {
				t.Run("row1", func(t *testing.T) { t.Parallel(); row1(t, e, true) })
				t.Run("row2", func(t *testing.T) { t.Parallel(); row2(t, e, true) })
			})
			e.deleteAllPods(t)
		})
	}
}
