package controlplane

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// Fault tests: each breaks one part while work is in flight and checks that
// nothing is lost. They run in `make test` at a small scale; `make faults`
// runs them with APD_FAULT_SCALE (default 1) times the load.

func faultScale() int {
	if n, err := strconv.Atoi(os.Getenv("APD_FAULT_SCALE")); err == nil && n > 0 {
		return n
	}
	return 1
}

const outagePrefix = "outage.airflow-pod-deadline.io"

func TestFaultWebhookOutageUnderLoad(t *testing.T) {
	ctx := context.Background()
	ns := testenv.NewNamespace(t, suite.client)
	args := []string{"--enable-sweeper=false"}
	// Configurations of its own, for its own prefix: the outage touches no
	// other test's pods.
	e, first := startEnforcer(t, testenv.EnforcerOptions{
		InstallYAML: installYAML(), Name: "apd-outage-" + ns, Prefix: outagePrefix, Args: args,
	})
	keys := deadline.NewKeys(outagePrefix)
	require.Eventually(t, func() bool {
		p := testenv.KPOPod(ns, testenv.LongSleep, map[string]string{keys.Timeout: "1h"}, ptr.To[int64](7200))
		return suite.client.Create(ctx, p, client.DryRunAll) == nil && *p.Spec.ActiveDeadlineSeconds <= 3601 // 1h from the admission second
	}, 30*time.Second, 100*time.Millisecond, "webhook never active")

	// A burst of annotated and plain pods; the webhook is killed a third of
	// the way in and restarted two thirds of the way.
	total := 150 * faultScale()
	var next atomic.Int64
	var mu sync.Mutex
	var annotatedOK, annotatedRefused, plainOK []string
	var plainErrs []error
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				annotated := i%2 == 0
				var p *corev1.Pod
				if annotated {
					p = testenv.KPOPod(ns, testenv.LongSleep, map[string]string{keys.Timeout: "1h"}, ptr.To[int64](7200))
				} else {
					p = plainPod(ns)
				}
				err := suite.client.Create(ctx, p)
				mu.Lock()
				switch {
				case annotated && err == nil:
					annotatedOK = append(annotatedOK, p.Name)
				case annotated:
					annotatedRefused = append(annotatedRefused, err.Error())
				case err == nil:
					plainOK = append(plainOK, p.Name)
				default:
					plainErrs = append(plainErrs, err)
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	for next.Load() < int64(total/3) {
		time.Sleep(10 * time.Millisecond)
	}
	first.kill()
	for next.Load() < int64(2*total/3) {
		time.Sleep(10 * time.Millisecond)
	}
	// The same address and certificates, the configurations left as they
	// are: a restart, as a Deployment's would be.
	startEnforcer(t, testenv.EnforcerOptions{Prefix: outagePrefix, Port: e.WebhookPort, CertDir: e.CertDir, Args: args})
	wg.Wait()

	t.Logf("annotated: %d created, %d refused during the outage; plain: %d created, %d refused",
		len(annotatedOK), len(annotatedRefused), len(plainOK), len(plainErrs))
	assert.Empty(t, plainErrs, "a pod without the annotations was blocked")
	assert.Len(t, plainOK, total/2)
	assert.NotEmpty(t, annotatedRefused, "the outage refused no pod: was the webhook down at all?")
	for _, msg := range annotatedRefused {
		// Refused by the API server for want of an answer: from the mutating
		// call, or the validating one when the kill fell in between.
		assert.Regexp(t, `failed calling webhook "(mutate|validate)\.airflow-pod-deadline\.io"`, msg)
	}
	// Every annotated pod that got in was clamped: none slipped through unclamped.
	for _, name := range annotatedOK {
		p := &corev1.Pod{}
		require.NoError(t, suite.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p))
		require.NotNil(t, p.Spec.ActiveDeadlineSeconds)
		assert.LessOrEqual(t, *p.Spec.ActiveDeadlineSeconds, int64(3601), "pod %s admitted unclamped", name)
		assert.NotEmpty(t, p.Annotations[keys.Deadline], "pod %s admitted without a stamped deadline", name)
	}
}

