package testenv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Proc is a process the harness started: the airflow-pod-deadline binary
// (Start: with its metrics and probe addresses) or a Kubernetes component
// (StartComponent). Its output goes to Log; it runs in its own process group
// and, on Linux, gets SIGTERM if its parent dies without stopping it.
type Proc struct {
	Cmd *exec.Cmd
	Log string
	// MetricsAddr and ProbeAddr are the binary's loopback endpoints (empty
	// for a component).
	MetricsAddr string
	ProbeAddr   string
	exited      chan struct{}
	waitErr     error // the exit status, once exited is closed
	// lenient: Stop does not report an exit status or an earlier exit (a
	// Kubernetes component's exit code on SIGTERM is not ours to check).
	lenient bool
	// ended: Stop or Kill ended it, so a later Stop (a test's cleanup
	// after the test stopped it itself) has nothing to report.
	ended atomic.Bool
}

// Component is the old name of a Proc started by StartComponent.
type Component = Proc

// FreePorts returns n distinct loopback ports that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		// Kept open until all are chosen, so the kernel hands out distinct ports.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreePort returns one free loopback port.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// Start runs binary with kubeconfig, loopback metrics and probe addresses,
// and args; its output goes to logPath. The process is in its own process
// group (a Ctrl-C in a terminal reaches only its parent, which stops it in
// order) and, on Linux, gets SIGTERM if its parent dies without stopping it.
// Its Stop reports an unclean exit: the binary should stop cleanly.
func Start(binary, kubeconfig, logPath string, args ...string) (*Proc, error) {
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	metrics, probe := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	all := append([]string{
		"--kubeconfig=" + kubeconfig,
		"--metrics-bind-address=" + metrics,
		"--health-probe-bind-address=" + probe,
	}, args...)
	p, err := startProc(binary, logPath, nil, all, false)
	if err != nil {
		return nil, err
	}
	p.MetricsAddr, p.ProbeAddr = metrics, probe
	return p, nil
}

// StartComponent starts binary (a Kubernetes component) with args and extra
// environment, its output in logPath. Its Stop only reports a process that
// did not stop in time.
func StartComponent(binary, logPath string, env []string, args ...string) (*Proc, error) {
	return startProc(binary, logPath, env, args, true)
}

func startProc(binary, logPath string, env, args []string, lenient bool) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &Proc{Log: logPath, exited: make(chan struct{}), lenient: lenient}
	p.Cmd = exec.Command(binary, args...)
	p.Cmd.Stdout, p.Cmd.Stderr = f, f
	if len(env) > 0 {
		p.Cmd.Env = append(os.Environ(), env...)
	}
	p.Cmd.SysProcAttr = ChildProcAttr(true)
	if err := p.Cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	go func() {
		p.waitErr = p.Cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed when the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// WaitReady waits for /readyz to answer 200: with the webhook on, once the
// webhook server serves TLS with a certificate loaded.
func (p *Proc) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if p.Probe("/readyz") {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited at start (%v):\n%s", p.waitErr, p.Tail(20))
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s (%w):\n%s", timeout, ctx.Err(), p.Tail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Probe reports whether the probe endpoint at path answers 200.
func (p *Proc) Probe(path string) bool {
	_, err := HTTPGet(context.Background(), "http://"+p.ProbeAddr+path)
	return err == nil
}

// Stop sends SIGTERM and waits up to grace for the exit, then kills. It
// reports a process that did not exit in time and, unless started by
// StartComponent, one that had exited by itself or exited with an error.
// Stopping a stopped process again is a no-op.
func (p *Proc) Stop(grace time.Duration) error {
	if p.ended.Swap(true) {
		<-p.exited
		return nil
	}
	select {
	case <-p.exited:
		if p.lenient {
			return nil
		}
		return fmt.Errorf("had already exited (%v)", p.waitErr)
	default:
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil && !p.lenient {
		return err
	}
	select {
	case <-p.exited:
		if p.waitErr != nil && !p.lenient {
			return fmt.Errorf("exited after SIGTERM with %v:\n%s", p.waitErr, p.Tail(10))
		}
		return nil
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s still running %s after SIGTERM; killed it", filepath.Base(p.Cmd.Path), grace)
	}
}

// Kill ends the process without letting it clean up, as a crash would.
func (p *Proc) Kill() {
	p.ended.Store(true)
	_ = p.Cmd.Process.Kill()
	<-p.exited
}

// Tail returns the last n lines of the process's output.
func (p *Proc) Tail(n int) string {
	return tailFile(p.Log, n)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Metrics scrapes the process's Prometheus endpoint.
func (p *Proc) Metrics() (map[string]*dto.MetricFamily, error) {
	body, err := HTTPGet(context.Background(), "http://"+p.MetricsAddr+"/metrics")
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(bufio.NewReader(strings.NewReader(body)))
}

// Metric sums the series of family name whose labels include the given ones
// (counters and gauges by value, histograms by sample count); 0 when none.
func (p *Proc) Metric(name string, labels map[string]string) (float64, error) {
	families, err := p.Metrics()
	if err != nil {
		return 0, err
	}
	return Sum(families[name], labels), nil
}

// Sum is Metric over an already scraped family.
func Sum(fam *dto.MetricFamily, labels map[string]string) float64 {
	if fam == nil {
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

// HTTPGet returns the body of a 200 answer to a plain-HTTP GET.
func HTTPGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// SaveURL writes the body of a GET of url (e.g. a pprof profile) to path.
func SaveURL(ctx context.Context, url, path string) error {
	body, err := HTTPGet(ctx, url)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(body), 0o644)
}

// TempBinary makes a scratch directory (os.MkdirTemp with pattern) and
// builds the airflow-pod-deadline binary of the repository at root into it,
// as dir/airflow-pod-deadline. The caller removes dir; on error nothing is
// left.
func TempBinary(root, pattern string) (dir, binary string, err error) {
	if dir, err = os.MkdirTemp("", pattern); err != nil {
		return "", "", err
	}
	binary = filepath.Join(dir, "airflow-pod-deadline")
	if err := BuildBinary(root, binary); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	return dir, binary, nil
}

// BuildBinary builds the airflow-pod-deadline binary of the repository at
// root into out.
func BuildBinary(root, out string) error {
	if err := BuildCommand(root, "./cmd/airflow-pod-deadline", out); err != nil {
		return fmt.Errorf("building the binary: %w", err)
	}
	return nil
}

// BuildCommand builds the main package pkg (e.g. ./test/perf/webhookserver/floor)
// of the repository at root into out.
func BuildCommand(root, pkg, out string) error {
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}
