package sweeper

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
)

var (
	keys    = deadline.NewKeys(deadline.DefaultPrefix)
	cfg     = Config{Keys: keys, KubeletGrace: 15 * time.Second}
	created = time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC)
	// deadline is one minute after creation.
	deadlineAt = created.Add(time.Minute)
)

type podOpt func(*corev1.Pod)

func started(at time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.StartTime = ptr.To(metav1.NewTime(at))
		p.Status.Phase = corev1.PodRunning
	}
}
func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func ads(n int64) podOpt              { return func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = &n } }
func label(k, v string) podOpt        { return func(p *corev1.Pod) { p.Labels[k] = v } }
func annotations(a map[string]string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = a }
}
func grace(seconds int64) podOpt {
	return func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = &seconds }
}
func deleting(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(deadlineAt)) }

func newPod(opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "load-abc", Namespace: "airflow", UID: "uid-1",
			CreationTimestamp: metav1.NewTime(created),
			Labels:            map[string]string{"dag_id": "etl", "task_id": "load", "try_number": "2"},
			Annotations:       map[string]string{keys.Deadline: deadline.Format(deadlineAt)},
		},
		// No grace period: the backstop is then due at deadline + KubeletGrace.
		Spec:   corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](0)},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func TestDecide(t *testing.T) {
	at := func(d time.Duration) time.Time { return deadlineAt.Add(d) }
	tests := map[string]struct {
		pod  *corev1.Pod
		now  time.Time
		want Action
	}{
		"no annotations": {
			pod: newPod(annotations(nil)), now: at(time.Hour), want: Action{Kind: None}},
		"empty annotation means no deadline": {
			pod: newPod(annotations(map[string]string{keys.Deadline: ""})), now: at(time.Hour), want: Action{Kind: None}},
		"pending, deadline ahead: wait for it": {
			pod: newPod(), now: at(-30 * time.Second),
			want: Action{Kind: Wait, At: deadlineAt, Deadline: deadlineAt}},
		"pending at the deadline: delete": {
			pod: newPod(), now: deadlineAt,
			want: Action{Kind: Delete, Deadline: deadlineAt, Due: deadlineAt, Why: WhyNeverStarted}},
		"pending past the deadline: delete": {
			pod: newPod(ads(30)), now: at(time.Hour),
			want: Action{Kind: Delete, Deadline: deadlineAt, Due: deadlineAt, Why: WhyNeverStarted}},
		"started with ADS 3600: lower to the budget from start, look again at the deadline": {
			pod: newPod(started(created.Add(20*time.Second)), ads(3600)), now: created.Add(21 * time.Second),
			want: Action{Kind: Lower, At: deadlineAt, Deadline: deadlineAt, ActiveDeadlineSeconds: 40}},
		"started without ADS: set it": {
			pod: newPod(started(created.Add(20 * time.Second))), now: created.Add(21 * time.Second),
			want: Action{Kind: Lower, At: deadlineAt, Deadline: deadlineAt, ActiveDeadlineSeconds: 40}},
		"budget from start rounds up": {
			pod: newPod(started(created.Add(20*time.Second+time.Millisecond)), ads(3600)), now: created.Add(21 * time.Second),
			want: Action{Kind: Lower, At: deadlineAt, Deadline: deadlineAt, ActiveDeadlineSeconds: 40}},
		"started with a lower ADS: keep it, wait for the deadline": {
			pod: newPod(started(created.Add(20*time.Second)), ads(10)), now: created.Add(21 * time.Second),
			want: Action{Kind: Wait, At: deadlineAt, Deadline: deadlineAt}},
		"started with exactly the budget: keep it": {
			pod: newPod(started(created.Add(20*time.Second)), ads(40)), now: created.Add(21 * time.Second),
			want: Action{Kind: Wait, At: deadlineAt, Deadline: deadlineAt}},
		"started after the deadline, within grace: lower to 1 so the kubelet stops it": {
			pod: newPod(started(at(5*time.Second)), ads(3600)), now: at(6 * time.Second),
			want: Action{Kind: Lower, At: at(15 * time.Second), Deadline: deadlineAt, ActiveDeadlineSeconds: 1, AtDeadline: true}},
		"at the deadline: one second less, so the kubelet syncs the pod now and stops it": {
			pod: newPod(started(created), ads(60)), now: deadlineAt,
			want: Action{Kind: Lower, At: at(15 * time.Second), Deadline: deadlineAt, ActiveDeadlineSeconds: 59, AtDeadline: true}},
		"at a fractional deadline: its whole seconds from start are already past": {
			pod: newPod(started(created.Add(20*time.Second)), ads(41),
				annotations(map[string]string{keys.Deadline: deadline.Format(deadlineAt.Add(300 * time.Millisecond))})),
			now: deadlineAt.Add(300 * time.Millisecond),
			want: Action{Kind: Lower, At: at(15*time.Second + 300*time.Millisecond), Deadline: deadlineAt.Add(300 * time.Millisecond),
				ActiveDeadlineSeconds: 40, AtDeadline: true}},
		"past the deadline, already lowered: the kubelet's turn": {
			pod: newPod(started(created), ads(59)), now: at(14 * time.Second),
			want: Action{Kind: Wait, At: at(15 * time.Second), Deadline: deadlineAt}},
		"past the deadline with a lower ADS of its own: the kubelet's turn": {
			pod: newPod(started(created), ads(10)), now: at(time.Second),
			want: Action{Kind: Wait, At: at(15 * time.Second), Deadline: deadlineAt}},
		"running after deadline + grace: delete": {
			pod: newPod(started(created), ads(60)), now: at(15 * time.Second),
			want: Action{Kind: Delete, Deadline: deadlineAt, Due: at(15 * time.Second), Why: WhyStillRunning}},
		"terminationGracePeriodSeconds 30, past deadline + kubelet grace: the kubelet may still be stopping it": {
			pod: newPod(started(created), ads(59), grace(30)), now: at(44 * time.Second),
			want: Action{Kind: Wait, At: at(45 * time.Second), Deadline: deadlineAt}},
		"terminationGracePeriodSeconds 30, past deadline + 30s + kubelet grace: delete": {
			pod: newPod(started(created), ads(60), grace(30)), now: at(45 * time.Second),
			want: Action{Kind: Delete, Deadline: deadlineAt, Due: at(45 * time.Second), Why: WhyStillRunning}},
		"running after deadline + grace with a high ADS: delete, not lower": {
			pod: newPod(started(created), ads(3600)), now: at(time.Minute),
			want: Action{Kind: Delete, Deadline: deadlineAt, Due: at(15 * time.Second), Why: WhyStillRunning}},
		"already_checked past the deadline: delete without grace": {
			pod: newPod(started(created), ads(60), label(AlreadyCheckedLabel, "True")), now: at(time.Millisecond),
			want: Action{Kind: Delete, Deadline: deadlineAt, Due: deadlineAt, Why: WhyAlreadyChecked}},
		"already_checked before the deadline: wait for the deadline itself": {
			pod: newPod(started(created), ads(60), label(AlreadyCheckedLabel, "True")), now: at(-time.Second),
			want: Action{Kind: Wait, At: deadlineAt, Deadline: deadlineAt}},
		"already_checked=False is not KPO giving up": {
			pod: newPod(started(created), ads(59), label(AlreadyCheckedLabel, "False")), now: at(time.Second),
			want: Action{Kind: Wait, At: at(15 * time.Second), Deadline: deadlineAt}},
		"succeeded: KPO owns it": {
			pod: newPod(started(created), phase(corev1.PodSucceeded)), now: at(time.Hour), want: Action{Kind: None}},
		"failed, already_checked: still KPO's": {
			pod: newPod(started(created), phase(corev1.PodFailed), label(AlreadyCheckedLabel, "True")), now: at(time.Hour), want: Action{Kind: None}},
		"being deleted": {
			pod: newPod(deleting), now: at(time.Hour), want: Action{Kind: None}},
		"timeout only, anchored at the end of the creation second": {
			pod: newPod(annotations(map[string]string{keys.Timeout: "30s"})), now: created,
			want: Action{Kind: Wait, At: created.Add(31*time.Second - time.Nanosecond), Deadline: created.Add(31*time.Second - time.Nanosecond)}},
		"stamped deadline wins over the timeout's anchor": {
			pod: newPod(annotations(map[string]string{keys.Timeout: "60s", keys.Deadline: deadline.Format(created.Add(60*time.Second + 300*time.Millisecond))})), now: created,
			want: Action{Kind: Wait, At: created.Add(60*time.Second + 300*time.Millisecond), Deadline: created.Add(60*time.Second + 300*time.Millisecond)}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Decide(PodOf(tc.pod, keys), tc.now, cfg)
			assert.Equal(t, tc.want, got, "got %s", got.Kind)
		})
	}
}

