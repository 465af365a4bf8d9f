package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cluster is a control plane whose pods run: kube-scheduler,
// kube-controller-manager (node lifecycle, pod GC, namespaces, ...) and
// hollow nodes (the real kubelet over a fake container runtime, see
// test/tools/hollownode) next to etcd and kube-apiserver. Every process
// listens on 127.0.0.1 only.
type Cluster struct {
	*ControlPlane
	Scheduler         *Proc
	ControllerManager *Proc
	Nodes             []*Node
	dir               string
	binDir            string
	labels            map[string]string
	nodeFlags         []string
	mu                sync.Mutex
}

// ClusterOptions tune StartCluster.
type ClusterOptions struct {
	Options
	// Nodes is how many hollow nodes to start (0: none; pods are scheduled
	// nowhere and stay Pending).
	Nodes int
	// NodeLabels are extra labels on every node.
	NodeLabels map[string]string
	// NodeFlags are extra hollow-node flags (e.g. --max-pods=250).
	NodeFlags []string
	// NodeMonitorGracePeriod is how long a node may miss heartbeats before
	// the controller-manager marks it NotReady (0: 20s).
	NodeMonitorGracePeriod time.Duration
}

// OnSigtermAnnotation on a pod tells the hollow node how its containers
// answer a stop: "exit" (default: at once, 143) or "ignore" (PID 1 without a
// SIGTERM handler: killed when the grace period ends, 137). The same
// constant is in test/tools/hollownode/runtime.go.
const OnSigtermAnnotation = "hollow-node.airflow-pod-deadline.io/on-sigterm"

// NodeNamePrefix names the hollow nodes: hollow-node-0, hollow-node-1, ...
const NodeNamePrefix = "hollow-node-"

// StartCluster starts a control plane, then kube-scheduler,
// kube-controller-manager and o.Nodes hollow nodes, and waits until every
// node is Ready and schedulable. Stop stops them all.
func StartCluster(ctx context.Context, binDir string, o ClusterOptions) (*Cluster, error) {
	for _, b := range []string{"kube-scheduler", "kube-controller-manager", "hollow-node"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return nil, fmt.Errorf("%s missing in %s: run `make bin-tools`", b, binDir)
		}
	}
	// The API server dials a kubelet (logs, exec) at the node's InternalIP,
	// 127.0.0.1, never at a host name that would need DNS.
	o.APIServerFlags = append(o.APIServerFlags, "kubelet-preferred-address-types=InternalIP")
	cp, err := StartControlPlane(binDir, o.Options)
	if err != nil {
		return nil, err
	}
	c := &Cluster{ControlPlane: cp, dir: o.Dir, binDir: binDir}
	if err := c.start(ctx, o); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, o ClusterOptions) error {
	ports, err := FreePorts(2)
	if err != nil {
		return err
	}
	c.Scheduler, err = StartComponent(filepath.Join(c.binDir, "kube-scheduler"), filepath.Join(c.dir, "kube-scheduler.log"), nil,
		"--kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig,
		"--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[0]),
		"--leader-elect=false",
	)
	if err != nil {
		return err
	}
	grace := o.NodeMonitorGracePeriod
	if grace == 0 {
		grace = 20 * time.Second
	}
	c.ControllerManager, err = StartComponent(filepath.Join(c.binDir, "kube-controller-manager"), filepath.Join(c.dir, "kube-controller-manager.log"), nil,
		"--kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig,
		"--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[1]),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		// No cloud, no certificates to sign, no service-account tokens
		// (envtest's API server does not admit ServiceAccount).
		"--controllers=*,-certificatesigningrequest-signing-controller,-serviceaccount-token-controller",
		"--node-monitor-period=1s",
		"--node-monitor-grace-period="+grace.String(),
	)
	if err != nil {
		return err
	}
	c.labels, c.nodeFlags = o.NodeLabels, o.NodeFlags
	for range o.Nodes {
		if _, err := c.startNode(nil); err != nil {
			return err
		}
	}
	return c.WaitNodesReady(ctx, 2*time.Minute)
}

// AddNode starts one more hollow node with extra labels and waits until it
// is schedulable.
func (c *Cluster) AddNode(ctx context.Context, labels map[string]string) (*Node, error) {
	n, err := c.startNode(labels)
	if err != nil {
		return nil, err
	}
	return n, c.WaitNodesReady(ctx, 2*time.Minute)
}

