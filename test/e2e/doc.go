// Package e2e runs real Apache Airflow (test/e2e/airflowenv, venvs from `make
// airflow-venvs`) against a real kube-apiserver, with and without
// airflow-pod-deadline, on the DAGs of test/e2e/airflow/dags: the matrix of
// docs/airflow.md ("The matrix"). TestMatrix runs the deadline rows 1-7,
// TestTryCheckMatrix the try check's rows (a try ended by hand, by a crash or
// by Airflow's own timeouts while no Airflow component is left to delete its
// pod; the check's failure modes), each without and with us, in every
// provider venv; `make e2e` regenerates the tables from the results
// (test/e2e/cellresult, written under test/e2e/results). Each cell records
// the task's states, the pod's end, the events and the task-log lines that
// say why, and asserts instants and orderings.
//
// The tests are slow (minutes per cell) and run only with APD_E2E_AIRFLOW=1;
// APD_E2E_VENVS replaces each test's default venvs (space-separated names
// under bin/venvs).
package e2e
