package test

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// installYAML is the chart rendered with its defaults: the webhook
// configurations users install.
func installYAML() string { return filepath.Join(suite.root, "manifests", "install.yaml") }

// startSharedWebhook starts the webhook server the webhook tests share
// (sweeper off: sweeper tests run their own) with a fresh CA, and installs the
// webhook configurations of manifests/install.yaml pointing at it.
func startSharedWebhook() (func(), error) {
	certDir := filepath.Join(suite.tmp, "webhook-certs")
	ca, err := testenv.LoopbackCerts(certDir)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p, err := startProc(suite.tmp, "--enable-sweeper=false", "--cert-dir="+certDir,
		"--webhook-bind-address=127.0.0.1", fmt.Sprintf("--webhook-port=%d", port))
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(30 * time.Second); err != nil {
		p.stop()
		return nil, err
	}
	suite.webhook, suite.webhookCA, suite.webhookAt = p, ca, fmt.Sprintf("127.0.0.1:%d", port)
	ctx := context.Background()
	if err := testenv.InstallWebhooks(ctx, suite.client, installYAML(), suite.webhookAt, ca); err != nil {
		p.stop()
		return nil, err
	}
	if err := testenv.WaitWebhookActive(ctx, suite.client, 30*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%w; webhook log:\n%s", err, p.tail(30))
	}
	return p.stop, nil
}
