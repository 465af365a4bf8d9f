package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// installManifest holds the webhook configurations users install: the Helm
// chart rendered with its defaults.
var installManifest = filepath.Join("manifests", "install.yaml")

// registerWebhooks registers the project's Mutating and Validating webhook
// configurations, with each Service reference turned into a URL on the local
// binary (a real cluster reaches it through the Service) and the demo CA, and
// waits until the API server calls them.
func (d *demo) registerWebhooks(ctx context.Context, hostPort string, caPEM []byte) error {
	started := time.Now()
	mutating, validating, err := testenv.WebhookConfigs(filepath.Join(d.root, installManifest))
	if err != nil {
		return err
	}
	for i := range mutating.Webhooks {
		testenv.PointAt(&mutating.Webhooks[i].ClientConfig, hostPort, caPEM)
	}
	for i := range validating.Webhooks {
		testenv.PointAt(&validating.Webhooks[i].ClientConfig, hostPort, caPEM)
	}
	// Validating first: by the time the mutating one answers (what
	// WaitWebhookActive sees), the validating one has had longer to load.
	for _, obj := range []client.Object{validating, mutating} {
		if err := d.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("registering %s: %w", obj.GetName(), err)
		}
	}
	if err := testenv.WaitWebhookActive(ctx, d.client, 30*time.Second); err != nil {
		return fmt.Errorf("%w; airflow-pod-deadline log:\n%s", err, d.app.Tail(20))
	}
	d.say(fmt.Sprintf("- webhook configurations from %s, pointed at https://%s: active in %s",
		installManifest, hostPort, since(started)))
	return nil
}
