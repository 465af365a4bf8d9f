package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// stopTimeout is how long etcd and kube-apiserver get to exit after SIGTERM
// before envtest kills them.
const stopTimeout = 20 * time.Second

// nodes is how many hollow nodes the demo cluster has.
const nodes = 2

// startControlPlane starts a local cluster from bin/: etcd, kube-apiserver,
// kube-scheduler, kube-controller-manager and two hollow nodes (the real
// kubelet over a fake container runtime), their data, certificates and logs
// in the scratch directory, and writes an admin kubeconfig for kubectl and
// the binary.
func (d *demo) startControlPlane(ctx context.Context) error {
	started := time.Now()
	logFile, err := os.Create(d.path("control-plane.log"))
	if err != nil {
		return err
	}
	// envtest logs through controller-runtime; keep that out of the story.
	logf.SetLogger(zap.New(zap.WriteTo(logFile)))
	cp, err := testenv.StartCluster(ctx, filepath.Join(d.root, "bin"), testenv.ClusterOptions{
		Options: testenv.Options{Dir: d.tmp, DataInDir: true, Log: logFile, StopTimeout: stopTimeout},
		Nodes:   nodes,
	})
	if err != nil {
		logFile.Close()
		return fmt.Errorf("%w (log: %s)", err, logFile.Name())
	}
	d.onExit("stopped the nodes, kube-scheduler, kube-controller-manager, kube-apiserver and etcd", func() error {
		defer logFile.Close()
		err := cp.Stop()
		// envtest sends SIGTERM, and SIGKILL to a process still running
		// after stopTimeout: it is gone either way. Seen once on a heavily
		// loaded machine; worth a note, not a failed demo.
		if err != nil && strings.Contains(err.Error(), "timeout waiting for process") {
			d.say(fmt.Sprintf("note: %v after %s; envtest killed it (SIGKILL)", err, stopTimeout))
			return nil
		}
		return err
	})
	if err := ctx.Err(); err != nil { // Start cannot be interrupted; notice a Ctrl-C now
		return err
	}
	d.kubeconfig, d.client = cp.Kubeconfig, cp.Client
	d.say(fmt.Sprintf("- etcd + kube-apiserver at %s, kube-scheduler, kube-controller-manager and %d hollow nodes: ready in %s",
		cp.Config.Host, nodes, since(started)))
	return nil
}

// since is the time elapsed since t, rounded for people.
func since(t time.Time) time.Duration {
	return time.Since(t).Round(100 * time.Millisecond)
}