func (c *Cluster) startNode(extra map[string]string) (*Node, error) {
	c.mu.Lock()
	n := &Node{Name: fmt.Sprintf("%s%d", NodeNamePrefix, len(c.Nodes)), cluster: c, labels: map[string]string{}}
	for _, m := range []map[string]string{c.labels, extra} {
		for k, v := range m {
			n.labels[k] = v
		}
	}
	c.Nodes = append(c.Nodes, n)
	c.mu.Unlock()
	return n, n.Start()
}

// WaitNodesReady waits until every started node is Ready and carries no
// not-ready taint, so the scheduler places pods on it.
func (c *Cluster) WaitNodesReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ready, err := c.readyNodes(ctx)
		if err == nil && ready == len(c.Nodes) {
			return nil
		}
		for _, comp := range c.components() {
			select {
			case <-comp.exited:
				return fmt.Errorf("%s exited (%v):\n%s", filepath.Base(comp.Cmd.Path), comp.waitErr, comp.Tail(20))
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d nodes ready after %s (%v)", ready, len(c.Nodes), timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) readyNodes(ctx context.Context) (int, error) {
	var nodes corev1.NodeList
	if err := c.Client.List(ctx, &nodes, client.HasLabels{"kubernetes.io/hostname"}); err != nil {
		return 0, err
	}
	ready := 0
	for _, n := range nodes.Items {
		if NodeSchedulable(&n) {
			ready++
		}
	}
	return ready, nil
}

// NodeSchedulable reports whether n is Ready and free of the taints the
// kubelet and the node lifecycle controller set on a node that is not.
func NodeSchedulable(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (c *Cluster) components() []*Proc {
	var all []*Proc
	for _, comp := range []*Proc{c.Scheduler, c.ControllerManager} {
		if comp != nil {
			all = append(all, comp)
		}
	}
	for _, n := range c.Nodes {
		if n.proc != nil {
			all = append(all, n.proc)
		}
	}
	return all
}

// Stop stops the nodes, the scheduler and the controller-manager, then the
// control plane.
func (c *Cluster) Stop() error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.Stop())
	}
	for _, comp := range []*Proc{c.Scheduler, c.ControllerManager} {
		if comp != nil {
			errs = append(errs, comp.Stop(10*time.Second))
		}
	}
	errs = append(errs, c.ControlPlane.Stop())
	return errors.Join(errs...)
}

// Node is one hollow node: a kubelet process with its own port on
// 127.0.0.1 and its own scratch directory.
type Node struct {
	Name    string
	Port    int
	cluster *Cluster
	labels  map[string]string
	proc    *Proc
	starts  int
}

// Start starts (or restarts, after Kill) the node's kubelet under the same
// name. A restarted kubelet has an empty runtime: it finds the pods bound
// to it and finishes what the API server asked (deletions included).
func (n *Node) Start() error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	n.Port = port
	n.starts++
	dir := filepath.Join(n.cluster.dir, fmt.Sprintf("%s.%d", n.Name, n.starts))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := []string{
		"--kubeconfig=" + n.cluster.Kubeconfig,
		"--name=" + n.Name,
		"--node-ip=127.0.0.1",
		"--kubelet-port=" + strconv.Itoa(port),
		"--v=1",
	}
	if len(n.labels) > 0 {
		var l string
		for k, v := range n.labels {
			if l != "" {
				l += ","
			}
			l += k + "=" + v
		}
		args = append(args, "--node-labels="+l)
	}
	args = append(args, n.cluster.nodeFlags...)
	// TMPDIR: kubemark keeps the kubelet's root directory in a temp dir.
	n.proc, err = StartComponent(filepath.Join(n.cluster.binDir, "hollow-node"), filepath.Join(dir, "kubelet.log"), []string{"TMPDIR=" + dir}, args...)
	return err
}

// Kill ends the kubelet at once, as a node that loses power: its pods stay
// bound to it and nobody confirms their end.
func (n *Node) Kill() {
	if n.proc != nil {
		n.proc.Kill()
		n.proc = nil
	}
}

// Stop stops the kubelet gracefully, if it runs.
func (n *Node) Stop() error {
	if n.proc == nil {
		return nil
	}
	err := n.proc.Stop(10 * time.Second)
	n.proc = nil
	return err
}

// Log is the path of the running kubelet's output.
func (n *Node) Log() string {
	if n.proc == nil {
		return ""
	}
	return n.proc.Log
}

// Tail returns the last n lines of the file at path.
func Tail(path string, n int) string {
	return tailFile(path, n)
}
