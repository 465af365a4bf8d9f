package webhook_test

// Clock skew: which clock each decision trusts, pinned on the pure decision
// functions. docs/reliability.md ("Clock skew") states the rules and names
// these tests. This file is an external test package because it drives both
// halves, webhook.DecideMutation and sweeper.Decide, over one contract.

import (
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

var (
	skewCfg  = webhook.NewConfig(deadline.DefaultPrefix)
	skewKeys = skewCfg.Keys
	// webhookNow is the mutating replica's clock reading at admission.
	webhookNow = time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC)
)

func skewPod(annotations map[string]string, ads *int64) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "run-long-pod-x7k2pqrs", Namespace: "airflow", Annotations: annotations},
		Spec:       corev1.PodSpec{ActiveDeadlineSeconds: ads},
	}
}

// admissionOf is what the webhooks read of a pod.
func admissionOf(pod *corev1.Pod) webhook.Pod {
	return webhook.Pod{Annotations: pod.Annotations, ActiveDeadlineSeconds: pod.Spec.ActiveDeadlineSeconds}
}

// admitted is the pod as the API server stores it after the mutation m.
func admitted(pod *corev1.Pod, m webhook.Mutation) *corev1.Pod {
	out := pod.DeepCopy()
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	maps.Copy(out.Annotations, m.Annotations)
	if m.ActiveDeadlineSeconds != nil {
		out.Spec.ActiveDeadlineSeconds = m.ActiveDeadlineSeconds
	}
	return out
}

// (a) The execution-deadline annotation is an absolute instant computed on
// Airflow's clock (ti.start_date + execution_timeout). The webhook trusts it as
// written: when Airflow's clock is off the webhook's by δ, the budget the pod
// gets is off by exactly δ, r = ceil(deadline − now).
func TestClockSkewDeadlineIsAbsolute(t *testing.T) {
	const budget = 60 * time.Second // execution_timeout as Airflow meant it
	tests := map[string]struct {
		airflowAhead time.Duration // Airflow's clock minus the webhook's
		wantADS      int64
		wantLate     bool
	}{
		"clocks agree":                 {airflowAhead: 0, wantADS: 60},
		"Airflow 200ms ahead":          {airflowAhead: 200 * time.Millisecond, wantADS: 61},
		"Airflow 200ms behind":         {airflowAhead: -200 * time.Millisecond, wantADS: 60},
		"Airflow 1.5s ahead":           {airflowAhead: 1500 * time.Millisecond, wantADS: 62},
		"Airflow 1.5s behind":          {airflowAhead: -1500 * time.Millisecond, wantADS: 59},
		"Airflow 3s ahead":             {airflowAhead: 3 * time.Second, wantADS: 63},
		"Airflow 3s behind":            {airflowAhead: -3 * time.Second, wantADS: 57},
		"Airflow 59.5s behind":         {airflowAhead: -59500 * time.Millisecond, wantADS: 1},
		"Airflow 61s behind: too late": {airflowAhead: -61 * time.Second, wantLate: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			at := webhookNow.Add(tc.airflowAhead).Add(budget)
			pod := skewPod(map[string]string{skewKeys.Deadline: deadline.Format(at)}, nil)
			m := webhook.DecideMutation(admissionOf(pod), webhookNow, skewCfg)
			if tc.wantLate {
				assert.Equal(t, webhook.ResultDenied, m.Result)
				assert.Contains(t, m.Denial, "passed 1.0s ago")
				return
			}
			require.Equal(t, webhook.ResultClamped, m.Result)
			require.NotNil(t, m.ActiveDeadlineSeconds)
			assert.Equal(t, tc.wantADS, *m.ActiveDeadlineSeconds)
			// The rule: the budget shifts by exactly the skew, rounded up.
			assert.Equal(t, webhook.AdmissionSeconds(at, webhookNow), *m.ActiveDeadlineSeconds)
			assert.Equal(t, webhook.AdmissionSeconds(webhookNow.Add(budget+tc.airflowAhead), webhookNow), *m.ActiveDeadlineSeconds)
			// The deadline itself is kept as written, never re-based.
			assert.True(t, m.Deadline.Equal(at))
			assert.NotContains(t, m.Annotations, skewKeys.Deadline)
		})
	}
}

