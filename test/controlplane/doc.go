// Package controlplane holds the tests that need an API server and nothing
// more: the real binary, run as its own process, against a real etcd and
// kube-apiserver (envtest with the binaries `make bin-tools` builds into
// bin/), with the webhook configurations from manifests/ installed for real.
// There are no nodes: a test that needs a kubelet goes to test/kubelet.
//
// TestMain (harness_test.go) builds the binary, starts the control plane and
// one shared webhook server (sweeper off) for the package; a test that needs
// a process of its own starts it with startTestProc or startEnforcer.
package controlplane
