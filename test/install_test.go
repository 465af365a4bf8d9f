package test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/certs"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

// webhookConfigs reads the Mutating and Validating configurations from a
// multi-document YAML file.
func webhookConfigs(path string) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var mutating *admissionregistrationv1.MutatingWebhookConfiguration
	var validating *admissionregistrationv1.ValidatingWebhookConfiguration
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, nil, err
		}
		switch meta.Kind {
		case "MutatingWebhookConfiguration":
			mutating = &admissionregistrationv1.MutatingWebhookConfiguration{}
			err = yaml.UnmarshalStrict(doc, mutating)
		case "ValidatingWebhookConfiguration":
			validating = &admissionregistrationv1.ValidatingWebhookConfiguration{}
			err = yaml.UnmarshalStrict(doc, validating)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if mutating == nil || validating == nil {
		return nil, nil, fmt.Errorf("%s: want one Mutating and one ValidatingWebhookConfiguration", path)
	}
	return mutating, validating, nil
}

// pointAt rewrites a webhook's Service reference into a URL on the local
// server, as the API server would reach the Service.
func pointAt(cc *admissionregistrationv1.WebhookClientConfig, hostPort string, ca []byte) {
	path := ""
	if cc.Service != nil && cc.Service.Path != nil {
		path = *cc.Service.Path
	}
	url := "https://" + hostPort + path
	cc.URL, cc.Service, cc.CABundle = &url, nil, ca
}

// installWebhooks creates (or replaces) the configurations from path, served
// at hostPort with the given CA.
func installWebhooks(ctx context.Context, c client.Client, path, hostPort string, ca []byte) error {
	mutating, validating, err := webhookConfigs(path)
	if err != nil {
		return err
	}
	for i := range mutating.Webhooks {
		pointAt(&mutating.Webhooks[i].ClientConfig, hostPort, ca)
	}
	for i := range validating.Webhooks {
		pointAt(&validating.Webhooks[i].ClientConfig, hostPort, ca)
	}
	for _, obj := range []client.Object{mutating, validating} {
		if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err := c.Create(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// startSharedWebhook starts the webhook server the webhook tests share
// (sweeper off: sweeper tests run their own) with a fresh CA, and installs the
// webhook configurations of manifests/install.yaml (the Helm chart rendered
// with its defaults) pointing at it.
func startSharedWebhook() (func(), error) {
	now := time.Now()
	ca, err := certs.NewCA("airflow-pod-deadline-test-ca", now, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	serving, err := ca.IssueServing(nil, []net.IP{net.ParseIP("127.0.0.1")}, now, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(suite.tmp, "webhook-certs")
	if err := certs.WriteDir(certDir, serving, ca.CertPEM); err != nil {
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
	stop := func() {
		p.stop()
	}
	if err := p.waitReady(30 * time.Second); err != nil {
		stop()
		return nil, err
	}
	suite.webhook, suite.webhookCA = p, ca.CertPEM
	ctx := context.Background()
	if err := installWebhooks(ctx, suite.client, filepath.Join(suite.root, "manifests", "install.yaml"), fmt.Sprintf("127.0.0.1:%d", port), ca.CertPEM); err != nil {
		stop()
		return nil, err
	}
	if err := waitWebhookActive(ctx, 30*time.Second); err != nil {
		stop()
		return nil, fmt.Errorf("%w; webhook log:\n%s", err, p.tail(30))
	}
	return stop, nil
}

// waitWebhookActive waits until the API server calls our webhook: a
// server-side dry-run create of a late pod is refused with our message.
func waitWebhookActive(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		pod := kpoPod("default", map[string]string{deadlineKey: webhook.FormatDeadline(time.Now().Add(-time.Hour))}, nil)
		last = suite.client.Create(ctx, pod, client.DryRunAll)
		if last != nil && strings.Contains(last.Error(), "the task has exceeded its execution_timeout") {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("webhook never became active; last answer: %v", last)
}
