package testenv

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Proc is one airflow-pod-deadline process.
type Proc struct {
	Cmd         *exec.Cmd
	Log         string
	MetricsAddr string
	ProbeAddr   string
	exited      chan struct{}
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs binary with kubeconfig, loopback metrics and probe addresses,
// and args; its log goes to a new file in dir.
func Start(binary, kubeconfig, dir string, args ...string) (*Proc, error) {
	mp, err := FreePort()
	if err != nil {
		return nil, err
	}
	pp, err := FreePort()
	if err != nil {
		return nil, err
	}
	p := &Proc{
		MetricsAddr: fmt.Sprintf("127.0.0.1:%d", mp),
		ProbeAddr:   fmt.Sprintf("127.0.0.1:%d", pp),
		exited:      make(chan struct{}),
	}
	f, err := os.CreateTemp(dir, "airflow-pod-deadline-*.log")
	if err != nil {
		return nil, err
	}
	p.Log = f.Name()
	all := append([]string{
		"--kubeconfig=" + kubeconfig,
		"--metrics-bind-address=" + p.MetricsAddr,
		"--health-probe-bind-address=" + p.ProbeAddr,
	}, args...)
	p.Cmd = exec.Command(binary, all...)
	p.Cmd.Stdout, p.Cmd.Stderr = f, f
	if err := p.Cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() {
		_ = p.Cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed when the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// WaitReady waits for /readyz to answer 200.
func (p *Proc) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited early: %s", p.Tail(20))
		default:
		}
		if p.Probe("/readyz") {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %s", timeout, p.Tail(20))
}

// Probe reports whether the probe endpoint at path answers 200.
func (p *Proc) Probe(path string) bool {
	resp, err := http.Get("http://" + p.ProbeAddr + path)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop sends SIGTERM and waits for the exit, killing after 20s.
func (p *Proc) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.exited
	}
}

// Kill ends the process without letting it clean up, as a crash would.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.exited
}

// Tail returns the last n lines of the process's log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Metrics scrapes the process's Prometheus endpoint.
func (p *Proc) Metrics() (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + p.MetricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(bufio.NewReader(resp.Body))
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