// (a') The execution-timeout annotation counts from the mutating webhook's
// clock, so Airflow's clock does not matter for it: the pod gets the whole
// timeout, and the stamped deadline is on the webhook's clock.
func TestClockSkewTimeoutCountsFromAdmission(t *testing.T) {
	for _, webhookOff := range []time.Duration{-3 * time.Second, -1500 * time.Millisecond, 0, 1500 * time.Millisecond, 3 * time.Second} {
		t.Run(webhookOff.String(), func(t *testing.T) {
			now := webhookNow.Add(webhookOff)
			m := webhook.DecideMutation(admissionOf(skewPod(map[string]string{skewKeys.Timeout: "60s"}, nil)), now, skewCfg)
			require.Equal(t, webhook.ResultClamped, m.Result)
			// 60, or 61 when admitted mid-second: counted from the start of
			// the second the pod can start in.
			assert.Equal(t, webhook.AdmissionSeconds(now.Add(time.Minute), now), *m.ActiveDeadlineSeconds)
			assert.Equal(t, int64(60+min(1, now.Nanosecond())), *m.ActiveDeadlineSeconds)
			assert.Equal(t, deadline.Format(now.Add(time.Minute)), m.Annotations[skewKeys.Deadline])
		})
	}
}

// (b) The mutating and the validating call of one admission may be served by
// two replicas whose clocks differ. The mutating replica sets
// ADS = ceil(deadline − floor(now_m)) (AdmissionSeconds: the kubelet counts
// from a startTime truncated to the second); the validating replica refuses
// the pod unless
//
//	ceil(deadline − now_v) > 0 and ADS ≤ ceil(deadline + tolerance − floor(now_v)).
//
// With the default tolerance (2s) a validating replica behind the mutating
// one, or ahead by less than 3s, always passes what the mutating replica
// admitted; ahead by 3s or more it refuses every pod it checks. The time
// between the two calls (other webhooks run in between) counts as skew.
func TestClockSkewBetweenReplicas(t *testing.T) {
	require.Equal(t, 2*time.Second, skewCfg.Tolerance, "the default --admission-tolerance")
	// Time left until the deadline on the mutating replica's clock: whole,
	// just above a second boundary, half way, just below.
	phases := []time.Duration{20 * time.Second, 19001 * time.Millisecond, 19500 * time.Millisecond, 19999 * time.Millisecond}
	tests := map[string]struct {
		validatorAhead time.Duration // validating replica's clock minus the mutating one's, plus the time between the calls
		tolerance      time.Duration // 0: the default
		// want is the validating answer per phase: P passes, R refused.
		want string
	}{
		"validator 3s behind":                          {validatorAhead: -3 * time.Second, want: "PPPP"},
		"validator 2s behind":                          {validatorAhead: -2 * time.Second, want: "PPPP"},
		"validator 1.5s behind":                        {validatorAhead: -1500 * time.Millisecond, want: "PPPP"},
		"same clock, 5ms between the calls":            {validatorAhead: 5 * time.Millisecond, want: "PPPP"},
		"validator 1.5s ahead":                         {validatorAhead: 1500 * time.Millisecond, want: "PPPP"},
		"validator 2s ahead":                           {validatorAhead: 2 * time.Second, want: "PPPP"},
		"validator 2s ahead, 10ms between the calls":   {validatorAhead: 2010 * time.Millisecond, want: "PPPP"},
		"validator 2.5s ahead":                         {validatorAhead: 2500 * time.Millisecond, want: "PPPP"},
		"validator 2.999s ahead":                       {validatorAhead: 2999 * time.Millisecond, want: "PPPP"},
		"validator 3s ahead":                           {validatorAhead: 3 * time.Second, want: "RRRR"},
		"validator 3s ahead, --admission-tolerance=4s": {validatorAhead: 3 * time.Second, tolerance: 4 * time.Second, want: "PPPP"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := skewCfg
			if tc.tolerance != 0 {
				cfg.Tolerance = tc.tolerance
			}
			got := ""
			for _, left := range phases {
				at := webhookNow.Add(left)
				pod := skewPod(map[string]string{skewKeys.Deadline: deadline.Format(at)}, ptr.To[int64](3600))
				m := webhook.DecideMutation(admissionOf(pod), webhookNow, cfg)
				require.Equal(t, webhook.ResultClamped, m.Result)
				ads := *m.ActiveDeadlineSeconds
				require.Equal(t, webhook.AdmissionSeconds(at, webhookNow), ads)

				validatorNow := webhookNow.Add(tc.validatorAhead)
				v := webhook.ValidateCreate(admissionOf(admitted(pod, m)), validatorNow, cfg)
				rule := deadline.RemainingSeconds(at, validatorNow) > 0 &&
					ads <= webhook.AdmissionSeconds(at.Add(cfg.Tolerance), validatorNow)
				if v.Denial == "" {
					got += "P"
				} else {
					got += "R"
					assert.Equal(t, webhook.ResultDenied, v.Result)
					assert.Contains(t, v.Denial, "spec.activeDeadlineSeconds: Invalid value: 20: exceeds the")
				}
				assert.Equal(t, rule, v.Denial == "", "phase %s: the rule and ValidateCreate disagree", left)
			}
			assert.Equal(t, tc.want, got, "validating answers for deadlines %v ahead of the mutating replica", phases)
		})
	}

	// The tolerance bounds only activeDeadlineSeconds: a validating replica
	// whose clock is already past the deadline refuses the pod as late, even
	// within the tolerance. (The pod had less than the skew left to run.)
	t.Run("budget below the skew: the validator sees the pod late", func(t *testing.T) {
		at := webhookNow.Add(time.Second)
		pod := skewPod(map[string]string{skewKeys.Deadline: deadline.Format(at)}, nil)
		m := webhook.DecideMutation(admissionOf(pod), webhookNow, skewCfg)
		require.Equal(t, int64(1), *m.ActiveDeadlineSeconds)
		v := webhook.ValidateCreate(admissionOf(admitted(pod, m)), webhookNow.Add(1500*time.Millisecond), skewCfg)
		assert.Equal(t, webhook.ResultDenied, v.Result)
		assert.Equal(t, "execution deadline 2026-05-20T10:00:01Z passed 0.5s ago; the task has exceeded its execution_timeout or its DAG run's dagrun_timeout", v.Denial)
	})
}

