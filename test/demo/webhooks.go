package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// manifestFiles are where the webhook configurations are read from, first
// match wins: the rendered install manifest (from the Helm chart), then the
// standalone file it replaces. The demo registers what users install.
var manifestFiles = []string{
	filepath.Join("manifests", "install.yaml"),
	filepath.Join("manifests", "webhooks.yaml"),
}

// registerWebhooks registers the project's Mutating and Validating webhook
// configurations, with each Service reference turned into a URL on the local
// binary (a real cluster reaches it through the Service) and the demo CA, and
// waits until the API server calls them.
func (d *demo) registerWebhooks(ctx context.Context, hostPort string, caPEM []byte) error {
	started := time.Now()
	file, mutating, validating, err := readWebhookConfigs(d.root)
	if err != nil {
		return err
	}
	for i := range mutating.Webhooks {
		pointAt(&mutating.Webhooks[i].ClientConfig, hostPort, caPEM)
	}
	for i := range validating.Webhooks {
		pointAt(&validating.Webhooks[i].ClientConfig, hostPort, caPEM)
	}
	// Validating first: by the time the mutating one answers (what
	// waitWebhooksActive sees), the validating one has had longer to load.
	for _, obj := range []client.Object{validating, mutating} {
		if err := d.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("registering %s: %w", obj.GetName(), err)
		}
	}
	if err := d.waitWebhooksActive(ctx, 30*time.Second); err != nil {
		return err
	}
	d.say(fmt.Sprintf("- webhook configurations from %s, pointed at https://%s: active in %s",
		file, hostPort, since(started)))
	return nil
}

// readWebhookConfigs returns the configurations from the first manifest file
// that holds both, and that file's name.
func readWebhookConfigs(root string) (string, *admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var errs []error
	for _, file := range manifestFiles {
		data, err := os.ReadFile(filepath.Join(root, file))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", nil, nil, err
		}
		m, v, err := parseWebhookConfigs(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
			continue
		}
		return file, m, v, nil
	}
	if len(errs) == 0 {
		return "", nil, nil, fmt.Errorf("none of %s exists", strings.Join(manifestFiles, ", "))
	}
	return "", nil, nil, errors.Join(errs...)
}

// parseWebhookConfigs picks the Mutating and Validating webhook
// configurations out of a multi-document manifest, ignoring other kinds.
func parseWebhookConfigs(data []byte) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
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
			return nil, nil, err
		}
	}
	if mutating == nil || validating == nil {
		return nil, nil, errors.New("want one MutatingWebhookConfiguration and one ValidatingWebhookConfiguration")
	}
	return mutating, validating, nil
}

// pointAt turns a webhook's Service reference into a URL on hostPort with the
// same path, trusted through caPEM.
func pointAt(cc *admissionregistrationv1.WebhookClientConfig, hostPort string, caPEM []byte) {
	path := ""
	if cc.Service != nil && cc.Service.Path != nil {
		path = *cc.Service.Path
	}
	url := "https://" + hostPort + path
	cc.URL, cc.Service, cc.CABundle = &url, nil, caPEM
}

// waitWebhooksActive waits until the API server calls the mutating webhook:
// a server-side dry run (nothing is stored) of a pod whose deadline passed an
// hour ago is refused with our message. The API server loads new
// configurations asynchronously, so the first pods could otherwise slip by.
func (d *demo) waitWebhooksActive(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		probe := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				GenerateName: "webhook-probe-",
				Namespace:    "default",
				Annotations:  map[string]string{deadlineKey: time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
			},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "base", Image: "alpine:3.20"}}},
		}
		last = d.client.Create(ctx, probe, client.DryRunAll)
		if last != nil && strings.Contains(last.Error(), "the task has exceeded its execution_timeout") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the API server never called the webhook (last answer: %v); airflow-pod-deadline log:\n%s", last, d.app.tail(20))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
