// Command demoairflow is `make demo-airflow`: what airflow-pod-deadline does
// for an Airflow task, told through the task. It starts the local cluster of
// `make demo` (etcd, kube-apiserver, kube-scheduler, kube-controller-manager
// and a hollow node: the real kubelet over a fake container runtime) and real
// Airflow 3.3.2 from a venv of the locks (LocalExecutor, SQLite, the policy
// package installed from the wheel `make dist` builds), then runs the
// upstream reproduction DAG verbatim twice: without airflow-pod-deadline, then
// with it (the real binary and the chart's webhook configurations). Each run
// narrates the task's state and the pod's phase over time, relative to the
// task's deadline, then our events and the task-log lines that say why it
// ended; the two outcomes end side by side.
//
// The exit status is 0 only if the run with airflow-pod-deadline ends FAILED
// with its pod stopped. Whatever happens, every process it started is
// stopped and its scratch directory removed (-keep keeps the directory).
package main
