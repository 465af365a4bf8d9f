// Command hollow-node is a Kubernetes node for tests on one machine: the
// real kubelet of k8s.io/kubernetes (the one Kubernetes' own scalability
// tests run as "kubemark") over an in-process fake container runtime.
//
// It is kubemark's hollow kubelet with the three things a loopback-only test
// cluster needs and cmd/kubemark lacks:
//
//   - the node's InternalIP is --node-ip (127.0.0.1) and the kubelet API
//     listens only there, on its own --kubelet-port, serving TLS with a
//     self-signed certificate and no authentication, so the API server can
//     read logs (KPO does) without any traffic leaving loopback;
//   - containers end the way containerd's do: a stop exits 143 (SIGTERM) or
//     137 (SIGKILL), never 0 (see runtime/);
//   - a container runs its command in a tiny interpreter (sleep, echo, exit),
//     so a pod can finish on its own, and what it echoes is in its log.
//
// The kubelet's own events (Scheduled is the scheduler's; Started, Killing,
// DeadlineExceeded are the kubelet's) are recorded to the API server, unlike
// kubemark, which discards them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/version/verflag"
	remote "k8s.io/cri-client/pkg"
	fakeremote "k8s.io/cri-client/pkg/fake"
	"k8s.io/klog/v2"
	kubeletapp "k8s.io/kubernetes/cmd/kubelet/app"
	cadvisortest "k8s.io/kubernetes/pkg/kubelet/cadvisor/testing"
	"k8s.io/kubernetes/pkg/kubelet/cm"
	"k8s.io/kubernetes/pkg/kubemark"
	utilflag "k8s.io/kubernetes/pkg/util/flag"

	hollowruntime "github.com/airflow-pod-deadline/airflow-pod-deadline/test/tools/hollownode/runtime"
)

type options struct {
	kubeconfig  string
	name        string
	nodeIP      string
	kubeletPort int
	maxPods     int
	qps         float32
	burst       int
	labels      map[string]string
	taints      []v1.Taint
}

func main() {
	o := options{labels: map[string]string{}}
	fs := pflag.NewFlagSet("hollow-node", pflag.ExitOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the API server to register with")
	fs.StringVar(&o.name, "name", "hollow-node", "node name")
	fs.StringVar(&o.nodeIP, "node-ip", "127.0.0.1", "the node's InternalIP and the kubelet API's listen address (loopback)")
	fs.IntVar(&o.kubeletPort, "kubelet-port", 10250, "kubelet API port (one per node on a shared address)")
	fs.IntVar(&o.maxPods, "max-pods", 110, "pods the node accepts")
	fs.Float32Var(&o.qps, "kube-api-qps", 50, "the kubelet's QPS to the API server")
	fs.IntVar(&o.burst, "kube-api-burst", 100, "the kubelet's burst to the API server")
	labels := cliflag.ConfigurationMap(o.labels)
	fs.Var(&labels, "node-labels", "extra node labels (k=v,...)")
	fs.Var(utilflag.RegisterWithTaintsVar{Value: &o.taints}, "register-with-taints", "taints to register with (k=v:Effect,...)")
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	fs.AddGoFlagSet(klogFlags)
	verflag.AddFlags(fs)
	_ = fs.Parse(os.Args[1:])
	verflag.PrintAndExitIfRequested()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil && !errors.Is(err, context.Canceled) {
		klog.ErrorS(err, "hollow node failed")
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	ip := net.ParseIP(o.nodeIP)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--node-ip %q: must be a loopback address", o.nodeIP)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = o.qps, o.burst
	cfg.UserAgent = "hollow-node/" + o.name
	client, err := clientset.NewForConfig(cfg)
	if err != nil {
		return err
	}

	f, c := kubemark.GetHollowKubeletConfig(&kubemark.HollowKubeletOptions{
		NodeName:           o.name,
		KubeletPort:        o.kubeletPort,
		MaxPods:            o.maxPods,
		NodeLabels:         o.labels,
		RegisterWithTaints: o.taints,
	})
	// Loopback only: the kubelet API, and the address the API server dials.
	// The kubelet refuses a loopback --node-ip when it computes the node's
	// addresses (it logs that at every status update and leaves them alone),
	// so keepAddress sets them on the Node itself.
	f.NodeIP = o.nodeIP
	c.Address = o.nodeIP
	c.ReadOnlyPort = 0
	c.HealthzPort = 0 // 10248 would clash between nodes; the API server's view is the node's Ready condition
	f.CertDirectory = filepath.Join(f.RootDirectory, "pki")
	tls, err := kubeletapp.InitializeTLS(ctx, f, c)
	if err != nil {
		return fmt.Errorf("kubelet serving certificate: %w", err)
	}

	heartbeat := *cfg
	heartbeat.Timeout = c.NodeStatusUpdateFrequency.Duration
	heartbeat.QPS = -1
	heartbeatClient, err := clientset.NewForConfig(&heartbeat)
	if err != nil {
		return err
	}

	endpoint, err := fakeremote.GenerateEndpoint()
	if err != nil {
		return err
	}
	fake := fakeremote.NewFakeRemoteRuntime()
	if err := fake.Start(endpoint); err != nil {
		return fmt.Errorf("fake runtime: %w", err)
	}
	defer fake.Stop()
	remoteRuntime, err := remote.NewRemoteRuntimeServiceBuilder().WithEndpoint(endpoint).WithConnectionTimeout(15 * time.Second).Build(ctx)
	if err != nil {
		return fmt.Errorf("runtime client: %w", err)
	}

	hk := kubemark.NewHollowKubelet(f, c, client, heartbeatClient,
		&cadvisortest.Fake{NodeName: o.name},
		fake.ImageService, // never the host's: nothing is pulled
		hollowruntime.New(remoteRuntime, fake.RuntimeService),
		cm.NewStubContainerManager())
	hk.KubeletDeps.TLSOptions = tls
	// kubemark discards the kubelet's events; record them as a kubelet does.
	hk.KubeletDeps.Recorder = nil
	hk.KubeletDeps.EventClient = client.CoreV1()

	go keepAddress(ctx, client, o.name, o.nodeIP)
	go hk.Run(ctx) // blocks forever; the process ends with ctx
	<-ctx.Done()
	return ctx.Err()
}

// keepAddress makes the Node's only address {InternalIP: ip} (a Hostname
// address would have the API server resolve it)
// once the kubelet has registered it, and again if it is registered anew.
func keepAddress(ctx context.Context, client clientset.Interface, name, ip string) {
	want := []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: ip}}
	patch := fmt.Sprintf(`{"status":{"addresses":[{"type":%q,"address":%q}]}}`, v1.NodeInternalIP, ip)
	for {
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil && !sameAddresses(node.Status.Addresses, want) {
			_, err = client.CoreV1().Nodes().PatchStatus(ctx, name, []byte(patch))
			if err == nil {
				klog.InfoS("set node address", "node", name, "address", ip)
			}
		}
		if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			klog.ErrorS(err, "setting node address", "node", name)
		}
		wait := time.Second
		if err == nil {
			wait = 5 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func sameAddresses(have, want []v1.NodeAddress) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		if have[i] != want[i] {
			return false
		}
	}
	return true
}
