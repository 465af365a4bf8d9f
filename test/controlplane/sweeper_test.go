package controlplane

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// Sweeper tests run their own sweeper processes, scoped to their namespace,
// with an annotation prefix the shared webhook does not know: their pods
// reach the API server exactly as written, as if they had bypassed the
// webhook (created before it was installed, or while it was down).
const sweeperPrefix = "sweeper-test.airflow-pod-deadline.io"

var sweeperKeys = deadline.NewKeys(sweeperPrefix)

func startSweeper(t *testing.T, ns string, args ...string) *proc {
	t.Helper()
	return startTestProc(t, append([]string{
		"--enable-webhook=false", "--namespace=" + ns, "--annotation-prefix=" + sweeperPrefix,
	}, args...)...)
}

// sweptPod is a KPO-shaped pod whose deadline is in from now.
func sweptPod(ns string, in time.Duration, ads *int64) (*corev1.Pod, time.Time) {
	due := time.Now().Add(in)
	return testenv.KPOPod(ns, testenv.LongSleep, map[string]string{sweeperKeys.Deadline: deadline.Format(due)}, ads), due
}

// playKubelet sets the pod's status as a kubelet starting it would.
func playKubelet(t *testing.T, pod *corev1.Pod, phase corev1.PodPhase) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, suite.client.Get(ctx, client.ObjectKeyFromObject(pod), pod))
	pod.Status.Phase = phase
	pod.Status.StartTime = ptr.To(metav1.Now())
	require.NoError(t, suite.client.Status().Update(ctx, pod))
}

// deleting reports whether the pod was deleted (there is no kubelet to finish
// a graceful deletion, so it stays with a deletionTimestamp).
func deleting(t *testing.T, pod *corev1.Pod) bool {
	out := &corev1.Pod{}
	err := suite.client.Get(context.Background(), client.ObjectKeyFromObject(pod), out)
	if apierrors.IsNotFound(err) {
		return true
	}
	require.NoError(t, err)
	return out.DeletionTimestamp != nil
}

func waitDeleting(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	require.Eventually(t, func() bool { return deleting(t, pod) }, 60*time.Second, 100*time.Millisecond, "pod %s never deleted", pod.Name)
}

func waitEvent(t *testing.T, pod *corev1.Pod, reason string) corev1.Event {
	t.Helper()
	var found []corev1.Event
	require.Eventually(t, func() bool {
		found = testenv.CoreEvents(t, suite.client, pod, reason)
		return len(found) > 0
	}, 60*time.Second, 100*time.Millisecond, "no %s event for %s", reason, pod.Name)
	require.Len(t, found, 1)
	return found[0]
}

