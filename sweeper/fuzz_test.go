package sweeper

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

// FuzzDecideStartedPod holds the lowering of activeDeadlineSeconds to what
// the kubelet does with it. The kubelet stops a pod once now - startTime >=
// activeDeadlineSeconds, counting from the API's startTime (whole seconds).
// Before the deadline a Lower must never make that instant earlier than the
// deadline; at or after it, a Lower must make it already past, so the update
// stops the pod at once; and it is made once: deciding again on the lowered
// pod writes nothing more until the backstop.
func FuzzDecideStartedPod(f *testing.F) {
	f.Add(int64(20_000), int64(60_300), int64(3600), int64(59_000), int64(30))
	f.Add(int64(0), int64(60_000), int64(60), int64(60_000), int64(0))
	f.Add(int64(65_000), int64(60_000), int64(-1), int64(66_000), int64(30))
	f.Fuzz(func(t *testing.T, startMs, deadlineMs, adsIn, nowMs, graceS int64) {
		if startMs < 0 || deadlineMs < 0 || nowMs < 0 || startMs > 1e9 || deadlineMs > 1e9 || nowMs > 1e9 ||
			graceS < 0 || graceS > 3600 || adsIn > 1e7 {
			return
		}
		start := created.Add(time.Duration(startMs) * time.Millisecond).Truncate(time.Second) // as the API stores it
		at := created.Add(time.Duration(deadlineMs) * time.Millisecond)
		now := created.Add(time.Duration(nowMs) * time.Millisecond)
		opts := []podOpt{started(start), grace(graceS), annotations(map[string]string{keys.Deadline: deadline.Format(at)})}
		if adsIn > 0 {
			opts = append(opts, ads(adsIn))
		}
		pod := newPod(opts...)
		// Format keeps the deadline to the microsecond.
		at, _, err := keys.ParseDeadlineAnnotation(pod.Annotations[keys.Deadline], now)
		if err != nil {
			t.Skip()
		}
		a := Decide(PodOf(pod, keys), now, cfg)
		if a.Kind != Lower {
			return
		}
		stopAt := start.Add(time.Duration(a.ActiveDeadlineSeconds) * time.Second)
		if a.ActiveDeadlineSeconds < 1 {
			t.Fatalf("lowered to %d", a.ActiveDeadlineSeconds)
		}
		if old := pod.Spec.ActiveDeadlineSeconds; old != nil && *old <= a.ActiveDeadlineSeconds {
			t.Fatalf("Lower from %d to %d is not lower", *old, a.ActiveDeadlineSeconds)
		}
		if now.Before(at) {
			if stopAt.Before(at) && a.ActiveDeadlineSeconds > 1 {
				t.Fatalf("before the deadline %s, lowered to %d: the kubelet would stop it at %s", at, a.ActiveDeadlineSeconds, stopAt)
			}
		} else {
			if !a.AtDeadline {
				t.Fatalf("a Lower at or after the deadline is AtDeadline")
			}
			if stopAt.After(now) && a.ActiveDeadlineSeconds > 1 {
				t.Fatalf("at %s, lowered to %d: the kubelet would stop it only at %s", now, a.ActiveDeadlineSeconds, stopAt)
			}
		}
		pod.Spec.ActiveDeadlineSeconds = ptr.To(a.ActiveDeadlineSeconds)
		if again := Decide(PodOf(pod, keys), now, cfg); again.Kind == Lower {
			t.Fatalf("lowered twice at %s: %d then %d", now, a.ActiveDeadlineSeconds, again.ActiveDeadlineSeconds)
		}
		pod.Status.Phase = corev1.PodFailed
		pod.Status.StartTime = ptr.To(metav1.NewTime(start))
		if got := Decide(PodOf(pod, keys), now, cfg); got.Kind != None {
			t.Fatalf("a failed pod is the kubelet's: %s", got.Kind)
		}
	})
}
