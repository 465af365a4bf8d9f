package sweeper

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

// identityLabels are the KPO labels event messages name the task by, in the
// order they are printed.
var identityLabels = []string{"dag_id", "task_id", "run_id", "try_number", "map_index"}

// CacheOptions scopes the manager's pod cache to what the sweeper watches and
// strips each cached pod down to what Decide and the event messages read. On
// a big cluster the cache holds every pod in scope, annotated or not, so a
// full pod (often 5-10 KiB with managedFields) would dominate the memory.
func CacheOptions(keys webhook.Keys, namespace, labelSelector string) (cache.Options, error) {
	byObject := cache.ByObject{Transform: StripPod(keys)}
	if labelSelector != "" {
		sel, err := labels.Parse(labelSelector)
		if err != nil {
			return cache.Options{}, fmt.Errorf("pod label selector: %w", err)
		}
		byObject.Label = sel
	}
	opts := cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: byObject}}
	if namespace != "" {
		opts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return opts, nil
}

// StripPod returns the cache transform that keeps only what the sweeper reads.
// A pod without our annotations keeps just its identity, so the cache can tell
// that it exists and nothing more.
func StripPod(keys webhook.Keys) toolscache.TransformFunc {
	return func(obj any) (any, error) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			// Tombstones (DeletedFinalStateUnknown) pass through untouched.
			return obj, nil
		}
		out := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			CreationTimestamp: pod.CreationTimestamp,
			DeletionTimestamp: pod.DeletionTimestamp,
		}}
		ours := map[string]string{}
		for _, k := range []string{keys.Deadline, keys.Timeout} {
			if v, found := pod.Annotations[k]; found {
				ours[k] = v
			}
		}
		if len(ours) == 0 {
			return out, nil
		}
		out.Annotations = ours
		out.Labels = map[string]string{}
		for _, k := range append(identityLabels, AlreadyCheckedLabel) {
			if v, found := pod.Labels[k]; found {
				out.Labels[k] = v
			}
		}
		out.Spec.ActiveDeadlineSeconds = pod.Spec.ActiveDeadlineSeconds
		out.Status.Phase = pod.Status.Phase
		out.Status.StartTime = pod.Status.StartTime
		return out, nil
	}
}

// hasDeadline reports whether a (cached) pod carries one of our annotations,
// whatever its value: the sweeper's event filter.
func hasDeadline(keys webhook.Keys, obj client.Object) bool {
	a := obj.GetAnnotations()
	_, d := a[keys.Deadline]
	_, t := a[keys.Timeout]
	return d || t
}
