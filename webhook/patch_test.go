package webhook

import (
	"encoding/json"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// applyOps applies JSON Patch operations to a document.
func applyOps(t testing.TB, doc []byte, ops any) []byte {
	t.Helper()
	raw, err := json.Marshal(ops)
	require.NoError(t, err)
	patch, err := jsonpatch.DecodePatch(raw)
	require.NoError(t, err)
	out, err := patch.Apply(doc)
	require.NoError(t, err)
	return out
}

// checkAgainstFramework applies the mutation decided for pod both ways: our
// operations, and the patch the framework derives from the whole pod before
// and after (admission.PatchResponseFromRaw). The results must be equal.
func checkAgainstFramework(t testing.TB, pod *corev1.Pod, now time.Time) {
	t.Helper()
	original := mustJSON(t, pod)
	admitted, err := decodePod(runtime.RawExtension{Raw: original})
	require.NoError(t, err)
	d := DecideMutation(admitted, now, cfg)
	if d.Result != ResultClamped && d.Result != ResultStamped {
		return
	}
	mutated := pod.DeepCopy()
	if mutated.Annotations == nil {
		mutated.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		mutated.Annotations[k] = v
	}
	if d.ActiveDeadlineSeconds != nil {
		mutated.Spec.ActiveDeadlineSeconds = d.ActiveDeadlineSeconds
	}
	current := mustJSON(t, mutated)
	framework := admission.PatchResponseFromRaw(original, current)
	require.True(t, framework.Allowed)

	var want, got any
	require.NoError(t, json.Unmarshal(applyOps(t, original, framework.Patches), &want))
	require.NoError(t, json.Unmarshal(applyOps(t, original, patchOps(admitted, d)), &got))
	assert.Equal(t, want, got)
}

func TestPatchOpsMatchFramework(t *testing.T) {
	k := cfg.Keys
	tests := map[string]*corev1.Pod{
		"timeout, ADS above":       kpoPod(map[string]string{k.Timeout: "20s"}, ptr.To[int64](3600)),
		"timeout, ADS unset":       kpoPod(map[string]string{k.Timeout: "20s"}, nil),
		"timeout, ADS below":       kpoPod(map[string]string{k.Timeout: "20s"}, ptr.To[int64](5)),
		"deadline, ADS above":      kpoPod(map[string]string{k.Deadline: "2026-05-20T10:00:20Z"}, ptr.To[int64](3600)),
		"deadline, ADS unset":      kpoPod(map[string]string{k.Deadline: "2026-05-20T10:00:20Z"}, nil),
		"both, earlier deadline":   kpoPod(map[string]string{k.Timeout: "1h", k.Deadline: "2026-05-20T12:00:20+02:00"}, ptr.To[int64](3600)),
		"unrelated annotations":    kpoPod(map[string]string{k.Timeout: "20s", "a/b~c": "x", "other": "y"}, ptr.To[int64](3600)),
		"clamp marker already set": kpoPod(map[string]string{k.Deadline: "2026-05-20T10:00:20Z", k.ClampedFrom: "unset"}, ptr.To[int64](3600)),
		"stale stamped deadline":   kpoPod(map[string]string{k.Timeout: "20s", k.Deadline: "2026-05-20T11:00:00Z"}, ptr.To[int64](3600)),
	}
	for name, pod := range tests {
		t.Run(name, func(t *testing.T) {
			d := DecideMutation(Pod{Annotations: pod.Annotations, ActiveDeadlineSeconds: pod.Spec.ActiveDeadlineSeconds}, anchor, cfg)
			require.Contains(t, []Result{ResultClamped, ResultStamped, ResultUnchanged}, d.Result)
			checkAgainstFramework(t, pod, anchor)
		})
	}
}

func TestPointerToken(t *testing.T) {
	assert.Equal(t, "airflow-pod-deadline.io~1clamped-from", pointerToken("airflow-pod-deadline.io/clamped-from"))
	assert.Equal(t, "a~0~1b", pointerToken("a~/b"))
}

// FuzzPatchOps holds patchOps to the framework's patch over arbitrary
// annotations and activeDeadlineSeconds.
func FuzzPatchOps(f *testing.F) {
	k := cfg.Keys
	f.Add(k.Timeout, "20s", "", "", int64(3600), true, false)
	f.Add(k.Deadline, "2026-05-20T10:00:20Z", k.ClampedFrom, "7", int64(0), false, false)
	f.Add(k.Timeout, "PT1M", "x/y~z", "v", int64(30), true, true)
	f.Fuzz(func(t *testing.T, key1, value1, key2, value2 string, ads int64, hasADS, noAnnotations bool) {
		pod := kpoPod(nil, nil)
		if !noAnnotations {
			pod.Annotations = map[string]string{key1: value1, key2: value2}
		}
		if hasADS && ads > 0 {
			pod.Spec.ActiveDeadlineSeconds = &ads
		}
		checkAgainstFramework(t, pod, anchor)
	})
}
