package sweeper

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// ControllerName is the reporting controller of the sweeper's events.
const ControllerName = "airflow-pod-deadline-sweeper"

// controllerName names the controller in logs ("controller") and metrics
// (controller_runtime_reconcile_*{controller=...}); docs and dashboards
// select on it.
const controllerName = "sweeper"

// conflictBackstop is when a pod whose patch met a conflict is looked at
// again at the latest: the change that caused the conflict reaches the
// informer, which requeues the pod at once.
const conflictBackstop = time.Second

// Reconciler enforces execution deadlines on live pods. Each pod is reconciled
// when it changes and again at the exact instant it next needs action
// (RequeueAfter), never polled.
type Reconciler struct {
	// Pods is the informer's store of podStates (NewPodInformer).
	Pods toolscache.Store
	// Client writes (patch, delete).
	Client client.Writer
	// APIReader reads fresh from the API server before every write.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Config    Config
	// DryRun records what would be done and changes no pod.
	DryRun bool
	// Deletes bounds deletions per second; over it, pods wait in the queue.
	Deletes *rate.Limiter
	// Clock reads now for each decision (required).
	Clock clock.PassiveClock

	mu       sync.Mutex
	reported map[types.NamespacedName]report
	slots    map[types.NamespacedName]time.Time
}

// report remembers an event made once per pod: an invalid annotation, or in
// dry-run mode what would have been done.
type report struct {
	uid  types.UID
	kind Kind
}

// SetupWithManager registers the sweeper with mgr, fed by informer (from
// NewPodInformer) with the pods that carry one of the deadline annotations.
// The informer runs only while the controller does, that is on the leader.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, informer toolscache.SharedIndexInformer, workers int) error {
	r.Pods = informer.GetStore()
	src := source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		enqueue := func(obj any) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if s, ok := obj.(*podState); ok && s.tracked {
				q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.namespace, Name: s.name}})
			}
		}
		// The tracked-pods gauge follows the store, one event at a time.
		count := func(obj any, delta float64) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if s, ok := obj.(*podState); ok && s.enforced(r.Config) {
				trackedPods.Add(delta)
			}
		}
		if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { count(obj, 1); enqueue(obj) },
			UpdateFunc: func(old, obj any) {
				count(old, -1)
				count(obj, 1)
				enqueue(obj)
			},
			DeleteFunc: func(obj any) { count(obj, -1); enqueue(obj) },
		}); err != nil {
			return err
		}
		go informer.RunWithContext(ctx)
		return waitSynced(ctx, informer)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named(controllerName).
		WatchesRawSource(src).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	state, err := stateOf(r.Pods, req.String())
	if err != nil {
		return ctrl.Result{}, err
	}
	if state == nil {
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	now := r.Clock.Now()
	a := Decide(state.pod, now, r.Config)
	if a.Kind != Lower && a.Kind != Delete {
		return r.follow(ctx, req.NamespacedName, state.ref(), state.who, a, now), nil
	}
	if a.Kind == Delete && !r.DryRun {
		if wait := r.slot(req.NamespacedName, now); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}

	// The cache may be behind: decide again on the pod as it is now.
	fresh := &corev1.Pod{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, fresh); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		actionsTotal.WithLabelValues(ActionFailed).Inc()
		return ctrl.Result{}, err
	}
	now = r.Clock.Now()
	a = Decide(PodOf(fresh, r.Config.Keys), now, r.Config)
	switch a.Kind {
	case Delete:
		return r.delete(ctx, req.NamespacedName, fresh, a, now)
	case Lower:
		return r.lower(ctx, req.NamespacedName, fresh, a, now)
	}
	return r.follow(ctx, req.NamespacedName, fresh, identity(fresh), a, now), nil
}

// follow does the bookkeeping of the actions that change no pod.
func (r *Reconciler) follow(ctx context.Context, key types.NamespacedName, pod *corev1.Pod, who string, a Action, now time.Time) ctrl.Result {
	switch a.Kind {
	case Wait:
		return ctrl.Result{RequeueAfter: a.At.Sub(now)}
	case Invalid:
		if r.firstReport(key, pod.UID, Invalid) {
			logf.FromContext(ctx).Info("pod has a malformed deadline annotation; not enforced", "pod", key)
			r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonInvalid, eventActionIgnore, "%s", invalidNote(who, a))
			actionsTotal.WithLabelValues(ActionInvalid).Inc()
		}
	default:
		r.forget(key)
	}
	return ctrl.Result{}
}