// (c) The sweeper lowers activeDeadlineSeconds once the pod has started, from
// status.startTime, which the kubelet writes on its own clock, and the kubelet
// counts activeDeadlineSeconds from that startTime on that same clock. So the
// lowered value ceil(deadline − startTime) stops the pod at the deadline as
// read on the kubelet's clock: a kubelet 3s ahead stops it 3s early in real
// time, one 3s behind 3s late. The sweeper's own clock is not involved.
func TestClockSkewSweeperLowersFromKubeletStartTime(t *testing.T) {
	scfg := sweeper.Config{Keys: skewKeys, KubeletGrace: 15 * time.Second}
	created := webhookNow
	at := created.Add(time.Minute)
	realStart := created.Add(10 * time.Second) // the container really starts here
	sweeperNow := realStart.Add(2 * time.Second)
	tests := map[string]struct {
		kubeletAhead time.Duration
		startTime    time.Time // as the kubelet writes it (whole seconds in the API)
		wantADS      int64
	}{
		"kubelet 3s behind": {kubeletAhead: -3 * time.Second, startTime: realStart.Add(-3 * time.Second), wantADS: 53},
		"clocks agree":      {startTime: realStart, wantADS: 50},
		"kubelet 3s ahead":  {kubeletAhead: 3 * time.Second, startTime: realStart.Add(3 * time.Second), wantADS: 47},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Admission clamped the pod to the budget left at creation.
			pod := skewPod(map[string]string{skewKeys.Deadline: deadline.Format(at)}, ptr.To[int64](60))
			pod.CreationTimestamp = metav1.NewTime(created)
			pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: ptr.To(metav1.NewTime(tc.startTime))}

			for _, off := range []time.Duration{-3 * time.Second, 0, 3 * time.Second} {
				// Whatever the sweeper's own clock says, the value is the same.
				a := sweeper.Decide(sweeper.PodOf(pod, skewKeys), sweeperNow.Add(off), scfg)
				require.Equal(t, sweeper.Lower, a.Kind, "sweeper clock %s", off)
				assert.Equal(t, tc.wantADS, a.ActiveDeadlineSeconds, "sweeper clock %s", off)
			}
			ads := sweeper.Decide(sweeper.PodOf(pod, skewKeys), sweeperNow, scfg).ActiveDeadlineSeconds
			assert.Equal(t, deadline.RemainingSeconds(at, tc.startTime), ads)
			// The kubelet fails the pod at startTime + ADS on its clock: the deadline.
			kubeletStops := tc.startTime.Add(time.Duration(ads) * time.Second)
			assert.True(t, kubeletStops.Equal(at), "kubelet stops at %s on its clock", kubeletStops)
			// In real time that is the deadline shifted by the kubelet's skew.
			assert.True(t, realStart.Add(time.Duration(ads)*time.Second).Equal(at.Add(-tc.kubeletAhead)))
		})
	}
}

