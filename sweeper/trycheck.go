package sweeper

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
)

// errorLogEvery rate-limits the log line of a failing check: the metric
// counts every failure.
const errorLogEvery = time.Minute

// TryAPI is what the check asks one Airflow (airflowapi.Client).
type TryAPI interface {
	TaskInstances(ctx context.Context, keys []airflowapi.TaskKey) (airflowapi.Batch, error)
	DAGExists(ctx context.Context, dagID string) (bool, error)
}

// TryCheck ends the live pods whose Airflow try is over, as Airflow reports
// it: every Interval the leader asks one Airflow instance, in one batch
// (airflowapi's chunked, paginated list calls), about every tracked try of
// that instance, and ends each pod DecideTry says is over the way EndTry
// says. It shares the sweeper's pod
// store, clients, dry-run switch and deletion rate limit (R). Several
// instances are several TryChecks on the same R, one per instance: each
// polls on its own and never looks at another instance's pods.
type TryCheck struct {
	R        *Reconciler
	API      TryAPI
	Config   TryConfig
	Interval time.Duration
	// Synced reports whether the pod store is filled (informer.HasSynced).
	Synced func() bool

	mu       sync.Mutex
	reported map[types.UID]Kind
	failing  bool
	lastLog  time.Time
	// pending holds the live pods found over, waiting out their handoff,
	// and the instant it ends.
	pending map[types.UID]time.Time
	// confirmed: an answer of this Airflow confirmed a tracked pod's own
	// try (Confirms). The URL is fixed for the process, so once is enough.
	confirmed bool
}

// NeedLeaderElection makes the check run on the leader only, beside the
// sweeper whose pod store it reads.
func (c *TryCheck) NeedLeaderElection() bool { return true }

