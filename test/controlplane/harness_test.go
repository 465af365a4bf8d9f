package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// suite is the shared real control plane and the binary under test.
var suite struct {
	root       string // repository root
	cp         *testenv.ControlPlane
	cfg        *rest.Config
	client     client.Client
	kubeconfig string // admin kubeconfig file for processes and kubectl
	binary     string // the airflow-pod-deadline binary built for this run
	tmp        string
	webhook    *proc  // the shared webhook server (sweeper off)
	webhookCA  []byte // the CA its configurations trust
	webhookAt  string // its host:port
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
	suite.root = filepath.Join(wd, "..", "..")
	if suite.tmp, err = os.MkdirTemp("", "apd-test-"); err != nil {
		return 0, err
	}
	defer os.RemoveAll(suite.tmp)

	suite.binary = filepath.Join(suite.tmp, "airflow-pod-deadline")
	if err := testenv.BuildBinary(suite.root, suite.binary); err != nil {
		return 0, err
	}

	if suite.cp, err = testenv.StartControlPlane(filepath.Join(suite.root, "bin"), testenv.Options{Dir: suite.tmp}); err != nil {
		return 0, err
	}
	defer func() { _ = suite.cp.Stop() }()
	suite.cfg, suite.client, suite.kubeconfig = suite.cp.Config, suite.cp.Client, suite.cp.Kubeconfig

	stop, err := startSharedWebhook()
	if err != nil {
		return 0, err
	}
	defer stop()
	return m.Run(), nil
}

// installYAML is the chart rendered with its defaults: the webhook
// configurations users install.
func installYAML() string { return filepath.Join(suite.root, "manifests", "install.yaml") }

// helm runs bin/helm against the suite's API server.
func helm() helmchart.Helm { return helmchart.Helm{Root: suite.root, Kubeconfig: suite.kubeconfig} }

// startSharedWebhook starts the webhook server the webhook tests share
// (sweeper off: sweeper tests run their own) with a fresh CA, and installs the
// webhook configurations of manifests/install.yaml pointing at it.
func startSharedWebhook() (func(), error) {
	e, err := testenv.StartEnforcerWith(context.Background(), suite.client, testenv.EnforcerOptions{
		Binary: suite.binary, Kubeconfig: suite.kubeconfig, Dir: suite.tmp, InstallYAML: installYAML(),
		Args: []string{"--enable-sweeper=false"},
	})
	if err != nil {
		return nil, err
	}
	p := &proc{e.Proc}
	suite.webhook, suite.webhookCA, suite.webhookAt = p, e.CA, e.WebhookAddr
	return p.stop, nil
}

// proc is a process of the binary under test, with test-friendly helpers.
type proc struct{ *testenv.Proc }

func freePort() (int, error) { return testenv.FreePort() }

// startProc runs the binary with the suite's kubeconfig and args, its log
// in dir.
func startProc(dir string, args ...string) (*proc, error) {
	return startProcAt(dir, suite.kubeconfig, args...)
}

func startProcAt(dir, kubeconfig string, args ...string) (*proc, error) {
	f, err := os.CreateTemp(dir, "airflow-pod-deadline-*.log")
	if err != nil {
		return nil, err
	}
	f.Close()
	p, err := testenv.Start(suite.binary, kubeconfig, f.Name(), args...)
	if err != nil {
		return nil, err
	}
	return &proc{p}, nil
}

// startTestProc starts a process owned by t: stopped at the end, its log
// printed if t failed.
func startTestProc(t testing.TB, args ...string) *proc {
	t.Helper()
	return startTestProcAt(t, suite.kubeconfig, args...)
}

// startTestProcAt is startTestProc against another API server or identity.
func startTestProcAt(t testing.TB, kubeconfig string, args ...string) *proc {
	t.Helper()
	p, err := startProcAt(t.TempDir(), kubeconfig, args...)
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

// startEnforcer starts the binary through testenv.StartEnforcerWith (the
// one way the harness installs it), owned by t: its webhook configurations
// removed and the process stopped at the end, its log printed if t failed.
// The binary and directory are the suite's and t's, the kubeconfig the
// suite's unless o gives one.
func startEnforcer(t testing.TB, o testenv.EnforcerOptions) (*testenv.Enforcer, *proc) {
	t.Helper()
	o.Binary, o.Dir = suite.binary, t.TempDir()
	if o.Kubeconfig == "" {
		o.Kubeconfig = suite.kubeconfig
	}
	e, err := testenv.StartEnforcerWith(context.Background(), suite.client, o)
	require.NoError(t, err)
	p := &proc{e.Proc}
	t.Cleanup(func() {
		assert.NoError(t, e.RemoveWebhooks(context.Background(), suite.client))
		p.stop()
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return e, p
}

func (p *proc) waitReady(timeout time.Duration) error {
	return p.WaitReady(context.Background(), timeout)
}

// stop ends the process with SIGTERM (killing it after 20s); how it ended
// is not the test's business here.
func (p *proc) stop() { _ = p.Stop(20 * time.Second) }

// kill ends the process without letting it clean up, as a crash would.
func (p *proc) kill() { p.Kill() }

func (p *proc) tail(n int) string { return p.Tail(n) }

func (p *proc) dumpLog(t testing.TB) {
	t.Logf("log of %s:\n%s", strings.Join(p.Cmd.Args[1:], " "), p.Tail(200))
}

// metric returns the sum of the series of family name whose labels include
// the given ones (0 when there is none).
func (p *proc) metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	v, err := p.Metric(name, labels)
	require.NoError(t, err)
	return v
}
