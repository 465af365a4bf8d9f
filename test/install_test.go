package test

import (
	"context"
	"path/filepath"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// installYAML is the chart rendered with its defaults: the webhook
// configurations users install.
func installYAML() string { return filepath.Join(suite.root, "manifests", "install.yaml") }

// startSharedWebhook starts the webhook server the webhook tests share
// (sweeper off: sweeper tests run their own) with a fresh CA, and installs the
// webhook configurations of manifests/install.yaml pointing at it.
func startSharedWebhook() (func(), error) {
	e, err := testenv.StartEnforcerWith(context.Background(), suite.client, testenv.EnforcerOptions{
		Binary: suite.binary, Kubeconfig: suite.kubeconfig, Dir: suite.tmp, InstallYAML: installYAML(),
		Args: []string{"--enable-sweeper=false"},
	})
	if err != nil {
		return nil, err
	}
	p := &proc{e.Proc}
	suite.webhook, suite.webhookCA, suite.webhookAt = p, e.CA, e.WebhookAddr
	return p.stop, nil
}
