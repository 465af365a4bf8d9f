package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/certs"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// Enforcer is airflow-pod-deadline installed the way the chart installs it:
// the real binary (webhook and sweeper) and the chart's webhook
// configurations from manifests/install.yaml, pointed at the binary on
// 127.0.0.1 with a CA of the harness's own.
type Enforcer struct {
	*Proc
	// WebhookAddr is the webhook server's host:port; WebhookPort its port.
	WebhookAddr string
	WebhookPort int
	// CA is the PEM the webhook configurations trust (nil with
	// SelfManaged: the binary injects its own).
	CA []byte
	// CertDir holds the serving certificate (tls.crt, tls.key) and ca.crt,
	// for another server that should be trusted the same way, or a process
	// that takes over this one's address (EnforcerOptions.CertDir). Empty
	// with SelfManaged.
	CertDir string
	// webhooks are the configurations StartEnforcerWith installed.
	webhooks []client.Object
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
	// is ready. Empty: none are (the sweeper alone, a process taking over an
	// earlier one's address, or a caller that installs them itself with
	// InstallWebhooks, Enforcer.WebhookAddr and CA).
	InstallYAML string
	// Name renames the configurations (default: install.yaml's), so that
	// an install of a test's own stands beside the shared one.
	Name string
	// Prefix is the annotation prefix (default: deadline.DefaultPrefix):
	// passed as --annotation-prefix and put into the configurations'
	// matchConditions, so only pods annotated under it reach this process.
	Prefix string
	// Port is the webhook's port; 0: a free one.
	Port int
	// CertDir: serve the loopback certificates already there (an earlier
	// Enforcer's CertDir, with its Port: a process taking over its address)
	// instead of writing new ones.
	CertDir string
	// SelfManaged: the binary makes and injects its own certificates (pass
	// its --cert-mode=self-managed flags in Args). No certificates are
	// written, and the configurations are installed with an empty caBundle
	// before the process starts, as the chart installs them.
	SelfManaged bool
	// Args are flags after the harness's own (--cert-dir, the webhook's
	// address and port, --annotation-prefix, and Start's): a later flag
	// wins.
	Args []string
}

// StartEnforcerWith is StartEnforcer with options: the one way the tests,
// the demo and the perf programs start the binary and install its webhooks,
// so a flag or a chart change is mirrored here only.
func StartEnforcerWith(ctx context.Context, c client.Client, o EnforcerOptions) (*Enforcer, error) {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	var ca []byte
	certDir := o.CertDir
	var err error
	switch {
	case o.SelfManaged:
		certDir = ""
	case certDir != "":
		if ca, err = os.ReadFile(filepath.Join(certDir, certs.CAFile)); err != nil {
			return nil, err
		}
	default:
		certDir = filepath.Join(o.Dir, "webhook-certs")
		if ca, err = LoopbackCerts(certDir); err != nil {
			return nil, err
		}
	}
	port := o.Port
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	prefix := o.Prefix
	if prefix == "" {
		prefix = deadline.DefaultPrefix
	}
	all := []string{"--webhook-bind-address=127.0.0.1", fmt.Sprintf("--webhook-port=%d", port)}
	if certDir != "" {
		all = append(all, "--cert-dir="+certDir)
	}
	if o.Prefix != "" {
		all = append(all, "--annotation-prefix="+o.Prefix)
	}
	e := &Enforcer{WebhookAddr: fmt.Sprintf("127.0.0.1:%d", port), WebhookPort: port, CA: ca, CertDir: certDir}
	install := func() error {
		e.webhooks, err = InstallWebhooksAs(ctx, c, o.InstallYAML, o.Name, prefix, e.WebhookAddr, ca)
		return err
	}
	if o.SelfManaged && o.InstallYAML != "" {
		if err := install(); err != nil {
			return nil, err
		}
	}
	p, err := Start(o.Binary, o.Kubeconfig, filepath.Join(o.Dir, "airflow-pod-deadline.log"), append(all, o.Args...)...)
	if err != nil {
		_ = e.RemoveWebhooks(ctx, c)
		return nil, err
	}
	e.Proc = p
	fail := func(err error) (*Enforcer, error) {
		_ = p.Stop(10 * time.Second)
		_ = e.RemoveWebhooks(ctx, c)
		return nil, err
	}
	if err := p.WaitReady(ctx, time.Minute); err != nil { // a loaded machine starts slowly
		return fail(err)
	}
	if o.InstallYAML == "" {
		return e, nil
	}
	if !o.SelfManaged {
		if err := install(); err != nil {
			return fail(err)
		}
	}
	if err := WaitWebhookActive(ctx, c, prefix, time.Minute); err != nil {
		return fail(fmt.Errorf("%w; log:\n%s", err, p.Tail(30)))
	}
	return e, nil
}

// RemoveWebhooks deletes the configurations StartEnforcerWith installed (for
// a test that installed its own beside the shared ones).
func (e *Enforcer) RemoveWebhooks(ctx context.Context, c client.Client) error {
	var errs []error
	for _, obj := range e.webhooks {
		if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	e.webhooks = nil
	return errors.Join(errs...)
}
