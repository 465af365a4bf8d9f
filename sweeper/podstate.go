package sweeper

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// identityLabels are the KPO labels event messages name the task by, in the
// order they are printed.
var identityLabels = []string{"dag_id", "task_id", "run_id", "try_number", "map_index"}

// podState is all the sweeper keeps of a pod between events. The sweeper
// watches every pod in scope (annotations cannot be selected on), so on a big
// cluster this is its memory: a corev1.Pod struct alone is 1.2 KiB before any
// of its strings and maps, this is about a fifth of that.
type podState struct {
	namespace, name string
	uid             types.UID
	created         time.Time
	started         time.Time // zero: not started
	deleting        bool
	phase           corev1.PodPhase
	ads             int64
	hasADS          bool
	// deadline and timeout are the raw annotation values; tracked says
	// whether either annotation is present at all.
	deadline, timeout string
	tracked           bool
	// who names the Airflow task for event messages (identity), and gaveUp
	// is KPO's already_checked=True.
	who    string
	gaveUp bool
}

// GetObjectMeta makes podState keyable by the informer (meta.Accessor).
func (s *podState) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: s.namespace, Name: s.name}
}

// toState is the informer's transform: a full pod in, its podState out. Pods
// in an excluded namespace keep their identity only: never reconciled.
func toState(keys deadline.Keys, exclude ...string) toolscache.TransformFunc {
	excluded := map[string]bool{}
	for _, ns := range exclude {
		excluded[ns] = true
	}
	// One string per namespace instead of one per pod. The transform runs
	// under the informer queue's lock, one object at a time.
	namespaces := map[string]string{}
	return func(obj any) (any, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			// Tombstones (DeletedFinalStateUnknown) carry an already
			// transformed object.
			return obj, nil
		}
		ns, seen := namespaces[pod.Namespace]
		if !seen {
			ns = pod.Namespace
			namespaces[ns] = ns
		}
		s := &podState{namespace: ns, name: pod.Name, uid: pod.UID}
		d, hasD := pod.Annotations[keys.Deadline]
		t, hasT := pod.Annotations[keys.Timeout]
		if (!hasD && !hasT) || excluded[ns] {
			return s, nil // identity only: never reconciled
		}
		s.tracked, s.deadline, s.timeout = true, d, t
		s.created = pod.CreationTimestamp.Time
		s.deleting = pod.DeletionTimestamp != nil
		s.phase = pod.Status.Phase
		if pod.Status.StartTime != nil {
			s.started = pod.Status.StartTime.Time
		}
		if pod.Spec.ActiveDeadlineSeconds != nil {
			s.ads, s.hasADS = *pod.Spec.ActiveDeadlineSeconds, true
		}
		s.who = identity(pod)
		s.gaveUp = pod.Labels[AlreadyCheckedLabel] == "True"
		return s, nil
	}
}

// pod is the view of the state that Decide reads.
func (s *podState) pod(keys deadline.Keys) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Namespace: s.namespace, Name: s.name, UID: s.uid,
		CreationTimestamp: metav1.NewTime(s.created),
		Annotations:       map[string]string{},
	}}
	if s.deadline != "" {
		p.Annotations[keys.Deadline] = s.deadline
	}
	if s.timeout != "" {
		p.Annotations[keys.Timeout] = s.timeout
	}
	if s.gaveUp {
		p.Labels = map[string]string{AlreadyCheckedLabel: "True"}
	}
	if s.deleting {
		p.DeletionTimestamp = &p.CreationTimestamp // only its presence is read
	}
	p.Status.Phase = s.phase
	if !s.started.IsZero() {
		p.Status.StartTime = &metav1.Time{Time: s.started}
	}
	if s.hasADS {
		ads := s.ads
		p.Spec.ActiveDeadlineSeconds = &ads
	}
	return p
}

// Scope is which pods the sweeper watches.
type Scope struct {
	// Namespace limits the watch to one namespace ("": all).
	Namespace string
	// LabelSelector limits it to matching pods ("": all).
	LabelSelector string
	// ExcludeNamespaces are never enforced, like the webhooks'
	// namespaceSelector exclusions.
	ExcludeNamespaces []string
}

// NewPodInformer watches the pods in scope and stores a podState for each.
func NewPodInformer(cs kubernetes.Interface, keys deadline.Keys, scope Scope) (toolscache.SharedIndexInformer, error) {
	if _, err := labels.Parse(scope.LabelSelector); err != nil {
		return nil, fmt.Errorf("pod label selector: %w", err)
	}
	lw := toolscache.NewFilteredListWatchFromClient(cs.CoreV1().RESTClient(), "pods", scope.Namespace, func(o *metav1.ListOptions) {
		o.LabelSelector = scope.LabelSelector
	})
	inf := toolscache.NewSharedIndexInformerWithOptions(lw, &corev1.Pod{}, toolscache.SharedIndexInformerOptions{
		ObjectDescription: "pods (execution deadlines)",
	})
	if err := inf.SetTransform(toState(keys, scope.ExcludeNamespaces...)); err != nil {
		return nil, err
	}
	return inf, nil
}

// enforced reports whether the sweeper is waiting on this pod: it has a valid
// deadline and is neither finished nor being deleted. It is what the
// tracked-pods gauge counts.
func (s *podState) enforced(cfg Config) bool {
	if s == nil || !s.tracked || s.deleting || s.phase == corev1.PodSucceeded || s.phase == corev1.PodFailed {
		return false
	}
	_, ok, errs := cfg.Keys.Resolve(deadline.Values{Deadline: s.deadline, Timeout: s.timeout}, deadline.CreationAnchor(s.created))
	return ok && len(errs) == 0
}

// stateOf returns the state stored for namespace/name, or nil.
func stateOf(store toolscache.Store, key string) (*podState, error) {
	obj, exists, err := store.GetByKey(key)
	if err != nil || !exists {
		return nil, err
	}
	s, ok := obj.(*podState)
	if !ok {
		return nil, fmt.Errorf("unexpected %T in the pod store", obj)
	}
	return s, nil
}

// waitSynced waits for the informer's initial list.
func waitSynced(ctx context.Context, inf toolscache.SharedIndexInformer) error {
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("pod informer did not sync: %w", ctx.Err())
	}
	return nil
}