// Start polls until ctx ends (manager.Runnable), and rechecks the pods
// waiting out their handoff at the instant it ends.
func (c *TryCheck) Start(ctx context.Context) error {
	zeroTryMetrics(c.Config.Instance)
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		var due <-chan time.Time
		var timer *time.Timer
		if at, ok := c.nextDue(); ok {
			timer = time.NewTimer(at.Sub(c.R.Clock.Now()))
			due = timer.C
		}
		select {
		case <-ctx.Done():
		case <-t.C:
			c.Poll(ctx)
		case <-due:
			c.Recheck(ctx)
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// Poll runs one check of every tracked try of the instance.
func (c *TryCheck) Poll(ctx context.Context) {
	if c.Synced != nil && !c.Synced() {
		return
	}
	c.check(ctx, nil)
}

// Recheck asks Airflow again about the tries whose pods wait for their
// handoff to end, once it has: the pod is ended only if the try is still
// over (a later try may have adopted the pod meanwhile).
func (c *TryCheck) Recheck(ctx context.Context) {
	now := c.R.Clock.Now()
	due := map[types.UID]bool{}
	c.mu.Lock()
	for uid, at := range c.pending {
		if !now.Before(at) {
			due[uid] = true
		}
	}
	c.mu.Unlock()
	if len(due) > 0 {
		c.check(ctx, due)
	}
}

// nextDue is the earliest instant a pod's handoff ends.
func (c *TryCheck) nextDue() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first time.Time
	for _, at := range c.pending {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, !first.IsZero()
}

// check asks Airflow about the tries of the live pods in only (all when nil)
// and ends those whose try is over and whose handoff has ended; the others
// over wait in pending until it ends. Only a full check forgets the pending
// pods it does not find over: a recheck forgets those it asked about.
func (c *TryCheck) check(ctx context.Context, only map[types.UID]bool) {
	pods := c.candidates()
	// The highest try among the live pods of each task instance: a pod below
	// it will not be adopted (KPO would find more than one pod and fail).
	newest := map[airflowapi.TaskKey]int{}
	var keys []airflowapi.TaskKey
	var judged []*podState // the pods this check decides on
	asked := map[airflowapi.TaskKey]bool{}
	for _, s := range pods {
		if n, seen := newest[s.try.Task]; !seen || s.try.Number > n {
			newest[s.try.Task] = s.try.Number
		}
		if only != nil && !only[s.uid] {
			continue
		}
		judged = append(judged, s)
		if !asked[s.try.Task] {
			asked[s.try.Task] = true
			keys = append(keys, s.try.Task)
		}
	}
	c.mu.Lock()
	pending := c.pending
	c.pending = map[types.UID]time.Time{}
	if only != nil {
		for uid, at := range pending {
			if !only[uid] {
				c.pending[uid] = at
			}
		}
	}
	c.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	batch, err := c.API.TaskInstances(ctx, keys)
	if err != nil {
		c.failed(ctx, err)
		return
	}
	now := c.R.Clock.Now()
	// Only the judged pods: a recheck's batch lacks the others' tries, which
	// would otherwise each cost a get_dag for nothing.
	confirmed := c.confirm(ctx, judged, batch)
	known := map[string]bool{}
	if confirmed {
		known = c.knownDAGs(ctx, judged, batch, now)
		c.succeeded(ctx)
	} else {
		c.unconfirmed(ctx)
	}
	for _, s := range judged {
		if ctx.Err() != nil {
			return
		}
		in := TryInput{
			Try: *s.try, Created: s.pod.Created, Complete: batch.Complete, DAGKnown: known[s.try.Task.DagID],
			Superseded: newest[s.try.Task] > s.try.Number || s.pod.GaveUp, Confirmed: confirmed,
		}
		if ti, ok := batch.Found[s.try.Task]; ok {
			in.Answer = &ti
		}
		v := DecideTry(in, now, c.Config)
		if !v.Over {
			continue
		}
		due := HandoffDue(v.End, now, c.Config.Handoff)
		if at, ok := pending[s.uid]; ok && at.Before(due) {
			due = at // the instant first set holds: later polls do not push it on
		}
		if now.Before(due) {
			c.mu.Lock()
			c.pending[s.uid] = due
			c.mu.Unlock()
			continue
		}
		c.end(ctx, s, v)
	}
}

// candidates are the live pods of this instance with a try identity.
func (c *TryCheck) candidates() []*podState {
	var out []*podState
	for _, obj := range c.R.Pods.List() {
		s, ok := obj.(*podState)
		if !ok || s.try == nil || s.try.Instance != c.Config.Instance || s.pod.Deleting {
			continue
		}
		if s.pod.Phase == corev1.PodPending || s.pod.Phase == corev1.PodRunning {
			out = append(out, s)
		}
	}
	return out
}

// knownDAGs asks whether the DAGs of the tries absent from a complete
// answer exist (only those of pods past the grace: the rest cannot end).
// A DAG whose call fails stays unknown.
func (c *TryCheck) knownDAGs(ctx context.Context, pods []*podState, batch airflowapi.Batch, now time.Time) map[string]bool {
	known := map[string]bool{}
	if !batch.Complete {
		return known
	}
	asked := map[string]bool{}
	for _, s := range pods {
		dag := s.try.Task.DagID
		if _, found := batch.Found[s.try.Task]; found || asked[dag] || now.Sub(s.pod.Created) < c.Config.Grace {
			continue
		}
		asked[dag] = true
		ok, err := c.API.DAGExists(ctx, dag)
		if err != nil {
			tryAPIErrors.WithLabelValues(c.Config.Instance, airflowapi.KindOf(err)).Inc()
			c.logError(ctx, err, "could not tell whether a DAG exists; its absent tries are kept", "dagID", dag)
			continue
		}
		known[dag] = ok
	}
	return known
}

// errUnconfirmed is logged while an Airflow has confirmed no pod's try.
var errUnconfirmed = errors.New("no answer of this Airflow has shown a tracked pod's own try (same try_number, and the stamped try-id on Airflow 3 or try-start on Airflow 2)")

// confirm reports whether this Airflow is confirmed, by this answer or an
// earlier one.
func (c *TryCheck) confirm(ctx context.Context, pods []*podState, batch airflowapi.Batch) bool {
	c.mu.Lock()
	done := c.confirmed
	c.mu.Unlock()
	if done {
		return true
	}
	for _, s := range pods {
		if ti, ok := batch.Found[s.try.Task]; ok && Confirms(*s.try, ti) {
			c.mu.Lock()
			c.confirmed = true
			c.mu.Unlock()
			logf.FromContext(ctx).Info("Airflow instance confirmed: its answer shows a tracked pod's own try", "instance", c.Config.Instance, "try", s.try.String())
			return true
		}
	}
	return false
}

// unconfirmed counts and logs a check whose Airflow answered but has not
// shown any tracked pod's own try: it ends nothing.
func (c *TryCheck) unconfirmed(ctx context.Context) {
	tryChecks.WithLabelValues(c.Config.Instance, CheckUnconfirmed).Inc()
	c.logError(ctx, errUnconfirmed, "Airflow try check unconfirmed; no pod ended by it until this Airflow shows a tracked pod's own try (is the URL this instance's Airflow?)")
}

func (c *TryCheck) failed(ctx context.Context, err error) {
	tryChecks.WithLabelValues(c.Config.Instance, CheckError).Inc()
	tryAPIErrors.WithLabelValues(c.Config.Instance, airflowapi.KindOf(err)).Inc()
	c.mu.Lock()
	c.failing = true
	c.mu.Unlock()
	c.logError(ctx, err, "Airflow try check failed; no pod ended by it until Airflow answers", "kind", airflowapi.KindOf(err))
}

func (c *TryCheck) succeeded(ctx context.Context) {
	tryChecks.WithLabelValues(c.Config.Instance, CheckOK).Inc()
	c.mu.Lock()
	was := c.failing
	c.failing = false
	c.mu.Unlock()
	if was {
		logf.FromContext(ctx).Info("Airflow try check answers again", "instance", c.Config.Instance)
	}
}

// logError logs at most once per errorLogEvery.
func (c *TryCheck) logError(ctx context.Context, err error, msg string, kv ...any) {
	c.mu.Lock()
	now := time.Now()
	if now.Sub(c.lastLog) < errorLogEvery {
		c.mu.Unlock()
		return
	}
	c.lastLog = now
	c.mu.Unlock()
	logf.FromContext(ctx).Error(err, msg, append(kv, "instance", c.Config.Instance)...)
}

// end reads the pod fresh, makes sure it is still the same pod of the same
// try, and ends it as EndTry says.
func (c *TryCheck) end(ctx context.Context, s *podState, v TryVerdict) {
	key := types.NamespacedName{Namespace: s.namespace, Name: s.name}
	log := logf.FromContext(ctx).WithValues("pod", key, "try", s.try.String(), "state", stateName(v.State), "why", v.Why)
	fresh := &corev1.Pod{}
	if err := c.R.APIReader.Get(ctx, key, fresh); err != nil {
		if !apierrors.IsNotFound(err) {
			actionsTotal.WithLabelValues(ActionFailed).Inc()
			log.Error(err, "reading the pod before ending it")
		}
		return
	}
	if t, ok := TryOf(fresh.Annotations, c.R.Config.Keys); fresh.UID != s.uid || !ok || t != *s.try {
		return // replaced since the store saw it
	}
	now := c.R.Clock.Now()
	a := EndTry(PodOf(fresh, c.R.Config.Keys), now, c.R.Config)
	if a.Kind == None {
		return
	}
	if c.R.DryRun {
		if c.firstReport(fresh.UID, a.Kind) {
			log.Info("dry run: would end the pod of a try Airflow reports over", "action", a.Kind.String())
			c.R.Recorder.Eventf(fresh, nil, corev1.EventTypeWarning, ReasonTryEnded, tryEventAction(a), "%s", tryNote(fresh, a, *s.try, v, true))
			tryEnded.WithLabelValues(c.Config.Instance, EndedDryRun).Inc()
		}
		return
	}
	switch a.Kind {
	case Lower:
		note := tryNote(fresh, a, *s.try, v, false) // before the patch changes fresh
		patch := client.MergeFromWithOptions(fresh.DeepCopy(), client.MergeFromWithOptimisticLock{})
		fresh.Spec.ActiveDeadlineSeconds = &a.ActiveDeadlineSeconds
		if err := c.R.Client.Patch(ctx, fresh, patch); err != nil {
			// Gone, or changed since read: the next poll decides again.
			if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				actionsTotal.WithLabelValues(ActionFailed).Inc()
				log.Error(err, "lowering activeDeadlineSeconds of the pod of a try Airflow reports over")
			}
			return
		}
		log.Info("lowered activeDeadlineSeconds: Airflow reports the pod's try over", "activeDeadlineSeconds", a.ActiveDeadlineSeconds)
		c.R.Recorder.Eventf(fresh, nil, corev1.EventTypeWarning, ReasonTryEnded, eventActionLower, "%s", note)
		tryEnded.WithLabelValues(c.Config.Instance, EndedLowered).Inc()
	case Delete:
		if c.R.Deletes != nil {
			if err := c.R.Deletes.Wait(ctx); err != nil {
				return
			}
		}
		err := c.R.Client.Delete(ctx, fresh, client.Preconditions{UID: &fresh.UID})
		switch {
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			return
		case err != nil:
			actionsTotal.WithLabelValues(ActionFailed).Inc()
			log.Error(err, "deleting the pod of a try Airflow reports over")
			return
		}
		log.Info("deleted the pod of a try Airflow reports over", "because", a.Why)
		c.R.Recorder.Eventf(fresh, nil, corev1.EventTypeWarning, ReasonTryEnded, eventActionDelete, "%s", tryNote(fresh, a, *s.try, v, false))
		tryEnded.WithLabelValues(c.Config.Instance, EndedDeleted).Inc()
	}
}

func (c *TryCheck) firstReport(uid types.UID, k Kind) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reported == nil {
		c.reported = map[types.UID]Kind{}
	}
	if prev, ok := c.reported[uid]; ok && prev == k {
		return false
	}
	// Bounded: dry-run reports of pods long gone are dropped wholesale.
	if len(c.reported) > 100_000 {
		c.reported = map[types.UID]Kind{}
	}
	c.reported[uid] = k
	return true
}
