// Package certs owns the webhook's serving certificates outside cert-manager.
//
// selfsigned.go makes a CA and serving certificates issued by it, written
// atomically so the webhook server's certificate watcher never reads half a
// key pair (the demo and the tests use it too). rotator.go is the self-managed
// TLS mode: it keeps them in a Secret, keeps both webhook configurations'
// caBundles current and serves the certificate from memory. plan.go is its
// pure decision, (Secret contents, caBundles, now) → what one check does, so
// expiry, CA rotation with overlap and hand-edited Secrets are table-tested
// without a cluster.
package certs
