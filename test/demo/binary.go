package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// installManifest holds the webhook configurations users install: the Helm
// chart rendered with its defaults.
var installManifest = filepath.Join("manifests", "install.yaml")

// startBinary runs the airflow-pod-deadline binary as its own process with
// the webhook and the sweeper on, every address on loopback, and registers
// the project's Mutating and Validating webhook configurations, each Service
// reference turned into a URL on the local binary (a real cluster reaches it
// through the Service) trusting a CA of the demo's own. It is the tests' own
// way (testenv.StartEnforcer): it waits until the binary is ready and the
// API server calls the webhooks.
func (d *demo) startBinary(ctx context.Context, binary string) error {
	started := time.Now()
	e, err := testenv.StartEnforcer(ctx, d.client, binary, d.kubeconfig, d.tmp, filepath.Join(d.root, installManifest))
	if err != nil {
		return fmt.Errorf("airflow-pod-deadline: %w", err)
	}
	d.app = e.Proc
	// Registered right after the start, so a failure from here on still stops it.
	d.onExit("stopped airflow-pod-deadline with SIGTERM, clean exit", func() error { return e.Stop(15 * time.Second) })
	d.metricsURL = "http://" + e.MetricsAddr + "/metrics"

	d.say("- a CA and a serving certificate for 127.0.0.1 in " + e.CertDir)
	// Shown as a shell line so a reader can run the binary the same way.
	shown := binary
	if rel, err := filepath.Rel(d.root, binary); err == nil && !strings.HasPrefix(rel, "..") {
		shown = rel
	}
	fmt.Fprintf(d.out, "$ %s \\\n    %s \\\n    >%s 2>&1 &\n", shown, strings.Join(e.Cmd.Args[1:], " \\\n    "), e.Log)
	d.say(fmt.Sprintf("- airflow-pod-deadline (webhook on %s, sweeper on) ready, and the webhook configurations from %s pointed at https://%s active: in %s",
		e.WebhookAddr, installManifest, e.WebhookAddr, since(started)))
	return nil
}
