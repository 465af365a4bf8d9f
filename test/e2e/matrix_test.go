package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// allVenvs are the venvs `make airflow-venvs` creates: Airflow 3.3.2 with
// each provider of the matrix, and Airflow 2.11.2.
var allVenvs = []string{
	"af3.3.2-k8s10.17.0", "af3.3.2-k8s10.17.1", "af3.3.2-k8s10.18.0", "af3.3.2-k8s10.25.0", "af2.11.2-k8s10.25.0",
}

// TestMatrix runs the deadline matrix of docs/airflow.md (`make e2e`): rows 1-7, each
// once without and once with airflow-pod-deadline, then rows 1-6 once more
// with its try check on as well (phase with-check: the check must not change
// what the deadline delivers; docs/airflow.md, "Rows 1–6 with the try check
// on"), in every venv. Each venv
// has its own cluster and Airflow; APD_E2E_PARALLEL (default 2) of them run
// at once. Within a phase the rows run side by side on Airflow 3, except
// row 4 (it stops the triggerer), which runs with row 5 (not deferrable)
// only. On Airflow 2 they run one after another: its SequentialExecutor
// runs every start and every resume of a deferred task in one slot, so
// tries whose deadlines coincide queue for it (a resume waited 100 s with
// six rows at once) and the time measured would be the queue's.
func TestMatrix(t *testing.T) {
	all := venvs(t, allVenvs...)
	slots := make(chan struct{}, parallelVenvs())
	for _, venv := range all {
		t.Run(venv, func(t *testing.T) {
			t.Parallel()
			slots <- struct{}{}
			defer func() { <-slots }()
			clearResults(t, venv)
			dir := filepath.Join(suite.tmp, venv+"-api")
			require.NoError(t, os.MkdirAll(dir, 0o755))
			airflowEnv, err := airflowenv.APIUserEnv(dir, apiReader, apiAdmin)
			require.NoError(t, err)
			e := startEnv(t, venv, airflowEnv...)
			var enforcer *testenv.Proc
			for _, phase := range []struct {
				name        string
				with, check bool
			}{{"without", false, false}, {"with", true, false}, {"with-check", true, true}} {
				if phase.with {
					e.deleteAllPods(t)
				}
				if enforcer != nil {
					// One enforcer at a time: its successor installs the
					// webhooks anew, pointed at itself.
					if err := enforcer.Stop(15 * time.Second); err != nil {
						t.Logf("stopping airflow-pod-deadline: %v", err)
					}
				}
				switch {
				case phase.check:
					// Airflow 2's API is its webserver: started only now, so
					// that the phases before run as they always did.
					url, err := e.airflow.StartAPI(context.Background(), apiReader, apiAdmin)
					require.NoError(t, err)
					enforcer = e.withCheck(t, filepath.Join(e.dir, "with-check"), url)
				case phase.with:
					enforcer = e.withDeadlines(t)
				}
				e.check = phase.check
				with := phase.with
				t.Run(phase.name, func(t *testing.T) {
					t.Run("deferred", func(t *testing.T) {
						cell := e.cellRunner(t)
						cell("row1", func(t *testing.T) { row1(t, e, with) })
						cell("row2", func(t *testing.T) { row2(t, e, with) })
						cell("row3", func(t *testing.T) { row3(t, e, with) })
						cell("row6-mapped", func(t *testing.T) { row6Mapped(t, e, with) })
						cell("row6-retry", func(t *testing.T) { row6Retry(t, e, with) })
						if !phase.check {
							cell("row7", func(t *testing.T) { row7(t, e, with, false) })
						}
						if with && !phase.check {
							cell("refused", func(t *testing.T) { refused(t, e) })
						}
					})
					t.Run("triggerer-down", func(t *testing.T) {
						cell := e.cellRunner(t)
						cell("row4", func(t *testing.T) { row4(t, e, with) })
						cell("row5", func(t *testing.T) { row5(t, e, with) })
					})
					if phase.check {
						// Only row 5's try ends before its deadline: every
						// other pod is stopped by its deadline first.
						e.requireOnlyOverEnded(t)
						return
					}
					// Row 7 stops the triggerer too: after row 4, not beside it.
					t.Run("run-timeout-triggerer-down", func(t *testing.T) {
						e.cellRunner(t)("row7", func(t *testing.T) { row7(t, e, with, true) })
					})
				})
			}
			e.deleteAllPods(t)
		})
	}
}

// cellRunner returns how a phase runs its cells: as parallel subtests on
// Airflow 3, one at a time on Airflow 2 (see TestMatrix).
func (e *env) cellRunner(t *testing.T) func(name string, f func(t *testing.T)) {
	return func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			if e.airflow.Major >= 3 {
				t.Parallel()
			}
			f(t)
		})
	}
}

func parallelVenvs() int {
	if n, err := strconv.Atoi(os.Getenv("APD_E2E_PARALLEL")); err == nil && n > 0 {
		return n
	}
	return 2
}
