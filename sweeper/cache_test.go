package sweeper

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func TestStripPodKeepsWhatDecideReads(t *testing.T) {
	full := newPod(started(created), ads(3600), label("kubernetes_pod_operator", "True"), label(AlreadyCheckedLabel, "True"))
	full.Annotations["unrelated"] = "dropped"
	full.Annotations[keys.ClampedFrom] = "3600"
	full.ResourceVersion = "42"
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	full.OwnerReferences = []metav1.OwnerReference{{Name: "x"}}
	full.Spec.Containers = []corev1.Container{{Name: "base", Image: "alpine"}}
	full.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	full.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady}}

	got, err := StripPod(keys)(full)
	require.NoError(t, err)
	stripped := got.(*corev1.Pod)

	assert.Equal(t, map[string]string{keys.Deadline: full.Annotations[keys.Deadline]}, stripped.Annotations)
	assert.Equal(t, map[string]string{"dag_id": "etl", "task_id": "load", "try_number": "2", AlreadyCheckedLabel: "True"}, stripped.Labels)
	assert.Empty(t, stripped.ManagedFields)
	assert.Empty(t, stripped.OwnerReferences)
	assert.Empty(t, stripped.Spec.Containers)
	assert.Nil(t, stripped.Spec.TerminationGracePeriodSeconds)
	assert.Empty(t, stripped.Status.Conditions)
	assert.Equal(t, "42", stripped.ResourceVersion)
	assert.Equal(t, full.UID, stripped.UID)
	// Every decision is the same on the stripped pod, at any instant.
	for _, now := range []int{-30, 0, 14, 15, 3600} {
		n := deadline.Add(timeSeconds(now))
		assert.Equal(t, Decide(full, n, cfg), Decide(stripped, n, cfg), "at deadline%+ds", now)
	}
}

func TestStripPodWithoutDeadlineKeepsIdentityOnly(t *testing.T) {
	p := newPod(annotations(map[string]string{"other": "x"}), started(created))
	got, err := StripPod(keys)(p)
	require.NoError(t, err)
	assert.Equal(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: p.Name, Namespace: p.Namespace, UID: p.UID, CreationTimestamp: p.CreationTimestamp,
	}}, got)
}

func TestStripPodPassesTombstones(t *testing.T) {
	tomb := toolscache.DeletedFinalStateUnknown{Key: "a/b", Obj: newPod()}
	got, err := StripPod(keys)(tomb)
	require.NoError(t, err)
	assert.Equal(t, tomb, got)
}
