package sweeper

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// heapPods is how many states TestTryIdentityHeapPerPod keeps: enough that
// the runtime's own allocations during the measurement are noise per pod.
const heapPods = 10_000

// retainedPerPod is the live heap, per pod, of the states the informer's
// transform keeps for heapPods KPO pods (with the try identity or not).
// Each pod is built with strings of its own, as the API's decoder makes
// them, and dropped after the transform, as the informer drops it.
func retainedPerPod(t *testing.T, identity bool) float64 {
	t.Helper()
	transform := toState(keys)
	states := make([]any, heapPods)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range states {
		dag, run, task := fmt.Sprintf("daily_orders_etl_%03d", i%50), fmt.Sprintf("scheduled__2026-12-%02dT00:00:00+00:00", 1+i%10), fmt.Sprintf("load_orders_to_warehouse_%02d", i%10)
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: "airflow", Name: fmt.Sprintf("%s-%s-%08x", dag, task, i), UID: types.UID(fmt.Sprintf("0b4f0c3e-6f1e-4c3a-9d55-%012x", i)),
				Labels: map[string]string{
					"dag_id": dag, "task_id": task, "run_id": fmt.Sprintf("scheduled__2026-12-%02dT0000000000-%08x", 1+i%10, i),
					"try_number": "1", "kubernetes_pod_operator": "True",
				},
				Annotations: map[string]string{keys.Deadline: "1796688000"},
			},
		}
		if identity {
			for k, v := range map[string]string{
				keys.Instance: "prod", keys.DagID: dag, keys.RunID: run, keys.TaskID: task, keys.MapIndex: "-1", keys.TryNumber: "1",
				keys.TryStart: "2026-12-01T00:00:07.123456+00:00",
			} {
				p.Annotations[k] = string([]byte(v)) // a string of its own, as decoded
			}
		}
		s, err := transform(p)
		require.NoError(t, err)
		states[i] = s
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(states)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / heapPods
}

// TestTryIdentityHeapPerPod holds what the try identity adds to the
// sweeper's state per pod to issue 19's target (≤ 1 KiB): the Try and the
// four strings it keeps of the annotations, not the annotations map or the
// pod. The same pods without the identity are the baseline.
func TestTryIdentityHeapPerPod(t *testing.T) {
	plain := retainedPerPod(t, false)
	with := retainedPerPod(t, true)
	t.Logf("state per pod: %.0f B without the try identity, %.0f B with it: +%.0f B", plain, with, with-plain)
	assert.Greater(t, with, plain, "the try identity is kept")
	assert.LessOrEqual(t, with-plain, 1024.0, "the try identity adds more than 1 KiB per pod")
}