// touch changes a pod so that watchers reconcile it again.
func touch(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	require.NoError(t, suite.client.Patch(context.Background(), pod,
		client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"touched":"`+time.Now().Format("150405.000000")+`"}}}`))))
}

func reconciles(t *testing.T, p *proc) float64 {
	return p.metric(t, "controller_runtime_reconcile_total", map[string]string{"controller": "sweeper"})
}

func waitReconciles(t *testing.T, p *proc, atLeast float64) {
	t.Helper()
	require.Eventually(t, func() bool { return reconciles(t, p) >= atLeast }, 30*time.Second, 50*time.Millisecond)
}

const identity = "(dag_id=kpo_deferrable_execution_timeout_repro task_id=run_long_pod run_id=manual__2026-12-01T000000.0000000000-4b5c6d7e8 try_number=1)"

func TestSweeperDeletesUnscheduledPodAfterDeadline(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	p := startSweeper(t, ns)
	pod, due := sweptPod(ns, 3*time.Second, ptr.To[int64](3600))
	testenv.Create(t, suite.client, pod)

	waitDeleting(t, pod)
	ev := waitEvent(t, pod, sweeper.ReasonExceeded)
	assert.Equal(t, corev1.EventTypeWarning, ev.Type)
	assert.Equal(t, pod.UID, ev.InvolvedObject.UID)
	assert.Regexp(t, `^Deleted: execution deadline `+strings.ReplaceAll(deadline.Format(due), ".", `\.`)+` passed [0-9.]+s ago and the pod never started `, ev.Message)
	assert.Contains(t, ev.Message, identity)
	assert.False(t, ev.EventTime.Time.Before(due), "deleted at %s, before the deadline %s", ev.EventTime.Time, due)
	assert.Equal(t, float64(1), p.metric(t, "airflow_pod_deadline_sweeper_actions_total", map[string]string{"action": "deleted"}))
	assert.Equal(t, float64(1), p.metric(t, "airflow_pod_deadline_enforcement_lag_seconds", nil), "one lag observation")

	// The audit trail, as an operator reads it.
	out, err := exec.Command(filepath.Join(suite.root, "bin", "kubectl"), "--kubeconfig", suite.kubeconfig,
		"get", "events", "-A", "--field-selector", "reason=ExecutionDeadlineExceeded").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "pod/"+pod.Name)
	assert.Contains(t, string(out), "dag_id=kpo_deferrable_execution_timeout_repro")
}

func TestSweeperLowersActiveDeadlineAtStart(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	// One worker: pods are handled in the order their start is seen.
	p := startSweeper(t, ns, "--sweeper-workers=1")
	low, _ := sweptPod(ns, 30*time.Minute, ptr.To[int64](5))
	high, due := sweptPod(ns, 30*time.Minute, ptr.To[int64](3600))
	testenv.Create(t, suite.client, low)
	testenv.Create(t, suite.client, high)
	playKubelet(t, low, corev1.PodRunning)
	playKubelet(t, high, corev1.PodRunning)

	ev := waitEvent(t, high, sweeper.ReasonClamped)
	got := testenv.Get(t, suite.client, high)
	want := deadline.RemainingSeconds(due, got.Status.StartTime.Time)
	require.NotNil(t, got.Spec.ActiveDeadlineSeconds)
	assert.Equal(t, want, *got.Spec.ActiveDeadlineSeconds, "lowered to ceil(deadline - startTime)")
	assert.Equal(t, corev1.EventTypeNormal, ev.Type)
	assert.Equal(t, fmt.Sprintf("Lowered activeDeadlineSeconds 3600 -> %d so the kubelet stops the pod at its execution deadline %s %s",
		want, deadline.Format(due), identity), ev.Message)

	// The lower one, handled before, keeps its value.
	assert.Equal(t, ptr.To[int64](5), testenv.Get(t, suite.client, low).Spec.ActiveDeadlineSeconds)
	assert.Empty(t, testenv.CoreEvents(t, suite.client, low, sweeper.ReasonClamped))
	assert.Equal(t, float64(1), p.metric(t, "airflow_pod_deadline_sweeper_actions_total", map[string]string{"action": "lowered"}))
	assert.Equal(t, float64(2), p.metric(t, "airflow_pod_deadline_tracked_pods", nil))
}

func TestSweeperDeletesRunningPodAfterGraceNotTerminalOnes(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	startSweeper(t, ns, "--kubelet-grace=2s", "--sweeper-workers=1")
	succeeded, _ := sweptPod(ns, 2*time.Second, nil)
	failed, _ := sweptPod(ns, 2*time.Second, nil)
	running, due := sweptPod(ns, 2*time.Second, ptr.To[int64](3600))
	// The kubelet may take the pod's grace period to stop it; kept short here.
	running.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	for _, pod := range []*corev1.Pod{succeeded, failed, running} {
		testenv.Create(t, suite.client, pod)
	}
	playKubelet(t, succeeded, corev1.PodSucceeded)
	playKubelet(t, failed, corev1.PodFailed)
	playKubelet(t, running, corev1.PodRunning)

	waitDeleting(t, running)
	ev := waitEvent(t, running, sweeper.ReasonExceeded)
	assert.Contains(t, ev.Message, "and the pod is still running "+identity)
	assert.False(t, ev.EventTime.Time.Before(due.Add(3*time.Second)), "deleted before deadline + terminationGracePeriodSeconds + --kubelet-grace")

	// Their deadlines passed before the running pod's grace did: had the
	// sweeper meant to delete them, it would have by now.
	for _, pod := range []*corev1.Pod{succeeded, failed} {
		assert.False(t, deleting(t, pod), "terminal pod %s deleted", pod.Name)
		assert.Empty(t, testenv.CoreEvents(t, suite.client, pod, sweeper.ReasonExceeded))
	}
}

func TestSweeperDeletesAlreadyCheckedPodWithoutGrace(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	startSweeper(t, ns, "--kubelet-grace=1h")
	pod, due := sweptPod(ns, 2*time.Second, ptr.To[int64](3600))
	pod.Labels[sweeper.AlreadyCheckedLabel] = "True"
	testenv.Create(t, suite.client, pod)
	playKubelet(t, pod, corev1.PodRunning)

	waitDeleting(t, pod)
	ev := waitEvent(t, pod, sweeper.ReasonExceeded)
	assert.Contains(t, ev.Message, "and KPO has given up on the pod (already_checked=True) "+identity)
	assert.False(t, ev.EventTime.Time.Before(due))
}

func TestSweeperDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	p := startSweeper(t, ns, "--dry-run", "--kubelet-grace=1h")
	pending, _ := sweptPod(ns, 2*time.Second, ptr.To[int64](3600))
	started, _ := sweptPod(ns, 30*time.Minute, ptr.To[int64](3600))
	testenv.Create(t, suite.client, pending)
	testenv.Create(t, suite.client, started)
	playKubelet(t, started, corev1.PodRunning)

	wouldDelete := waitEvent(t, pending, sweeper.ReasonExceeded)
	assert.Regexp(t, `^Would delete: execution deadline .* and the pod never started`, wouldDelete.Message)
	wouldLower := waitEvent(t, started, sweeper.ReasonClamped)
	assert.Regexp(t, `^Would lower activeDeadlineSeconds 3600 -> 1[0-9]{3} `, wouldLower.Message)

	// More reconciles (any change to the pods) report nothing new.
	reconciled := reconciles(t, p)
	touch(t, pending)
	touch(t, started)
	waitReconciles(t, p, reconciled+2)
	assert.Equal(t, float64(2), p.metric(t, "airflow_pod_deadline_sweeper_actions_total", map[string]string{"action": "dry_run"}))
	assert.Zero(t, p.metric(t, "airflow_pod_deadline_sweeper_actions_total", map[string]string{"action": "deleted"}))
	assert.False(t, deleting(t, pending))
	assert.Equal(t, ptr.To[int64](3600), testenv.Get(t, suite.client, started).Spec.ActiveDeadlineSeconds)
}

func TestSweeperSparesSuccessorOfTheSameName(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	startSweeper(t, ns, "--sweeper-workers=1")
	ctx := context.Background()
	first, _ := sweptPod(ns, 3*time.Second, nil)
	testenv.Create(t, suite.client, first)
	require.NoError(t, suite.client.Delete(ctx, first, client.GracePeriodSeconds(0)))
	successor := testenv.KPOPod(ns, testenv.LongSleep, map[string]string{sweeperKeys.Deadline: deadline.Format(time.Now().Add(time.Hour))}, nil)
	successor.Name = first.Name
	require.Eventually(t, func() bool { return suite.client.Create(ctx, successor) == nil }, 10*time.Second, 50*time.Millisecond)
	// A control pod due at the same instant as the first: once it is gone,
	// the sweeper has acted past the first pod's deadline.
	control, _ := sweptPod(ns, 3*time.Second, nil)
	testenv.Create(t, suite.client, control)

	waitDeleting(t, control)
	assert.False(t, deleting(t, successor), "the successor was deleted for its predecessor's deadline")
	assert.Equal(t, successor.UID, testenv.Get(t, suite.client, successor).UID)
	assert.Empty(t, testenv.CoreEvents(t, suite.client, successor, sweeper.ReasonExceeded))
}

func TestSweeperEnforcesOverduePodsAfterRestart(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	first := startSweeper(t, ns)
	var pods []*corev1.Pod
	var last time.Time
	for range 3 {
		pod, due := sweptPod(ns, 2*time.Second, nil)
		pods = append(pods, testenv.Create(t, suite.client, pod))
		last = due
	}
	first.stop()
	time.Sleep(time.Until(last) + 500*time.Millisecond) // the deadlines pass while no sweeper runs
	for _, pod := range pods {
		require.False(t, deleting(t, pod), "deleted while no sweeper ran")
	}

	second := startSweeper(t, ns)
	for _, pod := range pods {
		waitDeleting(t, pod)
		waitEvent(t, pod, sweeper.ReasonExceeded)
	}
	assert.Equal(t, float64(3), second.metric(t, "airflow_pod_deadline_sweeper_actions_total", map[string]string{"action": "deleted"}))
}

func TestSweeperLeaderElectionOneActs(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	args := []string{"--leader-elect", "--leader-election-namespace=" + ns}
	a := startSweeper(t, ns, args...)
	b := startSweeper(t, ns, args...)
	var pods []*corev1.Pod
	for range 4 {
		pod, _ := sweptPod(ns, 3*time.Second, nil)
		pods = append(pods, testenv.Create(t, suite.client, pod))
	}
	for _, pod := range pods {
		waitDeleting(t, pod)
		waitEvent(t, pod, sweeper.ReasonExceeded)
	}
	deleted := map[string]float64{}
	for name, p := range map[string]*proc{"a": a, "b": b} {
		deleted[name] = p.metric(t, "airflow_pod_deadline_sweeper_actions_total", map[string]string{"action": "deleted"})
	}
	assert.Equal(t, float64(4), deleted["a"]+deleted["b"], "every pod deleted exactly once")
	assert.True(t, deleted["a"] == 0 || deleted["b"] == 0, "both replicas acted: %v", deleted)
}

func TestSweeperReportsMalformedAnnotationOnce(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	p := startSweeper(t, ns)
	pod := testenv.Create(t, suite.client, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{sweeperKeys.Timeout: "half an hour"}, ptr.To[int64](3600)))

	ev := waitEvent(t, pod, sweeper.ReasonInvalid)
	assert.Equal(t, corev1.EventTypeWarning, ev.Type)
	assert.Contains(t, ev.Message, `annotation sweeper-test.airflow-pod-deadline.io/execution-timeout: value "half an hour" is not a duration; accepted forms:`)
	assert.Contains(t, ev.Message, identity)

	reconciled := reconciles(t, p)
	touch(t, pod)
	waitReconciles(t, p, reconciled+1)
	reconciled = reconciles(t, p)
	playKubelet(t, pod, corev1.PodRunning)
	waitReconciles(t, p, reconciled+1)
	assert.Equal(t, float64(1), p.metric(t, "airflow_pod_deadline_sweeper_actions_total", map[string]string{"action": "invalid"}))
	got := testenv.Get(t, suite.client, pod)
	assert.Nil(t, got.DeletionTimestamp)
	assert.Equal(t, ptr.To[int64](3600), got.Spec.ActiveDeadlineSeconds)
	assert.Zero(t, p.metric(t, "airflow_pod_deadline_tracked_pods", nil))
}

func TestSweeperLeavesExcludedNamespacesAlone(t *testing.T) {
	t.Parallel()
	excluded, watched := testenv.NewNamespace(t, suite.client), testenv.NewNamespace(t, suite.client)
	// Cluster-wide, with a prefix of its own so no other test's pods are in scope.
	prefix := "exclude-test.airflow-pod-deadline.io"
	keys := deadline.NewKeys(prefix)
	startTestProc(t, "--enable-webhook=false", "--annotation-prefix="+prefix, "--exclude-namespaces=kube-system,"+excluded)
	due := deadline.Format(time.Now().Add(2 * time.Second))
	spared := testenv.Create(t, suite.client, testenv.KPOPod(excluded, testenv.LongSleep, map[string]string{keys.Deadline: due}, nil))
	control := testenv.Create(t, suite.client, testenv.KPOPod(watched, testenv.LongSleep, map[string]string{keys.Deadline: due}, nil))

	waitDeleting(t, control)
	assert.False(t, deleting(t, spared), "a pod in an excluded namespace was deleted")
	assert.Empty(t, testenv.CoreEvents(t, suite.client, spared, sweeper.ReasonExceeded))
}
