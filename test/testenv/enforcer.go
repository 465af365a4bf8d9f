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
	// CertDir holds the serving certificate (tls.crt, tls.key) and ca.crt,
	// for another server that should be trusted the same way.
	CertDir string
}

// StartEnforcer writes loopback certificates under dir, starts binary
// against kubeconfig with args after the harness's own, waits until it is
// ready, installs the webhook configurations of installYAML and waits until
// the API server calls them. Stop the returned process when done; the
// configurations stay (failurePolicy Fail: pods with a deadline are refused
// while nothing serves them). StartEnforcerWith takes the same as options,
// and more.
func StartEnforcer(ctx context.Context, c client.Client, binary, kubeconfig, dir, installYAML string, args ...string) (*Enforcer, error) {
	return StartEnforcerWith(ctx, c, EnforcerOptions{Binary: binary, Kubeconfig: kubeconfig, Dir: dir, InstallYAML: installYAML, Args: args})
}

// EnforcerOptions tune StartEnforcerWith.
type EnforcerOptions struct {
	// Binary is the airflow-pod-deadline binary; Kubeconfig the cluster it
	// runs against.
	Binary, Kubeconfig string
	// Dir receives the serving certificates (webhook-certs/) and the log
	// (airflow-pod-deadline.log).
	Dir string
	// InstallYAML is the rendered chart (manifests/install.yaml) whose
	// webhook configurations are installed, pointed at the process, once it
	// is ready. Empty: none are (the sweeper alone, or a caller that installs
	// them itself with InstallWebhooks, Enforcer.WebhookAddr and CA).
	InstallYAML string
	// Args are flags after the harness's own (--cert-dir, the webhook's
	// address and port, and Start's): a later flag wins.
	Args []string
}

// StartEnforcerWith is StartEnforcer with options: the one way the tests,
// the demo and the perf programs start the binary and install its webhooks,
// so a flag or a chart change is mirrored here only.
func StartEnforcerWith(ctx context.Context, c client.Client, o EnforcerOptions) (*Enforcer, error) {
	certDir := filepath.Join(o.Dir, "webhook-certs")
	ca, err := LoopbackCerts(certDir)
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	all := append([]string{"--cert-dir=" + certDir, "--webhook-bind-address=127.0.0.1", fmt.Sprintf("--webhook-port=%d", port)}, o.Args...)
	p, err := Start(o.Binary, o.Kubeconfig, filepath.Join(o.Dir, "airflow-pod-deadline.log"), all...)
	if err != nil {
		return nil, err
	}
	e := &Enforcer{Proc: p, WebhookAddr: fmt.Sprintf("127.0.0.1:%d", port), CA: ca, CertDir: certDir}
	fail := func(err error) (*Enforcer, error) {
		_ = p.Stop(10 * time.Second)
		return nil, err
	}
	if err := p.WaitReady(ctx, time.Minute); err != nil { // a loaded machine starts slowly
		return fail(err)
	}
	if o.InstallYAML == "" {
		return e, nil
	}
	if err := InstallWebhooks(ctx, c, o.InstallYAML, e.WebhookAddr, ca); err != nil {
		return fail(err)
	}
	if err := WaitWebhookActive(ctx, c, time.Minute); err != nil {
		return fail(fmt.Errorf("%w; log:\n%s", err, p.Tail(30)))
	}
	return e, nil
}
