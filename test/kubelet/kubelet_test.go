package kubelet

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// The base container of a KPO pod is stopped by the kubelet, not by us: the
// webhook clamps activeDeadlineSeconds at admission, the sweeper lowers it
// when the pod starts (activeDeadlineSeconds counts from startTime), and the
// kubelet fails the pod with DeadlineExceeded at the deadline.
func TestKubeletStopsPodAtDeadline(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	pod := gated(pinnedPod(ns, 10*time.Second, "sleep 1800"))
	pod.Spec.ActiveDeadlineSeconds = ptr.To[int64](3600)
	testenv.Create(t, suite.client, pod)

	admitted, _ := testenv.Lookup(t, suite.client, pod)
	deadline := deadlineOf(t, admitted)
	assert.Equal(t, "3600", admitted.Annotations[keys.ClampedFrom])
	require.NotNil(t, admitted.Spec.ActiveDeadlineSeconds)
	// The 10 seconds counted from the start of the admission second.
	assert.LessOrEqual(t, *admitted.Spec.ActiveDeadlineSeconds, int64(11))

	// Held back from scheduling for a while, the pod starts well after its
	// admission: the clamped value, counted from startTime, would now end it
	// late. Only the sweeper's lowering at start ends it at the deadline.
	time.Sleep(2500 * time.Millisecond)
	ungate(t, pod)
	started, _ := waitFor(t, pod, 30*time.Second, "Running", running)
	assert.Equal(t, testenv.NodeNamePrefix+"0", started.Spec.NodeName)

	lowered, _ := waitFor(t, pod, 10*time.Second, "activeDeadlineSeconds lowered from startTime", func(p *corev1.Pod) bool {
		return p != nil && p.Spec.ActiveDeadlineSeconds != nil && *p.Spec.ActiveDeadlineSeconds < *admitted.Spec.ActiveDeadlineSeconds
	})
	start := lowered.Status.StartTime.Time
	ads := time.Duration(*lowered.Spec.ActiveDeadlineSeconds) * time.Second
	// startTime is kept in whole seconds, so start + ceil(deadline - start)
	// is the deadline rounded up: the kubelet's stop instant.
	assert.Equal(t, ceilSecond(deadline).UTC(), start.Add(ads).UTC(), "the kubelet is told to stop the pod at the deadline")
	waitEvents(t, pod, sweeper.ReasonClamped, 1)

	failed, seenFailed := waitFor(t, pod, 30*time.Second, "Failed", terminal)
	assert.Equal(t, corev1.PodFailed, failed.Status.Phase)
	assert.Equal(t, "DeadlineExceeded", failed.Status.Reason)
	term := baseTerminated(t, failed)
	assert.Equal(t, int32(143), term.ExitCode, "stopped with SIGTERM, as containerd reports it")
	assert.False(t, term.FinishedAt.Time.Before(deadline.Truncate(time.Second)), "finishedAt %s is before the deadline %s", term.FinishedAt, deadline)
	assert.False(t, seenFailed.Before(deadline), "Failed seen at %s, before the deadline %s", seenFailed, deadline)

	// A finished pod belongs to KPO's on_finish_action: past deadline + grace
	// the sweeper still leaves it alone.
	time.Sleep(time.Until(deadline.Add(kubeletGrace + 2*time.Second)))
	after, ok := testenv.Lookup(t, suite.client, pod)
	require.True(t, ok, "the sweeper deleted a finished pod")
	assert.Nil(t, after.DeletionTimestamp)
	assert.Empty(t, testenv.Events(t, suite.client, pod, sweeper.ReasonExceeded))
}

// A pod that starts after its deadline (the sweeper was away when the
// deadline passed and the kubelet started the pod late) gets
// activeDeadlineSeconds 1, the least Kubernetes accepts: the kubelet stops it
// a second after its start.
func TestPodStartedAfterDeadlineStoppedAtOnce(t *testing.T) {
	t.Parallel()
	// The suite's sweeper ignores this namespace: the test's own sweeper
	// comes up only after the pod has started.
	ns := namedNamespace(t, unsweptNamespace)
	pod := testenv.Create(t, suite.client, gated(pinnedPod(ns, 3*time.Second, "sleep 1800")))
	admitted, _ := testenv.Lookup(t, suite.client, pod)
	deadline := deadlineOf(t, admitted)

	time.Sleep(time.Until(deadline.Add(time.Second)))
	ungate(t, pod)
	started, _ := waitFor(t, pod, 30*time.Second, "Running", running)
	require.True(t, started.Status.StartTime.After(deadline), "startTime %s, deadline %s", started.Status.StartTime, deadline)

	late, err := testenv.Start(suite.binary, suite.cluster.Kubeconfig, t.TempDir()+"/sweeper.log",
		"--enable-webhook=false", "--namespace="+ns, "--kubelet-grace=1h")
	require.NoError(t, err)
	t.Cleanup(func() { _ = late.Stop(10 * time.Second) })
	require.NoError(t, late.WaitReady(context.Background(), 30*time.Second))

	failed, _ := waitFor(t, pod, 30*time.Second, "Failed", terminal)
	require.NotNil(t, failed.Spec.ActiveDeadlineSeconds)
	assert.Equal(t, int64(1), *failed.Spec.ActiveDeadlineSeconds)
	assert.Equal(t, corev1.PodFailed, failed.Status.Phase)
	assert.Equal(t, "DeadlineExceeded", failed.Status.Reason)
	assert.NotZero(t, baseTerminated(t, failed).ExitCode)
	waitEvents(t, pod, sweeper.ReasonClamped, 1)
}