// startTime has whole seconds in the API and activeDeadlineSeconds is whole
// seconds, so for a deadline with a fraction the kubelet stops the pod up to a
// second after it (rounded up, never before).
func TestClockSkewSweeperRoundsUp(t *testing.T) {
	scfg := sweeper.Config{Keys: skewKeys, KubeletGrace: 15 * time.Second}
	at := webhookNow.Add(60400 * time.Millisecond)
	start := webhookNow.Add(10 * time.Second)
	pod := skewPod(map[string]string{skewKeys.Deadline: deadline.Format(at)}, ptr.To[int64](61))
	pod.CreationTimestamp = metav1.NewTime(webhookNow)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: ptr.To(metav1.NewTime(start))}
	a := sweeper.Decide(sweeper.PodOf(pod, skewKeys), start.Add(time.Second), scfg)
	require.Equal(t, sweeper.Lower, a.Kind)
	assert.Equal(t, int64(51), a.ActiveDeadlineSeconds)
	assert.Equal(t, 600*time.Millisecond, start.Add(51*time.Second).Sub(at))
}

// (c') The sweeper's own clock only times its backstop: a pod still running at
// deadline + its terminationGracePeriodSeconds + --kubelet-grace (15s) on the
// sweeper's clock is deleted. A kubelet up to 15s behind the sweeper has
// stopped the pod by then.
func TestClockSkewSweeperBackstop(t *testing.T) {
	scfg := sweeper.Config{Keys: skewKeys, KubeletGrace: 15 * time.Second}
	at := webhookNow.Add(time.Minute)
	// 49: lowered once more at the deadline (50 fits it from the start at +10s),
	// so only the backstop is left.
	pod := skewPod(map[string]string{skewKeys.Deadline: deadline.Format(at)}, ptr.To[int64](49))
	pod.CreationTimestamp = metav1.NewTime(webhookNow)
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: ptr.To(metav1.NewTime(webhookNow.Add(10 * time.Second)))}
	due := at.Add(30*time.Second + scfg.KubeletGrace)

	assert.Equal(t, sweeper.Wait, sweeper.Decide(sweeper.PodOf(pod, skewKeys), due.Add(-time.Nanosecond), scfg).Kind)
	a := sweeper.Decide(sweeper.PodOf(pod, skewKeys), due, scfg)
	assert.Equal(t, sweeper.Delete, a.Kind)
	assert.Equal(t, sweeper.WhyStillRunning, a.Why)

	// A pod that never started is not the kubelet's: the sweeper deletes it at
	// the deadline on its own clock.
	pending := pod.DeepCopy()
	pending.Status = corev1.PodStatus{Phase: corev1.PodPending}
	assert.Equal(t, sweeper.Wait, sweeper.Decide(sweeper.PodOf(pending, skewKeys), at.Add(-time.Nanosecond), scfg).Kind)
	assert.Equal(t, sweeper.Delete, sweeper.Decide(sweeper.PodOf(pending, skewKeys), at, scfg).Kind)
}
