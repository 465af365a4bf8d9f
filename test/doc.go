// Package test holds the integration and end-to-end tests: the real binary,
// run as its own process, against a real kube-apiserver and etcd (envtest with
// the binaries `make bin-tools` builds into bin/), with the webhook
// configurations from manifests/ installed for real.
package test
