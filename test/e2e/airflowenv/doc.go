// Package airflowenv runs a real Apache Airflow for end-to-end tests: from a
// virtualenv of test/e2e/airflow (bin/venvs/<name>, made by `make
// airflow-venvs`: Airflow, a pinned cncf-kubernetes provider and the
// airflow-pod-deadline policy package), against a cluster reached through a
// kubeconfig, on a DAGs folder.
//
// Start creates a temporary AIRFLOW_HOME with a SQLite database (`airflow db
// migrate`), the `kubernetes_default` connection (AIRFLOW_CONN_KUBERNETES_DEFAULT:
// kube_config_path + in_cluster=false, the extras every supported provider reads)
// and short scheduling intervals, then starts each Airflow component as its own
// process in its own process group, output captured to a file in the home:
//
//   - Airflow 3: scheduler (LocalExecutor), dag-processor, triggerer and
//     api-server (the task workers reach the Execution API through it);
//   - Airflow 2: scheduler (SequentialExecutor, the only executor Airflow 2
//     allows on SQLite; the scheduler parses the DAGs itself) and triggerer.
//
// Everything listens on 127.0.0.1 only (the log servers are switched off; task
// logs are read from the files). Stop, or the death of the test process, ends
// every process group.
//
// State is read from Airflow's metadata database directly (the venv's sqlite3
// module, read-only), which works the same on 2.11 and 3.3 and costs no Airflow
// import per poll; DAG runs are created with `airflow dags trigger`.
package airflowenv