func (r *Reconciler) delete(ctx context.Context, key types.NamespacedName, pod *corev1.Pod, a Action, now time.Time) (ctrl.Result, error) {
	log := logf.FromContext(ctx).WithValues("pod", key, "deadline", a.Deadline, "why", a.Why)
	if r.DryRun {
		if r.firstReport(key, pod.UID, Delete) {
			log.Info("dry run: would delete pod past its execution deadline")
			r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonExceeded, eventActionDelete, "%s", deleteNote(identity(pod), a, now, true))
			actionsTotal.WithLabelValues(ActionDryRun).Inc()
		}
		return ctrl.Result{}, nil
	}
	// The UID precondition makes sure a successor of the same name is never
	// deleted for its predecessor's deadline; the pod's own
	// terminationGracePeriodSeconds applies, as for any delete.
	err := r.Client.Delete(ctx, pod, client.Preconditions{UID: &pod.UID})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Gone already, or replaced: nothing left to enforce on this pod.
		r.forget(key)
		return ctrl.Result{}, nil
	case err != nil:
		actionsTotal.WithLabelValues(ActionFailed).Inc()
		return ctrl.Result{}, err
	}
	// Observed once per pod, for the delete that succeeded: failed attempts
	// are retried and counted as failed actions.
	enforcementLag.Observe(now.Sub(a.Due).Seconds())
	log.Info("deleted pod past its execution deadline", "lag", now.Sub(a.Due).String())
	r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonExceeded, eventActionDelete, "%s", deleteNote(identity(pod), a, now, false))
	actionsTotal.WithLabelValues(ActionDeleted).Inc()
	r.forget(key)
	return ctrl.Result{}, nil
}

func (r *Reconciler) lower(ctx context.Context, key types.NamespacedName, pod *corev1.Pod, a Action, now time.Time) (ctrl.Result, error) {
	log := logf.FromContext(ctx).WithValues("pod", key, "deadline", a.Deadline, "activeDeadlineSeconds", a.ActiveDeadlineSeconds)
	next := ctrl.Result{RequeueAfter: a.At.Sub(now)}
	if r.DryRun {
		if r.firstReport(key, pod.UID, Lower) {
			log.Info("dry run: would lower activeDeadlineSeconds")
			r.Recorder.Eventf(pod, nil, corev1.EventTypeNormal, ReasonClamped, eventActionLower, "%s", lowerNote(pod, a, true))
			actionsTotal.WithLabelValues(ActionDryRun).Inc()
		}
		return next, nil
	}
	note := lowerNote(pod, a, false) // before the patch changes pod
	patch := client.MergeFromWithOptions(pod.DeepCopy(), client.MergeFromWithOptimisticLock{})
	pod.Spec.ActiveDeadlineSeconds = &a.ActiveDeadlineSeconds
	err := r.Client.Patch(ctx, pod, patch)
	switch {
	case apierrors.IsNotFound(err):
		r.forget(key)
		return ctrl.Result{}, nil
	case apierrors.IsConflict(err):
		// Changed since we read it: decide again on the new version.
		return ctrl.Result{RequeueAfter: conflictBackstop}, nil
	case err != nil:
		actionsTotal.WithLabelValues(ActionFailed).Inc()
		return ctrl.Result{}, err
	}
	log.Info("lowered activeDeadlineSeconds to end the pod at its execution deadline")
	r.Recorder.Eventf(pod, nil, corev1.EventTypeNormal, ReasonClamped, eventActionLower, "%s", note)
	actionsTotal.WithLabelValues(ActionLowered).Inc()
	return next, nil
}

// slot reserves a deletion under the rate limit and returns how long the pod
// must wait for it; the reservation is kept across the requeue, so every pod
// is deleted at its reserved instant and none spins on the limiter.
func (r *Reconciler) slot(key types.NamespacedName, now time.Time) time.Duration {
	if r.Deletes == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.slots[key]
	if !ok {
		at = now.Add(r.Deletes.ReserveN(now, 1).DelayFrom(now))
		if r.slots == nil {
			r.slots = map[types.NamespacedName]time.Time{}
		}
		r.slots[key] = at
	}
	if now.Before(at) {
		return at.Sub(now)
	}
	delete(r.slots, key)
	return 0
}

func (r *Reconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.reported, key)
	delete(r.slots, key)
}

// firstReport reports whether this pod has not had this report yet, and
// records that it has now.
func (r *Reconciler) firstReport(key types.NamespacedName, uid types.UID, kind Kind) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reported == nil {
		r.reported = map[types.NamespacedName]report{}
	}
	if r.reported[key] == (report{uid, kind}) {
		return false
	}
	r.reported[key] = report{uid, kind}
	return true
}
