package sweeper

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// podState is all the sweeper keeps of a pod between events. The sweeper
// watches every pod in scope (annotations cannot be selected on), so on a big
// cluster this is its memory: a corev1.Pod struct alone is 1.2 KiB before any
// of its strings and maps, this is about a fifth of that.
type podState struct {
	namespace, name string
	uid             types.UID
	// tracked says whether the pod carries a deadline (deadline.Keys.Carries:
	// the webhooks' definition too); pod is only filled when it does or has
	// a try to check.
	tracked bool
	pod     Pod
	// who names the Airflow task for event messages (identity).
	who string
	// try is the pod's Airflow try (nil: no valid identity annotations, the
	// try check never looks at it). Its strings are the annotation values
	// themselves: about 100-300 bytes per pod.
	try *Try
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
		if excluded[ns] {
			return s, nil // identity only: never reconciled
		}
		carries := keys.Carries(pod.Annotations)
		t, hasTry := TryOf(pod.Annotations, keys)
		if !carries && !hasTry {
			return s, nil // neither reconciled nor checked against Airflow
		}
		// Read once for both uses: the transform runs on every pod event.
		s.pod, s.who = PodOf(pod, keys), identity(pod)
		if hasTry {
			s.try = &t // checked against Airflow (TryCheck), deadline or not
		}
		s.tracked = carries // reconciled for its deadline
		return s, nil
	}
}

// ref is the pod as an event refers to it.
func (s *podState) ref() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: s.name, UID: s.uid}}
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
	if s == nil || !s.tracked || s.pod.Deleting || s.pod.terminal() {
		return false
	}
	_, ok, errs := cfg.Keys.Resolve(s.pod.Deadline, deadline.CreationAnchor(s.pod.Created))
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
