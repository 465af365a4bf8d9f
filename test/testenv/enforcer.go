package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Enforcer is airflow-pod-deadline installed the way the chart installs it:
// the real binary (webhook and sweeper) and the chart's webhook
// configurations from manifests/install.yaml, pointed at the binary on
// 127.0.0.1 with a CA of the harness's own.
type Enforcer struct {
	*Proc
	// WebhookAddr is the webhook server's host:port.
	WebhookAddr string
	// CA is the PEM the webhook configurations trust.
	CA []byte
}

// StartEnforcer writes loopback certificates under dir, starts binary
// against kubeconfig with args after the harness's own, waits until it is
// ready, installs the webhook configurations of installYAML and waits until
// the API server calls them. Stop the returned process when done; the
// configurations stay (failurePolicy Fail: pods with a deadline are refused
// while nothing serves them).
func StartEnforcer(ctx context.Context, c client.Client, binary, kubeconfig, dir, installYAML string, args ...string) (*Enforcer, error) {
	certDir := filepath.Join(dir, "webhook-certs")
	ca, err := LoopbackCerts(certDir)
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	all := append([]string{"--cert-dir=" + certDir, "--webhook-bind-address=127.0.0.1", fmt.Sprintf("--webhook-port=%d", port)}, args...)
	p, err := Start(binary, kubeconfig, filepath.Join(dir, "airflow-pod-deadline.log"), all...)
	if err != nil {
		return nil, err
	}
	e := &Enforcer{Proc: p, WebhookAddr: fmt.Sprintf("127.0.0.1:%d", port), CA: ca}
	fail := func(err error) (*Enforcer, error) {
		_ = p.Stop(10 * time.Second)
		return nil, err
	}
	if err := p.WaitReady(ctx, time.Minute); err != nil { // a loaded machine starts slowly
		return fail(err)
	}
	if err := InstallWebhooks(ctx, c, installYAML, e.WebhookAddr, ca); err != nil {
		return fail(err)
	}
	if err := WaitWebhookActive(ctx, c, time.Minute); err != nil {
		return fail(fmt.Errorf("%w; log:\n%s", err, p.Tail(30)))
	}
	return e, nil
}
