package sweeper

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func state(t *testing.T, p *corev1.Pod) *podState {
	t.Helper()
	got, err := toState(keys)(p)
	require.NoError(t, err)
	return got.(*podState)
}

func TestPodStateHoldsWhatDecideReads(t *testing.T) {
	shapes := map[string]*corev1.Pod{
		"pending":         newPod(ads(3600)),
		"running":         newPod(started(created), ads(3600), label("kubernetes_pod_operator", "True")),
		"already checked": newPod(started(created), label(AlreadyCheckedLabel, "True")),
		"succeeded":       newPod(started(created), phase(corev1.PodSucceeded)),
		"deleting":        newPod(deleting),
		"timeout only":    newPod(annotations(map[string]string{keys.Timeout: "30s"})),
		"both":            newPod(annotations(map[string]string{keys.Timeout: "30s", keys.Deadline: "1779271300"})),
		"malformed":       newPod(annotations(map[string]string{keys.Timeout: "soon"})),
	}
	for name, full := range shapes {
		t.Run(name, func(t *testing.T) {
			full.Annotations["unrelated"] = "dropped"
			full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
			full.Spec.Containers = []corev1.Container{{Name: "base", Image: "alpine"}}
			full.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
			s := state(t, full)
			// The state holds exactly what Decide reads of the full pod, so
			// the cached and the fresh path decide alike.
			assert.Equal(t, PodOf(full, keys), s.pod)
			for _, d := range []int{-120, -30, 0, 14, 15, 3600} {
				now := deadlineAt.Add(timeSeconds(d))
				assert.Equal(t, Decide(PodOf(full, keys), now, cfg), Decide(s.pod, now, cfg), "at deadline%+ds", d)
			}
			// The event messages name the same task, and refer to the same pod.
			assert.Equal(t, identity(full), s.who)
			assert.NotEmpty(t, s.who)
			ref := s.ref()
			assert.Equal(t, []string{full.Namespace, full.Name, string(full.UID)}, []string{ref.Namespace, ref.Name, string(ref.UID)})
		})
	}
}

func TestPodStateWithoutDeadlineIsIdentityOnly(t *testing.T) {
	// Empty values are no deadline (deadline.Keys.Carries), as for the
	// webhooks and the chart's matchCondition.
	empty := state(t, newPod(annotations(map[string]string{keys.Deadline: "", keys.Timeout: ""}), started(created), ads(5)))
	assert.Equal(t, &podState{namespace: "airflow", name: "load-abc", uid: "uid-1"}, empty)
	s := state(t, newPod(annotations(map[string]string{"other": "x"}), started(created), ads(5)))
	assert.Equal(t, &podState{namespace: "airflow", name: "load-abc", uid: "uid-1"}, s)
	assert.False(t, s.enforced(cfg))
	assert.False(t, s.tracked)
	assert.Equal(t, "airflow", s.GetObjectMeta().GetNamespace())
	key, err := toolscache.MetaNamespaceKeyFunc(s)
	require.NoError(t, err)
	assert.Equal(t, "airflow/load-abc", key)
}

func TestPodStateEnforced(t *testing.T) {
	assert.True(t, state(t, newPod()).enforced(cfg))
	assert.True(t, state(t, newPod(started(created))).enforced(cfg))
	assert.False(t, state(t, newPod(started(created), phase(corev1.PodFailed))).enforced(cfg))
	assert.False(t, state(t, newPod(deleting)).enforced(cfg))
	assert.False(t, state(t, newPod(annotations(map[string]string{keys.Timeout: "soon"}))).enforced(cfg))
	assert.False(t, state(t, newPod(annotations(map[string]string{keys.Timeout: ""}))).enforced(cfg))
}

func TestTransformInternsNamespaces(t *testing.T) {
	transform := toState(keys)
	a, _ := transform(newPod())
	other := newPod()
	other.Namespace = string([]byte("airflow")) // equal, separately allocated
	b, _ := transform(other)
	assert.Same(t, unsafe.StringData(a.(*podState).namespace), unsafe.StringData(b.(*podState).namespace))
}

func TestExcludedNamespaceIsIdentityOnly(t *testing.T) {
	got, err := toState(keys, "kube-system", "airflow")(newPod(started(created), ads(3600)))
	require.NoError(t, err)
	s := got.(*podState)
	assert.False(t, s.tracked)
	assert.False(t, s.enforced(cfg))
	got, err = toState(keys, "kube-system")(newPod())
	require.NoError(t, err)
	assert.True(t, got.(*podState).tracked)
}

func TestPodStateIsSmall(t *testing.T) {
	// The point of podState: a fraction of the 1.2 KiB of a corev1.Pod struct.
	assert.Less(t, unsafe.Sizeof(podState{}), unsafe.Sizeof(corev1.Pod{})/4)
}

func TestTransformPassesTombstones(t *testing.T) {
	tomb := toolscache.DeletedFinalStateUnknown{Key: "a/b", Obj: &podState{}}
	got, err := toState(keys)(tomb)
	require.NoError(t, err)
	assert.Equal(t, tomb, got)
}
