package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// env is one venv's Airflow on its own control plane; airflow-pod-deadline
// is started into it by withDeadlines (or withCheck).
type env struct {
	venv    string
	dir     string
	cp      *testenv.Cluster
	client  client.Client
	airflow *airflowenv.Airflow
	// check: the cells run with the try check on (TestMatrix's with-check
	// phase); set before a phase's cells start.
	check bool

	mu   sync.Mutex
	over map[string]string // pods whose try a cell ended: name -> cell
}

// cellName is the cell name for a phase: "<row>/without", "<row>/with",
// or "<row>/with-check" while e.check is set.
func (e *env) cellName(row string, with bool) string {
	switch {
	case !with:
		return row + "/without"
	case e.check:
		return row + "/with-check"
	}
	return row + "/with"
}

// venvs lists the venvs a test runs in: APD_E2E_VENVS when set (any venvs
// of bin/venvs, to run a row on more provider versions), else defaults.
func venvs(t *testing.T, defaults ...string) []string {
	t.Helper()
	if os.Getenv("APD_E2E_AIRFLOW") != "1" {
		t.Skip("set APD_E2E_AIRFLOW=1 to run real Airflow")
	}
	if only := strings.Fields(os.Getenv("APD_E2E_VENVS")); len(only) > 0 {
		return only
	}
	return defaults
}

// startEnv starts a cluster whose pods run (one hollow node: the real
// kubelet over a fake runtime) and Airflow from venv on it; both stop at the
// test's end. airflowEnv adds to every Airflow process's environment.
func startEnv(t *testing.T, venv string, airflowEnv ...string) *env {
	t.Helper()
	e := &env{venv: venv, dir: filepath.Join(suite.tmp, venv)}
	require.NoError(t, os.MkdirAll(e.dir, 0o755))
	cpLog, err := os.Create(filepath.Join(e.dir, "control-plane.log"))
	require.NoError(t, err)
	t.Cleanup(func() { cpLog.Close() })
	e.cp, err = testenv.StartCluster(context.Background(), filepath.Join(suite.root, "bin"), testenv.ClusterOptions{
		Options: testenv.Options{Dir: e.dir, Log: cpLog},
		Nodes:   1,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.cp.Stop() })
	e.client = e.cp.Client
	ensureDefaultServiceAccount(t, e.client)

	e.airflow, err = airflowenv.Start(context.Background(), airflowenv.Options{
		Venv:       filepath.Join(suite.root, "bin", "venvs", venv),
		Kubeconfig: e.cp.Kubeconfig,
		DAGsFolder: filepath.Join(suite.root, "test", "e2e", "airflow", "dags"),
		Dir:        filepath.Join(e.dir, "airflow"),
		Env:        airflowEnv,
		Log:        testWriter{t},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := e.airflow.Stop(); err != nil {
			t.Logf("stopping airflow: %v", err)
		}
	})
	return e
}

// ensureDefaultServiceAccount creates default/default, which the missing
// controller-manager would have made.
func ensureDefaultServiceAccount(t *testing.T, c client.Client) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"}}
	if err := c.Create(context.Background(), sa); err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

// withDeadlines starts the real airflow-pod-deadline binary (webhook and
// sweeper on, all loopback) and registers the chart's webhook
// configurations pointed at it, until the test ends.
func (e *env) withDeadlines(t *testing.T) *testenv.Proc {
	t.Helper()
	en, err := testenv.StartEnforcer(context.Background(), e.client, suite.binary, e.cp.Kubeconfig, e.dir,
		filepath.Join(suite.root, "manifests", "install.yaml"))
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := en.Stop(15 * time.Second); err != nil {
			t.Logf("stopping airflow-pod-deadline: %v", err)
		}
	})
	return en.Proc
}

// deleteAllPods removes what a previous cell left (a never-scheduled pod is
// deleted at once: no kubelet has to confirm).
func (e *env) deleteAllPods(t *testing.T) {
	t.Helper()
	require.NoError(t, e.client.DeleteAllOf(context.Background(), &corev1.Pod{}, client.InNamespace("default"),
		client.GracePeriodSeconds(0)))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
