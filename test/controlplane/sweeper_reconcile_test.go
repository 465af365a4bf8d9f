package controlplane

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// These drive the sweeper's Reconcile in-process against the real API
// server, to reach races a process-level test cannot time: the real client is
// wrapped only to act at the exact moment in between.

// notes records events; the recorder is not what these tests are about.
type notes struct {
	mu  sync.Mutex
	got []string
}

func (n *notes) Eventf(_ runtime.Object, _ runtime.Object, _, reason, _, note string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, reason)
}

func (n *notes) AnnotatedEventf(regarding, related runtime.Object, _ map[string]string, eventtype, reason, action, note string, args ...any) {
	n.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

// newReconciler builds a sweeper for namespace ns on the real API server,
// with a running pod informer, its writes going through funcs.
func newReconciler(t *testing.T, ns string, funcs interceptor.Funcs) (*sweeper.Reconciler, *notes) {
	t.Helper()
	c, err := client.NewWithWatch(suite.cfg, client.Options{Scheme: scheme.Scheme})
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(suite.cfg)
	require.NoError(t, err)
	informer, err := sweeper.NewPodInformer(cs, sweeperKeys, sweeper.Scope{Namespace: ns})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go informer.RunWithContext(ctx)
	require.True(t, toolscache.WaitForCacheSync(ctx.Done(), informer.HasSynced))
	n := &notes{}
	return &sweeper.Reconciler{
		Pods:      informer.GetStore(),
		Client:    interceptor.NewClient(c, funcs),
		APIReader: c,
		Recorder:  n,
		Config:    sweeper.Config{Keys: sweeperKeys, KubeletGrace: 15 * time.Second},
		Clock:     clock.RealClock{},
	}, n
}

func request(pod *corev1.Pod) ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)}
}

func TestReconcileDeleteSparesSuccessorCreatedAfterTheFreshRead(t *testing.T) {
	ns := testenv.NewNamespace(t, suite.client)
	ctx := context.Background()
	overdue, _ := sweptPod(ns, -time.Second, nil)
	testenv.Create(t, suite.client, overdue)
	successor := testenv.KPOPod(ns, testenv.LongSleep, nil, nil)
	successor.Name = overdue.Name

	r, events := newReconciler(t, ns, interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			// Between the sweeper's fresh read and its delete, the pod is
			// replaced by a new one of the same name.
			require.NoError(t, c.Delete(ctx, &corev1.Pod{ObjectMeta: overdue.ObjectMeta}, client.GracePeriodSeconds(0)))
			require.Eventually(t, func() bool { return c.Create(ctx, successor) == nil }, 10*time.Second, 20*time.Millisecond)
			return c.Delete(ctx, obj, opts...)
		},
	})
	res, err := r.Reconcile(ctx, request(overdue))
	require.NoError(t, err, "a precondition failure means the pod is gone: done, not an error")
	assert.Zero(t, res)
	assert.False(t, deleting(t, successor), "the successor was deleted")
	assert.Equal(t, successor.UID, testenv.Get(t, suite.client, successor).UID)
	assert.Empty(t, events.got, "no event for a pod that was not deleted")
}

func TestReconcileRetriesTransientErrors(t *testing.T) {
	ns := testenv.NewNamespace(t, suite.client)
	ctx := context.Background()
	overdue, _ := sweptPod(ns, -time.Second, nil)
	testenv.Create(t, suite.client, overdue)
	fail := true
	r, events := newReconciler(t, ns, interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if fail {
				fail = false
				return apierrors.NewServiceUnavailable("etcd is having a moment")
			}
			return c.Delete(ctx, obj, opts...)
		},
	})
	_, err := r.Reconcile(ctx, request(overdue))
	require.Error(t, err, "returned to the workqueue, which retries with backoff")
	assert.False(t, deleting(t, overdue))
	assert.Empty(t, events.got)

	_, err = r.Reconcile(ctx, request(overdue))
	require.NoError(t, err)
	assert.True(t, deleting(t, overdue))
	assert.Equal(t, []string{sweeper.ReasonExceeded}, events.got)
}

