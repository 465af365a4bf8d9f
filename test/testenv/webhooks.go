package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/certs"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// WebhookConfigs reads the Mutating and the Validating webhook configuration
// from a multi-document YAML file (manifests/install.yaml).
func WebhookConfigs(path string) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
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

// PointAt rewrites a webhook's Service reference into a URL on a local
// server, as the API server would reach the Service, trusting ca.
func PointAt(cc *admissionregistrationv1.WebhookClientConfig, hostPort string, ca []byte) {
	path := ""
	if cc.Service != nil && cc.Service.Path != nil {
		path = *cc.Service.Path
	}
	url := "https://" + hostPort + path
	cc.URL, cc.Service, cc.CABundle = &url, nil, ca
}

// InstallWebhooks creates (or replaces) the configurations from path, served
// at hostPort with the given CA.
func InstallWebhooks(ctx context.Context, c client.Client, path, hostPort string, ca []byte) error {
	_, err := InstallWebhooksAs(ctx, c, path, "", deadline.DefaultPrefix, hostPort, ca)
	return err
}

// InstallWebhooksAs creates (or replaces) the configurations from path, named
// name (empty: as there), matching the annotations of prefix, served at
// hostPort with the given CA (nil: none, for a binary that injects its own),
// and returns them. StartEnforcerWith installs through it; call it directly
// only where the configurations must come at a moment of the test's choosing.
func InstallWebhooksAs(ctx context.Context, c client.Client, path, name, prefix, hostPort string, ca []byte) ([]client.Object, error) {
	mutating, validating, err := WebhookConfigs(path)
	if err != nil {
		return nil, err
	}
	if name != "" {
		mutating.Name, validating.Name = name, name
	}
	// The keys are CEL string literals: 'airflow-pod-deadline.io/...'. The
	// quote keeps a rendering for another prefix that ends in the default
	// one (rbac.airflow-pod-deadline.io) as it is.
	retarget := func(conds []admissionregistrationv1.MatchCondition) {
		for i := range conds {
			conds[i].Expression = strings.ReplaceAll(conds[i].Expression, "'"+deadline.DefaultPrefix+"/", "'"+prefix+"/")
		}
	}
	for i := range mutating.Webhooks {
		PointAt(&mutating.Webhooks[i].ClientConfig, hostPort, ca)
		retarget(mutating.Webhooks[i].MatchConditions)
	}
	for i := range validating.Webhooks {
		PointAt(&validating.Webhooks[i].ClientConfig, hostPort, ca)
		retarget(validating.Webhooks[i].MatchConditions)
	}
	// Validating first: by the time the mutating one answers (what
	// WaitWebhookActive sees), the validating one has had longer to load.
	objs := []client.Object{validating, mutating}
	for _, obj := range objs {
		if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		if err := c.Create(ctx, obj); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// WaitWebhookActive waits until the API server calls the mutating webhook of
// the annotations of prefix: a server-side dry run (nothing is stored) of a
// pod whose deadline passed an hour ago is refused with our message. The API server loads new
// configurations asynchronously, so pods created right away could slip by.
func WaitWebhookActive(ctx context.Context, c client.Client, prefix string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		probe := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				GenerateName: "webhook-probe-",
				Namespace:    "default",
				Annotations: map[string]string{
					deadline.NewKeys(prefix).Deadline: deadline.Format(time.Now().Add(-time.Hour)),
				},
			},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "base", Image: "alpine:3.20"}}},
		}
		last = c.Create(ctx, probe, client.DryRunAll)
		if last != nil && strings.Contains(last.Error(), "the task has exceeded its execution_timeout") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the API server never called the webhook (last answer: %v)", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// LoopbackCerts writes a fresh CA and a serving certificate for 127.0.0.1
// into dir and returns the CA's PEM for the webhooks' caBundle.
func LoopbackCerts(dir string) ([]byte, error) {
	now := time.Now()
	ca, err := certs.NewCA("airflow-pod-deadline-local-ca", now, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	serving, err := ca.IssueServing(nil, []net.IP{net.ParseIP("127.0.0.1")}, now, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	if err := certs.WriteDir(dir, serving, ca.CertPEM); err != nil {
		return nil, err
	}
	return ca.CertPEM, nil
}