func TestFaultSweeperLeaderCrash(t *testing.T) {
	ns := testenv.NewNamespace(t, suite.client)
	// Short leases so the test sees a failover in seconds; the failover gap
	// is bounded by the lease duration plus one retry period.
	args := []string{"--leader-elect", "--leader-election-namespace=" + ns,
		"--leader-election-lease-duration=4s", "--leader-election-renew-deadline=3s", "--leader-election-retry-period=500ms"}
	a := startSweeper(t, ns, args...)
	b := startSweeper(t, ns, args...)
	isLeader := func(p *proc) bool {
		return p.metric(t, "leader_election_master_status", nil) == 1
	}
	require.Eventually(t, func() bool { return isLeader(a) || isLeader(b) }, 30*time.Second, 100*time.Millisecond)
	leader, standby := a, b
	if isLeader(b) {
		leader, standby = b, a
	}

	n := 20 * faultScale()
	var pods []*corev1.Pod
	for i := range n {
		// Deadlines every 400ms/scale from 2s on: some pass before the
		// crash, some during the failover, some after.
		pod, _ := sweptPod(ns, 2*time.Second+time.Duration(i)*400*time.Millisecond/time.Duration(faultScale()), nil)
		pods = append(pods, testenv.Create(t, suite.client, pod))
	}
	require.Eventually(t, func() bool {
		return leader.metric(t, "airflow_pod_deadline_sweeper_actions_total", map[string]string{"action": "deleted"}) >= float64(n/4)
	}, 60*time.Second, 50*time.Millisecond, "the leader enforced nothing")
	killedAt := time.Now()
	leader.kill()
	deletedByLeader := 0
	for _, p := range pods {
		if deleting(t, p) {
			deletedByLeader++
		}
	}
	require.Eventually(t, func() bool { return isLeader(standby) }, 60*time.Second, 50*time.Millisecond)
	gap := time.Since(killedAt)

	for _, p := range pods {
		waitDeleting(t, p)
	}
	deletedByStandby := standby.metric(t, "airflow_pod_deadline_sweeper_actions_total", map[string]string{"action": "deleted"})
	t.Logf("failover gap %s (lease 4s, retry 500ms); %d pods deleted by the first leader, %.0f by the second",
		gap.Round(time.Millisecond), deletedByLeader, deletedByStandby)
	// Exactly once: the new leader deleted precisely the pods the old one had not.
	assert.Equal(t, float64(n-deletedByLeader), deletedByStandby)
	for _, p := range pods {
		evs := testenv.CoreEvents(t, suite.client, p, sweeper.ReasonExceeded)
		assert.LessOrEqual(t, len(evs), 1, "pod %s enforced twice", p.Name)
		for _, ev := range evs {
			assert.Nil(t, ev.Series, "pod %s enforced twice", p.Name)
		}
	}
}

// apiServerProcess finds the kube-apiserver serving cp and returns its PID
// and command line.
func apiServerProcess(t *testing.T, cp *testenv.ControlPlane) (int, []string) {
	t.Helper()
	u, err := url.Parse(cp.Config.Host)
	require.NoError(t, err)
	port := u.Port()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if strings.HasSuffix(args[0], "kube-apiserver") && strings.Contains(string(raw), "--secure-port="+port+"\x00") {
			return pid, args
		}
	}
	t.Fatalf("no kube-apiserver on port %s", port)
	return 0, nil
}

func TestFaultAPIServerRestartDuringSweep(t *testing.T) {
	// Its own control plane: the shared one must not go down under other tests.
	cp, err := testenv.StartControlPlane(filepath.Join(suite.root, "bin"), testenv.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	var restarted *exec.Cmd
	t.Cleanup(func() {
		if restarted != nil {
			_ = restarted.Process.Kill()
			_, _ = restarted.Process.Wait()
		}
		_ = cp.Stop()
	})
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "restart"}}
	require.NoError(t, cp.Client.Create(ctx, ns))
	p := startTestProcAt(t, cp.Kubeconfig, "--enable-webhook=false", "--namespace=restart", "--annotation-prefix="+sweeperPrefix)

	n := 10 * faultScale()
	var pods []*corev1.Pod
	for i := range n {
		pod, _ := sweptPod("restart", 3*time.Second+time.Duration(i)*200*time.Millisecond, nil)
		require.NoError(t, cp.Client.Create(ctx, pod))
		pods = append(pods, pod)
	}
	// Down before the first deadline, back after the last: every pod is
	// overdue when the API server returns, with the same etcd data.
	pid, args := apiServerProcess(t, cp)
	proc, err := os.FindProcess(pid)
	require.NoError(t, err)
	require.NoError(t, proc.Kill())
	down := time.Now()
	time.Sleep(3*time.Second + time.Duration(n)*200*time.Millisecond + time.Second)
	restarted = exec.Command(args[0], args[1:]...)
	apiLog, err := os.Create(filepath.Join(t.TempDir(), "kube-apiserver.log"))
	require.NoError(t, err)
	restarted.Stdout, restarted.Stderr = apiLog, apiLog
	require.NoError(t, restarted.Start())
	back := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(apiLog.Name())
			t.Logf("restarted kube-apiserver log (tail):\n%s", tailString(string(b), 30))
		}
	})

	for _, pod := range pods {
		// An unscheduled pod is removed at once, whatever its grace period.
		require.Eventually(t, func() bool {
			got := &corev1.Pod{}
			err := cp.Client.Get(ctx, client.ObjectKeyFromObject(pod), got)
			return apierrors.IsNotFound(err) || (err == nil && got.DeletionTimestamp != nil)
		}, 90*time.Second, 200*time.Millisecond, "pod %s not enforced after the API server came back", pod.Name)
	}
	enforced := time.Now()
	deleted, err := p.Metric("airflow_pod_deadline_sweeper_actions_total", map[string]string{"action": "deleted"})
	require.NoError(t, err)
	assert.Equal(t, float64(n), deleted)
	t.Logf("API server down %s, every deadline passed meanwhile; all %d pods enforced %s after its restart began (start-up included), %.0f deletes",
		back.Sub(down).Round(time.Millisecond), n, enforced.Sub(back).Round(time.Millisecond), deleted)
	select {
	case <-p.Exited():
		t.Fatal("the sweeper exited instead of riding out the API server restart")
	default:
	}
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