// A started pod whose node is lost: nothing stops it at the deadline, so
// the sweeper deletes it after --kubelet-grace. With no kubelet to confirm,
// the pod stays Terminating, and nothing else is done to it; once the node
// is back, its kubelet finishes the deletion.
func TestNodeLostPodDeletedAndStaysTerminating(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	node, err := suite.cluster.AddNode(ctx, map[string]string{"airflow-pod-deadline.io/test": "node-loss"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = node.Stop() })

	ns := testenv.NewNamespace(t, suite.client)
	pod := pinnedPod(ns, 8*time.Second, "sleep 1800")
	pod.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": node.Name}
	// The sweeper leaves the kubelet the pod's grace period to stop it.
	const grace = 2 * time.Second
	pod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(grace.Seconds()))
	testenv.Create(t, suite.client, pod)
	waitFor(t, pod, 30*time.Second, "Running", running)
	admitted, _ := testenv.Lookup(t, suite.client, pod)
	deadline := deadlineOf(t, admitted)

	node.Kill()
	deleting, _ := waitFor(t, pod, time.Until(deadline.Add(grace+kubeletGrace+20*time.Second)), "deleted by the sweeper", func(p *corev1.Pod) bool {
		return p != nil && p.DeletionTimestamp != nil
	})
	requested := deleting.DeletionTimestamp.Add(-time.Duration(*deleting.DeletionGracePeriodSeconds) * time.Second)
	assert.False(t, requested.Before(deadline.Add(grace+kubeletGrace).Truncate(time.Second)),
		"deletion requested at %s, before deadline + grace period + --kubelet-grace %s", requested, deadline.Add(grace+kubeletGrace))
	assert.Equal(t, int64(grace.Seconds()), *deleting.DeletionGracePeriodSeconds, "the pod's own terminationGracePeriodSeconds")
	exceeded := waitEvents(t, pod, sweeper.ReasonExceeded, 1)
	assert.Contains(t, exceeded[0].Note, sweeper.WhyStillRunning)
	assert.Contains(t, exceeded[0].Note, "dag_id=kpo_deferrable_execution_timeout_repro")

	// Past the graceful deletion's own deadline the pod is still there,
	// Terminating, deleted once: no force delete, no second request.
	time.Sleep(time.Until(deleting.DeletionTimestamp.Add(3 * time.Second)))
	still, ok := testenv.Lookup(t, suite.client, pod)
	require.True(t, ok, "the pod was removed with no kubelet to confirm its end")
	assert.Equal(t, deleting.DeletionTimestamp, still.DeletionTimestamp)
	assert.Len(t, testenv.Events(t, suite.client, pod, sweeper.ReasonExceeded), 1)

	require.NoError(t, node.Start())
	waitFor(t, pod, 90*time.Second, "gone once the node is back", func(p *corev1.Pod) bool { return p == nil })
}

// A graceful delete of a running pod whose process ignores SIGTERM lasts
// the pod's terminationGracePeriodSeconds: the runtime kills it then (137).
func TestGracefulDeleteHonoursGracePeriod(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	pod := pinnedPod(ns, time.Hour, "sleep 1800")
	pod.Annotations[testenv.OnSigtermAnnotation] = "ignore"
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](3)
	testenv.Create(t, suite.client, pod)
	waitFor(t, pod, 30*time.Second, "Running", running)

	w := watchPod(t, pod)
	requested := time.Now()
	require.NoError(t, suite.client.Delete(context.Background(), pod))
	waitFor(t, pod, 60*time.Second, "gone", func(p *corev1.Pod) bool { return p == nil })
	last := w.last(t, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Terminated != nil
	})
	term := baseTerminated(t, last)
	assert.Equal(t, int32(137), term.ExitCode, "killed when the grace period ended")
	assert.False(t, term.FinishedAt.Time.Before(requested.Truncate(time.Second).Add(3*time.Second)),
		"finishedAt %s, delete requested at %s with a 3s grace period", term.FinishedAt, requested)
}

