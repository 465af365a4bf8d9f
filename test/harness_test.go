package test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// suite is the shared real control plane and the binary under test.
var suite struct {
	root       string // repository root
	env        *envtest.Environment
	cfg        *rest.Config
	client     client.Client
	kubeconfig string // admin kubeconfig file for processes and kubectl
	binary     string // the airflow-pod-deadline binary built for this run
	tmp        string
	webhook    *proc // the shared webhook server (sweeper off)
	webhookCA  []byte
}

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	code, err := runSuite(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test suite setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runSuite(m *testing.M) (int, error) {
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	suite.root = filepath.Dir(wd)
	bin := filepath.Join(suite.root, "bin")
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return 0, fmt.Errorf("%s missing in bin/: run `make bin-tools` (make test does)", b)
		}
	}
	if suite.tmp, err = os.MkdirTemp("", "apd-test-"); err != nil {
		return 0, err
	}
	defer os.RemoveAll(suite.tmp)

	suite.binary = filepath.Join(suite.tmp, "airflow-pod-deadline")
	build := exec.Command("go", "build", "-o", suite.binary, "./cmd/airflow-pod-deadline")
	build.Dir, build.Stdout, build.Stderr = suite.root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return 0, fmt.Errorf("building the binary: %w", err)
	}

	suite.env = &envtest.Environment{BinaryAssetsDirectory: bin}
	if suite.cfg, err = suite.env.Start(); err != nil {
		return 0, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	defer func() { _ = suite.env.Stop() }()
	if suite.client, err = client.New(suite.cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		return 0, err
	}
	admin, err := suite.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return 0, err
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return 0, err
	}
	suite.kubeconfig = filepath.Join(suite.tmp, "kubeconfig")
	if err := os.WriteFile(suite.kubeconfig, kc, 0o600); err != nil {
		return 0, err
	}

	stop, err := startSharedWebhook()
	if err != nil {
		return 0, err
	}
	defer stop()
	return m.Run(), nil
}

// proc is one airflow-pod-deadline process.
type proc struct {
	cmd         *exec.Cmd
	log         string
	metricsAddr string
	probeAddr   string
	exited      chan struct{}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startProc runs the binary with the kubeconfig, loopback metrics and probe
// addresses, and args. Its log goes to a file in dir.
func startProc(dir string, args ...string) (*proc, error) {
	mp, err := freePort()
	if err != nil {
		return nil, err
	}
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &proc{
		metricsAddr: fmt.Sprintf("127.0.0.1:%d", mp),
		probeAddr:   fmt.Sprintf("127.0.0.1:%d", pp),
		exited:      make(chan struct{}),
	}
	f, err := os.CreateTemp(dir, "airflow-pod-deadline-*.log")
	if err != nil {
		return nil, err
	}
	p.log = f.Name()
	all := append([]string{
		"--kubeconfig=" + suite.kubeconfig,
		"--metrics-bind-address=" + p.metricsAddr,
		"--health-probe-bind-address=" + p.probeAddr,
	}, args...)
	p.cmd = exec.Command(suite.binary, all...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() {
		_ = p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

// startTestProc starts a process owned by t: stopped at the end, its log
// printed if t failed.
func startTestProc(t testing.TB, args ...string) *proc {
	t.Helper()
	p, err := startProc(t.TempDir(), args...)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	require.NoError(t, p.waitReady(30*time.Second), "process never became ready")
	return p
}

func (p *proc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited early: %s", p.tail(20))
		default:
		}
		resp, err := http.Get("http://" + p.probeAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %s", timeout, p.tail(20))
}

// stop sends SIGTERM and waits for a clean exit, killing after 20s.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// kill ends the process without letting it clean up, as a crash would.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) dumpLog(t testing.TB) {
	t.Logf("log of %s:\n%s", strings.Join(p.cmd.Args[1:], " "), p.tail(200))
}

// metrics scrapes the process's Prometheus endpoint.
func (p *proc) metrics(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + p.metricsAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bufio.NewReader(resp.Body))
	require.NoError(t, err)
	return families
}

// metric returns the value of the series of family name whose labels include
// the given ones, summed over the matching series (0 when there is none).
func (p *proc) metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	fam, ok := p.metrics(t)[name]
	if !ok {
		return 0
	}
	var sum float64
series:
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// newNamespace creates a namespace for one test and deletes it afterwards.
func newNamespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	require.NoError(t, suite.client.Create(context.Background(), ns))
	t.Cleanup(func() { _ = suite.client.Delete(context.Background(), ns) })
	return ns.Name
}