func TestReconcileTreatsVanishedPodAsDone(t *testing.T) {
	ns := testenv.NewNamespace(t, suite.client)
	ctx := context.Background()
	overdue, _ := sweptPod(ns, -time.Second, nil)
	testenv.Create(t, suite.client, overdue)
	r, events := newReconciler(t, ns, interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			require.NoError(t, c.Delete(ctx, obj, client.GracePeriodSeconds(0)))
			return c.Delete(ctx, obj, opts...) // 404 now
		},
	})
	res, err := r.Reconcile(ctx, request(overdue))
	require.NoError(t, err)
	assert.Zero(t, res)
	assert.Empty(t, events.got)
}

func TestReconcileRateLimitsDeletes(t *testing.T) {
	ns := testenv.NewNamespace(t, suite.client)
	ctx := context.Background()
	var pods []*corev1.Pod
	for range 3 {
		pod, _ := sweptPod(ns, -time.Second, nil)
		pods = append(pods, testenv.Create(t, suite.client, pod))
	}
	var deletes int
	r, _ := newReconciler(t, ns, interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			deletes++
			return c.Delete(ctx, obj, opts...)
		},
	})
	r.Deletes = rate.NewLimiter(rate.Every(time.Hour), 1)

	res, err := r.Reconcile(ctx, request(pods[0]))
	require.NoError(t, err)
	assert.Zero(t, res)
	var waits []time.Duration
	for _, pod := range pods[1:] {
		res, err := r.Reconcile(ctx, request(pod))
		require.NoError(t, err)
		waits = append(waits, res.RequeueAfter)
	}
	assert.Equal(t, 1, deletes, "over the limit, pods wait in the queue")
	// Each waiting pod holds its own slot, an hour apart.
	assert.InDelta(t, time.Hour.Seconds(), waits[0].Seconds(), 5)
	assert.InDelta(t, (2 * time.Hour).Seconds(), waits[1].Seconds(), 5)
	// Asking again does not take a new slot.
	res, err = r.Reconcile(ctx, request(pods[1]))
	require.NoError(t, err)
	assert.InDelta(t, time.Hour.Seconds(), res.RequeueAfter.Seconds(), 5)
	assert.Equal(t, 1, deletes)
}

// lagObservations is how many deletions the enforcement-lag histogram holds.
func lagObservations(t *testing.T) uint64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == "airflow_pod_deadline_enforcement_lag_seconds" {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

func TestReconcileObservesLagOncePerDeletedPod(t *testing.T) {
	ns := testenv.NewNamespace(t, suite.client)
	ctx := context.Background()
	overdue, _ := sweptPod(ns, -time.Second, nil)
	testenv.Create(t, suite.client, overdue)
	failures := 2
	r, _ := newReconciler(t, ns, interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if failures > 0 {
				failures--
				return apierrors.NewServiceUnavailable("etcd is having a moment")
			}
			return c.Delete(ctx, obj, opts...)
		},
	})
	before := lagObservations(t)
	for range 2 {
		_, err := r.Reconcile(ctx, request(overdue))
		require.Error(t, err)
	}
	assert.Equal(t, before, lagObservations(t), "failed deletes are not enforcement")
	_, err := r.Reconcile(ctx, request(overdue))
	require.NoError(t, err)
	assert.True(t, deleting(t, overdue))
	assert.Equal(t, before+1, lagObservations(t), "one observation for the delete that succeeded")
}

func TestReconcileLooksAgainAfterAConflictingLower(t *testing.T) {
	ns := testenv.NewNamespace(t, suite.client)
	ctx := context.Background()
	pod, _ := sweptPod(ns, time.Hour, ptr.To[int64](7200))
	testenv.Create(t, suite.client, pod)
	playKubelet(t, pod, corev1.PodRunning)
	r, events := newReconciler(t, ns, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			return apierrors.NewConflict(corev1.Resource("pods"), obj.GetName(), errors.New("the object has been modified"))
		},
	})
	res, err := r.Reconcile(ctx, request(pod))
	require.NoError(t, err, "a conflict is not an error: the pod changed and is decided again")
	assert.Equal(t, time.Second, res.RequeueAfter, "looked at again soon even if no watch event comes")
	assert.Empty(t, events.got)
}
