package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The helpers below are the one set the cluster tests share (test/controlplane,
// test/kubelet, test/e2e): the client is always passed, so a helper never
// guesses which API server or identity it talks to.

// LongSleep is a script that outlives any deadline a test sets.
const LongSleep = "sleep 1800"

// KPOPod is the pod KubernetesPodOperator builds for the seed task (its
// labels, a random name suffix, one "base" container running sh -c script,
// restartPolicy Never) with annotations and activeDeadlineSeconds (nil: none).
// Tests add the nodeSelector or scheduling gates they are about.
func KPOPod(namespace, script string, annotations map[string]string, ads *int64) *corev1.Pod {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "run-long-pod-" + hex.EncodeToString(suffix),
			Namespace: namespace,
			Labels: map[string]string{
				"dag_id":                  "kpo_deferrable_execution_timeout_repro",
				"task_id":                 "run_long_pod",
				"run_id":                  "manual__2026-12-01T000000.0000000000-4b5c6d7e8",
				"try_number":              "1",
				"kubernetes_pod_operator": "True",
				"airflow_version":         "3.3.2",
				"airflow_kpo_in_cluster":  "False",
			},
			Annotations: annotations,
		},
		Spec: corev1.PodSpec{
			RestartPolicy:         corev1.RestartPolicyNever,
			ActiveDeadlineSeconds: ads,
			Containers: []corev1.Container{{
				Name:    "base",
				Image:   "alpine:3.20",
				Command: []string{"sh", "-c"},
				Args:    []string{script},
			}},
		},
	}
}

// NewNamespace creates a namespace for one test and deletes it afterwards.
func NewNamespace(t testing.TB, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	require.NoError(t, c.Create(context.Background(), ns))
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	return ns.Name
}

// Create creates pod (filled in with what the API server returned) and
// returns it.
func Create(t testing.TB, c client.Client, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	require.NoError(t, c.Create(context.Background(), pod))
	return pod
}

// Get reads pod afresh; it must exist.
func Get(t testing.TB, c client.Client, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, ok := Lookup(t, c, pod)
	require.True(t, ok, "pod %s/%s is gone", pod.Namespace, pod.Name)
	return out
}

// Lookup reads pod afresh; false when it is gone.
func Lookup(t testing.TB, c client.Client, pod *corev1.Pod) (*corev1.Pod, bool) {
	t.Helper()
	out := &corev1.Pod{}
	err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), out)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	require.NoError(t, err)
	return out, true
}

// CoreEvents lists the core/v1 view of the events about pod with reason:
// what `kubectl get events --field-selector` reads, and where the kubelet's
// and the scheduler's events are.
func CoreEvents(t testing.TB, c client.Client, pod *corev1.Pod, reason string) []corev1.Event {
	t.Helper()
	var list corev1.EventList
	require.NoError(t, c.List(context.Background(), &list, client.InNamespace(pod.Namespace),
		client.MatchingFields{"reason": reason, "involvedObject.name": pod.Name}))
	return list.Items
}

// Events lists the events.k8s.io/v1 events about pod with reason: what the
// binary sends.
func Events(t testing.TB, c client.Client, pod *corev1.Pod, reason string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	require.NoError(t, c.List(context.Background(), &list, client.InNamespace(pod.Namespace)))
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == pod.Name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}
