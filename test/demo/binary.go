package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// writeCertificates creates a CA and a serving certificate for 127.0.0.1,
// where the webhook listens, and writes them for --cert-dir. The API server
// gets the CA through the webhook configurations' caBundle.
func (d *demo) writeCertificates() (caPEM []byte, err error) {
	if caPEM, err = testenv.LoopbackCerts(d.path("certs")); err != nil {
		return nil, err
	}
	d.say("- a CA and a serving certificate for 127.0.0.1 in " + d.path("certs"))
	return caPEM, nil
}

// startBinary runs the airflow-pod-deadline binary as its own process with
// the webhook and the sweeper on, every address on loopback, and waits until
// it is ready. It returns the webhook's host:port.
func (d *demo) startBinary(ctx context.Context, binary string) (string, error) {
	started := time.Now()
	port, err := testenv.FreePort()
	if err != nil {
		return "", err
	}
	webhookAddr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := testenv.Start(binary, d.kubeconfig, d.path("airflow-pod-deadline.log"),
		"--webhook-bind-address=127.0.0.1", fmt.Sprintf("--webhook-port=%d", port), "--cert-dir="+d.path("certs"))
	if err != nil {
		return "", err
	}
	d.app = p
	// Registered right after the start, so a failure from here on still stops it.
	d.onExit("stopped airflow-pod-deadline with SIGTERM, clean exit", func() error { return p.Stop(15 * time.Second) })
	d.metricsURL = "http://" + p.MetricsAddr + "/metrics"

	// Shown as a shell line so a reader can run the binary the same way.
	shown := binary
	if rel, err := filepath.Rel(d.root, binary); err == nil && !strings.HasPrefix(rel, "..") {
		shown = rel
	}
	fmt.Fprintf(d.out, "$ %s \\\n    %s \\\n    >%s 2>&1 &\n", shown, strings.Join(p.Cmd.Args[1:], " \\\n    "), p.Log)

	if err := p.WaitReady(ctx, 30*time.Second); err != nil {
		return "", fmt.Errorf("airflow-pod-deadline: %w", err)
	}
	d.say(fmt.Sprintf("- airflow-pod-deadline (webhook on %s, sweeper on): ready in %s", webhookAddr, since(started)))
	return webhookAddr, nil
}
