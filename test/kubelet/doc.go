// Package kubelet tests airflow-pod-deadline where the kubelet is the point:
// against a cluster whose pods really run (kube-scheduler,
// kube-controller-manager and hollow nodes: the real kubelet over a fake
// container runtime, see test/tools/hollownode), with the real binary and
// the chart's webhook configurations. The kubelet, not the test, starts pods
// and stops them at activeDeadlineSeconds.
package kubelet
