package main

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestToy runs the benchmark at toy size (20 pods of live tries over 2 DAG
// runs, 10 of finished tries, 2 polls), so a change that makes the check end
// a live try's pod, leave a finished one's, or make more list calls than
// airflowapi's batching says fails `make test` instead of the next `make
// bench`. It needs an Airflow 3 venv (bin/venvs, `make airflow-venvs`): it
// runs with APD_E2E_AIRFLOW=1, as make test's Airflow step sets.
func TestToy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver and Airflow")
	}
	if os.Getenv("APD_E2E_AIRFLOW") != "1" {
		t.Skip("needs an Airflow venv: set APD_E2E_AIRFLOW=1 (make test's Airflow step does)")
	}
	require.NoError(t, run(config{root: "../../..", venv: "af3.3.2-k8s10.25.0", runs: 2, tasks: 10, runsPerDAG: 1, overRuns: 1,
		polls: 2, interval: 2 * time.Second, grace: time.Second, concurrency: 4, heapMinPods: 1000, timeout: 10 * time.Minute, pageLimit: 100}))
}
