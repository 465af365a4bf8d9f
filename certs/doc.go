// Package certs owns the webhook's serving certificates outside cert-manager:
// a self-signed CA and serving certificates issued by it (used by the
// self-managed TLS mode, the demo and the tests), written atomically so the
// webhook server's certificate watcher never reads half a key pair.
package certs
