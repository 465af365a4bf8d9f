package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// stopTimeout is how long etcd and kube-apiserver get to exit after SIGTERM
// before envtest kills them.
const stopTimeout = 20 * time.Second

// startControlPlane starts etcd and kube-apiserver from bin/ with
// controller-runtime's envtest, their data, certificates and logs in the
// scratch directory, and writes an admin kubeconfig for kubectl and the
// binary. There is no scheduler, controller-manager or kubelet: pods are
// stored and never run, which is all the story needs.
func (d *demo) startControlPlane(ctx context.Context) error {
	started := time.Now()
	bin := filepath.Join(d.root, "bin")
	logFile, err := os.Create(d.path("control-plane.log"))
	if err != nil {
		return err
	}
	// envtest logs through controller-runtime; keep that out of the story.
	logf.SetLogger(zap.New(zap.WriteTo(logFile)))
	apiServerCerts := d.path("kube-apiserver")
	if err := os.MkdirAll(apiServerCerts, 0o700); err != nil {
		return err
	}
	env := &envtest.Environment{
		// Never a real cluster (USE_EXISTING_CLUSTER=true): the demo creates pods.
		UseExistingCluster:       ptr.To(false),
		BinaryAssetsDirectory:    bin,
		ControlPlaneStartTimeout: time.Minute, // a busy laptop can be slow the first time
		ControlPlaneStopTimeout:  stopTimeout,
		ControlPlane: envtest.ControlPlane{
			// Explicit paths: KUBEBUILDER_ASSETS must not swap in other binaries.
			Etcd:        &envtest.Etcd{Path: filepath.Join(bin, "etcd"), DataDir: d.path("etcd"), Out: logFile, Err: logFile},
			APIServer:   &envtest.APIServer{Path: filepath.Join(bin, "kube-apiserver"), CertDir: apiServerCerts, Out: logFile, Err: logFile},
			KubectlPath: d.kubectlPath,
		},
	}
	// Registered before Start: a start that fails half-way may have left etcd running.
	d.onExit("stopped kube-apiserver and etcd", func() error {
		defer logFile.Close()
		err := env.Stop()
		// envtest sends SIGTERM, and SIGKILL to a process still running
		// after ControlPlaneStopTimeout: it is gone either way. Seen once on
		// a heavily loaded machine; worth a note, not a failed demo.
		if err != nil && strings.Contains(err.Error(), "timeout waiting for process") {
			d.say(fmt.Sprintf("note: %v after %s; envtest killed it (SIGKILL)", err, stopTimeout))
			return nil
		}
		return err
	})
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting etcd and kube-apiserver (log: %s): %w", logFile.Name(), err)
	}
	if err := ctx.Err(); err != nil { // Start cannot be interrupted; notice a Ctrl-C now
		return err
	}

	admin, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.kubeconfig, kubeconfig, 0o600); err != nil {
		return err
	}
	if d.client, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		return err
	}
	d.say(fmt.Sprintf("- etcd + kube-apiserver at %s (no nodes, no scheduler): ready in %s",
		cfg.Host, since(started)))
	return nil
}

// since is the time elapsed since t, rounded for people.
func since(t time.Time) time.Duration {
	return time.Since(t).Round(100 * time.Millisecond)
}