func TestDecideInvalid(t *testing.T) {
	pod := newPod(annotations(map[string]string{keys.Timeout: "soon", keys.Deadline: "later"}))
	got := Decide(PodOf(pod, keys), deadlineAt, cfg)
	assert.Equal(t, Invalid, got.Kind)
	if assert.Len(t, got.Errors, 2) {
		assert.Equal(t, keys.Deadline, got.Errors[0].Key)
		assert.Equal(t, keys.Timeout, got.Errors[1].Key)
	}
	// A terminal pod is not worth a warning.
	pod.Status.Phase = corev1.PodSucceeded
	assert.Equal(t, None, Decide(PodOf(pod, keys), deadlineAt, cfg).Kind)
}

// The requeue instant is never in the past and a pod needing action always
// gets an action, whenever the sweeper looks: a property over the table's
// pod shapes at every tenth of a second around the deadline.
func TestDecideProgress(t *testing.T) {
	shapes := map[string]*corev1.Pod{
		"pending":         newPod(),
		"started low":     newPod(started(created), ads(10)),
		"started high":    newPod(started(created), ads(3600)),
		"started late":    newPod(started(at(deadlineAt, 3*time.Second))),
		"already checked": newPod(started(created), ads(3600), label(AlreadyCheckedLabel, "True")),
	}
	for name, pod := range shapes {
		for now := created; now.Before(deadlineAt.Add(time.Minute)); now = now.Add(100 * time.Millisecond) {
			a := Decide(PodOf(pod, keys), now, cfg)
			switch a.Kind {
			case Wait, Lower:
				assert.True(t, a.At.After(now), "%s at %s: %s at %s", name, now, a.Kind, a.At)
			case Delete:
				assert.False(t, now.Before(a.Due), "%s: delete before it is due", name)
				assert.False(t, now.Before(deadlineAt), "%s: delete before the deadline", name)
			default:
				t.Fatalf("%s at %s: unexpected %s", name, now, a.Kind)
			}
		}
	}
}

func at(t time.Time, d time.Duration) time.Time { return t.Add(d) }

func TestPodOf(t *testing.T) {
	full := newPod(started(created.Add(5*time.Second)), ads(3600), label(AlreadyCheckedLabel, "True"), deleting,
		annotations(map[string]string{keys.Deadline: "1779271260", keys.Timeout: "30s", keys.ClampedFrom: "unset", "other": "x"}))
	assert.Equal(t, Pod{
		Deadline:              deadline.Values{Deadline: "1779271260", Timeout: "30s"},
		Created:               created,
		Started:               created.Add(5 * time.Second),
		Phase:                 corev1.PodRunning,
		Deleting:              true,
		ActiveDeadlineSeconds: ptr.To[int64](3600),
		GaveUp:                true,
	}, PodOf(full, keys))
	// Only "True" is KPO giving up; a pod that never started has no Started.
	assert.Equal(t, Pod{Deadline: deadline.Values{Deadline: deadline.Format(deadlineAt)}, Created: created, Phase: corev1.PodPending},
		PodOf(newPod(label(AlreadyCheckedLabel, "False")), keys))
}
