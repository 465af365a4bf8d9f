// Package testenv starts what the tests, the demo and the benchmarks run
// against: a real etcd and kube-apiserver (envtest on the binaries in bin/),
// the airflow-pod-deadline binary as its own process, and the project's webhook
// configurations pointed at it. It is test infrastructure, not part of the
// shipped binary.
package testenv
