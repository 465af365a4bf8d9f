package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/certs"
)

// writeCertificates creates a CA and a serving certificate for 127.0.0.1,
// where the webhook listens, and writes them for --cert-dir. The API server
// gets the CA through the webhook configurations' caBundle.
func (d *demo) writeCertificates() (caPEM []byte, err error) {
	now := time.Now()
	ca, err := certs.NewCA("airflow-pod-deadline-demo-ca", now, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	serving, err := ca.IssueServing(nil, []net.IP{net.ParseIP("127.0.0.1")}, now, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	if err := certs.WriteDir(d.path("certs"), serving, ca.CertPEM); err != nil {
		return nil, err
	}
	d.say("- a CA and a serving certificate for 127.0.0.1 in " + d.path("certs"))
	return ca.CertPEM, nil
}

// process is the running airflow-pod-deadline binary.
type process struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed once the process has exited
	waitErr error         // its exit status, once exited is closed
}

// startBinary runs the airflow-pod-deadline binary as its own process with
// the webhook and the sweeper on, every address on loopback, and waits until
// it is ready. It returns the webhook's host:port.
func (d *demo) startBinary(ctx context.Context, binary string) (string, error) {
	started := time.Now()
	ports, err := freePorts(3)
	if err != nil {
		return "", err
	}
	webhookAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	probeAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])
	args := []string{
		"--kubeconfig=" + d.kubeconfig,
		"--webhook-bind-address=127.0.0.1",
		fmt.Sprintf("--webhook-port=%d", ports[0]),
		"--cert-dir=" + d.path("certs"),
		"--metrics-bind-address=" + metricsAddr,
		"--health-probe-bind-address=" + probeAddr,
	}
	logPath := d.path("airflow-pod-deadline.log")
	// Shown as a shell line so a reader can run the binary the same way.
	shown := binary
	if rel, err := filepath.Rel(d.root, binary); err == nil && !strings.HasPrefix(rel, "..") {
		shown = rel
	}
	fmt.Fprintf(d.out, "$ %s \\\n    %s \\\n    >%s 2>&1 &\n", shown, strings.Join(args, " \\\n    "), logPath)

	p, err := startProcess(binary, args, logPath)
	if err != nil {
		return "", err
	}
	d.app = p
	// Registered right after the start, so a failure from here on still stops it.
	d.onExit("stopped airflow-pod-deadline with SIGTERM, clean exit", func() error { return p.stop(15 * time.Second) })
	d.metricsURL = "http://" + metricsAddr + "/metrics"

	if err := p.waitReady(ctx, "http://"+probeAddr+"/readyz", 30*time.Second); err != nil {
		return "", err
	}
	d.say(fmt.Sprintf("- airflow-pod-deadline (webhook on %s, sweeper on): ready in %s", webhookAddr, since(started)))
	return webhookAddr, nil
}

func startProcess(binary string, args []string, logPath string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C in the terminal reaches only the demo,
	// which then stops the binary before the API server it talks to.
	cmd.SysProcAttr = childProcAttr(true)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	p := &process{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls the readiness endpoint, which the binary answers with 200
// once the webhook server serves TLS with the certificate loaded.
func (p *process) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if _, err := httpGet(ctx, url); err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("airflow-pod-deadline exited at start (%v):\n%s", p.waitErr, p.tail(20))
		case <-ctx.Done():
			return fmt.Errorf("airflow-pod-deadline not ready after %s (%w):\n%s", timeout, ctx.Err(), p.tail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM, lets the binary shut down for up to grace, then kills
// it. A non-zero exit after SIGTERM is an error: the binary should stop cleanly.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return fmt.Errorf("airflow-pod-deadline had already exited (%v)", p.waitErr)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("airflow-pod-deadline exited after SIGTERM with %v:\n%s", p.waitErr, p.tail(10))
		}
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("airflow-pod-deadline still running %s after SIGTERM; killed it", grace)
	}
}

// tail returns the last n lines of the binary's log.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
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

// httpGet returns the body of a 200 answer to a plain-HTTP GET.
func httpGet(ctx context.Context, url string) (string, error) {
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
		return string(body), errors.New(resp.Status)
	}
	return string(body), nil
}