// At the deadline the kubelet sends SIGTERM; a process that ignores it is
// killed when terminationGracePeriodSeconds ends, and only then does the
// kubelet report the pod Failed: a stop "at the deadline" lasts the grace
// period for such a process.
func TestDeadlineExceededWaitsForGracePeriod(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	pod := pinnedPod(ns, 6*time.Second, "sleep 1800")
	pod.Annotations[testenv.OnSigtermAnnotation] = "ignore"
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](3)
	testenv.Create(t, suite.client, pod)
	waitFor(t, pod, 30*time.Second, "Running", running)
	admitted, _ := testenv.Lookup(t, suite.client, pod)
	deadline := deadlineOf(t, admitted)

	failed, seen := waitFor(t, pod, 60*time.Second, "Failed", terminal)
	assert.Equal(t, "DeadlineExceeded", failed.Status.Reason)
	term := baseTerminated(t, failed)
	assert.Equal(t, int32(137), term.ExitCode)
	assert.False(t, term.FinishedAt.Time.Before(deadline.Truncate(time.Second).Add(3*time.Second)),
		"finishedAt %s: the kill came before deadline %s + 3s grace", term.FinishedAt, deadline)
	assert.False(t, seen.Before(deadline.Add(3*time.Second)), "Failed reported at %s, before deadline %s + grace; %s", seen, deadline, describe(failed))
}

// A pod that never schedules (its nodeSelector matches no node) never
// starts, so activeDeadlineSeconds never fires: the sweeper ends it at its
// deadline.
func TestNeverScheduledPodEndedAtDeadline(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	pod := pinnedPod(ns, 4*time.Second, "sleep 1800")
	pod.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "no-such-node"}
	testenv.Create(t, suite.client, pod)
	admitted, _ := testenv.Lookup(t, suite.client, pod)
	deadline := deadlineOf(t, admitted)

	_, gone := waitFor(t, pod, 30*time.Second, "gone", func(p *corev1.Pod) bool { return p == nil })
	assert.False(t, gone.Before(deadline), "gone at %s, before its deadline %s", gone, deadline)
	exceeded := waitEvents(t, pod, sweeper.ReasonExceeded, 1)
	assert.Contains(t, exceeded[0].Note, sweeper.WhyNeverStarted)
	assert.NotEmpty(t, testenv.CoreEvents(t, suite.client, pod, "FailedScheduling"), "the scheduler tried and found no node")
}

// Pods the kubelet ran to completion, successful or not, are KPO's: the
// sweeper never touches them, even past their deadline.
func TestFinishedPodsUntouched(t *testing.T) {
	t.Parallel()
	ns := testenv.NewNamespace(t, suite.client)
	ok := testenv.Create(t, suite.client, pinnedPod(ns, 6*time.Second, "echo task done; exit 0"))
	bad := testenv.Create(t, suite.client, pinnedPod(ns, 6*time.Second, "echo task failed; exit 3"))
	admitted, _ := testenv.Lookup(t, suite.client, ok)
	deadline := deadlineOf(t, admitted)

	succeeded, _ := waitFor(t, ok, 30*time.Second, "Succeeded", terminal)
	assert.Equal(t, corev1.PodSucceeded, succeeded.Status.Phase)
	assert.Equal(t, int32(0), baseTerminated(t, succeeded).ExitCode)
	failed, _ := waitFor(t, bad, 30*time.Second, "Failed", terminal)
	assert.Equal(t, corev1.PodFailed, failed.Status.Phase)
	assert.Equal(t, int32(3), baseTerminated(t, failed).ExitCode)
	assert.Empty(t, failed.Status.Reason, "failed by its own exit, not by a deadline")

	// The API server reads the log from the kubelet on 127.0.0.1, as KPO does.
	cs, err := kubernetes.NewForConfig(suite.cluster.Config)
	require.NoError(t, err)
	log, err := cs.CoreV1().Pods(ns).GetLogs(ok.Name, &corev1.PodLogOptions{Container: "base"}).DoRaw(context.Background())
	require.NoError(t, err)
	assert.Contains(t, string(log), "task done")

	time.Sleep(time.Until(deadline.Add(kubeletGrace + 2*time.Second)))
	for _, p := range []*corev1.Pod{ok, bad} {
		after, exists := testenv.Lookup(t, suite.client, p)
		require.True(t, exists, "the sweeper deleted finished pod %s", p.Name)
		assert.Nil(t, after.DeletionTimestamp)
		assert.Empty(t, testenv.Events(t, suite.client, p, sweeper.ReasonExceeded))
	}
}
