// Command cluster runs the local test cluster (etcd, kube-apiserver,
// kube-scheduler, kube-controller-manager and hollow nodes, all on
// 127.0.0.1) until Ctrl-C, for trying things by hand with bin/kubectl:
//
//	make cluster            # or: go run ./test/cluster -nodes 2
//	export KUBECONFIG=...   # the path it prints
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

func main() {
	nodes := flag.Int("nodes", 2, "hollow nodes to start")
	binDir := flag.String("bin", "bin", "directory of the Kubernetes binaries (make bin-tools)")
	keep := flag.Bool("keep", false, "keep the scratch directory (logs, kubeconfig) at exit")
	flag.Parse()
	if err := run(*binDir, *nodes, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(binDir string, nodes int, keep bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "apd-cluster-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	bin, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	start := time.Now()
	c, err := testenv.StartCluster(ctx, bin, testenv.ClusterOptions{Options: testenv.Options{Dir: dir, DataInDir: true}, Nodes: nodes})
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()
	fmt.Printf("cluster with %d hollow nodes ready in %s\n", nodes, time.Since(start).Round(100*time.Millisecond))
	fmt.Printf("export KUBECONFIG=%s\nlogs in %s\nCtrl-C stops it.\n", c.Kubeconfig, dir)
	<-ctx.Done()
	return nil
}
