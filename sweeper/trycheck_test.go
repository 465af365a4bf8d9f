package sweeper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
)

// fakeAPI answers from tis; err fails every call.
type fakeAPI struct {
	tis      map[airflowapi.TaskKey]airflowapi.TaskInstance
	dags     map[string]bool
	complete bool
	err      error
	asked    [][]airflowapi.TaskKey
	dagAsks  int
}

func (f *fakeAPI) TaskInstances(_ context.Context, keys []airflowapi.TaskKey) (airflowapi.Batch, error) {
	f.asked = append(f.asked, keys)
	if f.err != nil {
		return airflowapi.Batch{}, f.err
	}
	b := airflowapi.Batch{Found: map[airflowapi.TaskKey]airflowapi.TaskInstance{}, Complete: f.complete, Calls: 1}
	for _, k := range keys {
		if ti, ok := f.tis[k]; ok {
			b.Found[k] = ti
		}
	}
	return b, nil
}

func (f *fakeAPI) DAGExists(_ context.Context, dag string) (bool, error) {
	f.dagAsks++
	if f.err != nil {
		return false, f.err
	}
	return f.dags[dag], nil
}

type recorderAdapter struct{ *events.FakeRecorder }

// tryPod is a pod of task (map index -1) try n of instance, created at c.
func tryPod(name, instance, task string, n int, c time.Time, opts ...podOpt) *corev1.Pod {
	p := newPod(opts...)
	p.Name, p.UID, p.CreationTimestamp = name, k8stypes.UID("uid-"+name), metav1.NewTime(c)
	p.Annotations = map[string]string{
		keys.Instance: instance, keys.DagID: "etl", keys.RunID: "run1", keys.TaskID: task,
		keys.MapIndex: "-1", keys.TryNumber: strconv.Itoa(n),
	}
	return p
}

func key(task string) airflowapi.TaskKey {
	return airflowapi.TaskKey{DagID: "etl", RunID: "run1", TaskID: task, MapIndex: -1}
}

func setup(t *testing.T, api *fakeAPI, dryRun bool, pods ...*corev1.Pod) (*TryCheck, client.Client, *events.FakeRecorder) {
	objs := make([]client.Object, 0, len(pods))
	store := toolscache.NewStore(toolscache.MetaNamespaceKeyFunc)
	transform := toState(keys)
	for _, p := range pods {
		objs = append(objs, p.DeepCopy())
		s, err := transform(p.DeepCopy())
		require.NoError(t, err)
		require.NoError(t, store.Add(s))
	}
	c := fake.NewClientBuilder().WithObjects(objs...).Build()
	rec := events.NewFakeRecorder(100)
	r := &Reconciler{Pods: store, Client: c, APIReader: c, Recorder: recorderAdapter{rec}, Config: cfg, DryRun: dryRun,
		Clock: clocktesting.NewFakePassiveClock(checkNow)}
	// Confirmed: these tests are about what a confirmed Airflow's answers
	// end (TestTryCheckConfirms is about confirming).
	return &TryCheck{R: r, API: api, Config: TryConfig{Instance: "prod", Grace: 30 * time.Second}, Interval: time.Second, confirmed: true}, c, rec
}

var checkNow = created.Add(10 * time.Minute)

func podNow(t *testing.T, c client.Client, name string) (*corev1.Pod, bool) {
	p := &corev1.Pod{}
	err := c.Get(context.Background(), client.ObjectKey{Namespace: "airflow", Name: name}, p)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	require.NoError(t, err)
	return p, true
}

func TestTryCheckPoll(t *testing.T) {
	start := created.Add(time.Second)
	pods := []*corev1.Pod{
		tryPod("failed-pending", "prod", "a", 1, created),
		tryPod("failed-running", "prod", "b", 1, created, started(start)),
		tryPod("old-superseded", "prod", "c", 1, created, started(start)),
		tryPod("new-of-c", "prod", "c", 2, created, started(start)),
		tryPod("maybe-adopted", "prod", "d", 1, created, started(start)),
		tryPod("other-instance", "staging", "a", 1, created),
		tryPod("young", "prod", "a", 1, checkNow.Add(-time.Second)),
		tryPod("gone-task", "prod", "e", 1, created),
		tryPod("finished-pod", "prod", "a", 1, created, phase(corev1.PodFailed)),
	}
	api := &fakeAPI{complete: true, dags: map[string]bool{"etl": true}, tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{
		key("a"): {TaskKey: key("a"), State: "failed", TryNumber: 1},
		key("b"): {TaskKey: key("b"), State: "failed", TryNumber: 1},
		key("c"): {TaskKey: key("c"), State: "running", TryNumber: 2},
		key("d"): {TaskKey: key("d"), State: "running", TryNumber: 2},
	}}
	check, c, rec := setup(t, api, false, pods...)
	check.Poll(context.Background())

	require.Len(t, api.asked, 1, "one batched call per poll")
	assert.Len(t, api.asked[0], 5, "one key per task instance of a live pod of this instance (a, b, c, d, e)")
	for _, name := range []string{"failed-pending", "gone-task"} {
		_, exists := podNow(t, c, name)
		assert.False(t, exists, "%s: deleted", name)
	}
	for _, name := range []string{"failed-running", "old-superseded"} {
		p, ok := podNow(t, c, name)
		require.True(t, ok, name)
		require.NotNil(t, p.Spec.ActiveDeadlineSeconds, name)
		assert.LessOrEqual(t, *p.Spec.ActiveDeadlineSeconds, int64(checkNow.Sub(start).Seconds()), name)
	}
	for _, name := range []string{"new-of-c", "maybe-adopted", "other-instance", "young", "finished-pod"} {
		p, ok := podNow(t, c, name)
		require.True(t, ok, name)
		assert.Nil(t, p.Spec.ActiveDeadlineSeconds, name)
	}
	assert.Len(t, rec.Events, 4, "one AirflowTryEnded event per ended pod")
	e := <-rec.Events
	assert.Contains(t, e, ReasonTryEnded)
	assert.Contains(t, e, "dag_id=etl run_id=run1")
}

func TestTryCheckEndsNothingOnError(t *testing.T) {
	for name, api := range map[string]*fakeAPI{
		"API error":      {err: &airflowapi.Error{Kind: airflowapi.KindHTTP, Status: 500, Err: errors.New("boom")}},
		"partial answer": {complete: false, dags: map[string]bool{"etl": true}},
		"DAG unknown":    {complete: true, dags: map[string]bool{}},
	} {
		t.Run(name, func(t *testing.T) {
			check, c, rec := setup(t, api, false, tryPod("p", "prod", "a", 1, created))
			check.Poll(context.Background())
			_, exists := podNow(t, c, "p")
			assert.True(t, exists)
			assert.Empty(t, rec.Events)
		})
	}
}

func TestTryCheckDryRun(t *testing.T) {
	api := &fakeAPI{complete: true, tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{key("a"): {TaskKey: key("a"), State: "success", TryNumber: 1}}}
	check, c, rec := setup(t, api, true, tryPod("p", "prod", "a", 1, created))
	check.Poll(context.Background())
	check.Poll(context.Background())
	_, exists := podNow(t, c, "p")
	assert.True(t, exists)
	require.Len(t, rec.Events, 1, "reported once")
	assert.Contains(t, <-rec.Events, "Would delete")
}

// TestTryChecksPerInstance runs one check per served instance over one pod
// store, as the binary does: each asks its own Airflow about its own pods
// only, a try missing from its complete answer ends only its own pods, and
// the pods of an instance no check serves are never judged.
func TestTryChecksPerInstance(t *testing.T) {
	gone := func() *fakeAPI { // a complete answer without any task instance
		return &fakeAPI{complete: true, dags: map[string]bool{"etl": true}}
	}
	failing := func() *fakeAPI {
		return &fakeAPI{err: &airflowapi.Error{Kind: airflowapi.KindHTTP, Status: 500, Err: errors.New("boom")}}
	}
	pods := []*corev1.Pod{
		tryPod("prod-a", "prod", "a", 1, created),
		tryPod("prod-b", "prod", "b", 1, created),
		tryPod("staging-a", "staging", "a", 1, created),
		tryPod("dev-a", "dev", "a", 1, created),
	}
	for name, tc := range map[string]struct {
		prod, staging *fakeAPI
		ended         []string
	}{
		"both answer: each ends its own":            {prod: gone(), staging: gone(), ended: []string{"prod-a", "prod-b", "staging-a"}},
		"staging fails: prod's end, staging's stay": {prod: gone(), staging: failing(), ended: []string{"prod-a", "prod-b"}},
		"prod fails: staging's end, prod's stay":    {prod: failing(), staging: gone(), ended: []string{"staging-a"}},
		"prod's a is live": {
			prod: &fakeAPI{complete: true, dags: map[string]bool{"etl": true}, tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{
				key("a"): {TaskKey: key("a"), State: "running", TryNumber: 1},
			}},
			staging: gone(), ended: []string{"prod-b", "staging-a"},
		},
		"both fail: nothing ends": {prod: failing(), staging: failing()},
	} {
		t.Run(name, func(t *testing.T) {
			prod, c, _ := setup(t, tc.prod, false, pods...)
			staging := &TryCheck{R: prod.R, API: tc.staging, Config: TryConfig{Instance: "staging", Grace: prod.Config.Grace}, Interval: prod.Interval, confirmed: true}
			prod.Poll(context.Background())
			staging.Poll(context.Background())

			require.Len(t, tc.prod.asked, 1)
			assert.ElementsMatch(t, []airflowapi.TaskKey{key("a"), key("b")}, tc.prod.asked[0], "prod is asked about prod's tries only")
			require.Len(t, tc.staging.asked, 1)
			assert.Equal(t, []airflowapi.TaskKey{key("a")}, tc.staging.asked[0], "staging is asked about staging's try only")
			for _, p := range pods {
				_, exists := podNow(t, c, p.Name)
				assert.Equal(t, !slices.Contains(tc.ended, p.Name), exists, "%s: ended %v", p.Name, !exists)
			}
		})
	}
}

// TestTryCheckHandoff: a try Airflow recorded over less than the handoff ago
// is left to Airflow's own cleanup until the handoff ends; then, asked again,
// the check ends the pod only if the try is still over and nothing else is
// ending the pod.
func TestTryCheckHandoff(t *testing.T) {
	const handoff = 5 * time.Second
	endedAgo := 2 * time.Second
	over := func() *fakeAPI {
		return &fakeAPI{complete: true, dags: map[string]bool{"etl": true}, tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{
			key("a"): {TaskKey: key("a"), State: "failed", TryNumber: 1, EndDate: checkNow.Add(-endedAgo)},
			key("b"): {TaskKey: key("b"), State: "running", TryNumber: 1},
		}}
	}
	start := created.Add(time.Second)
	for name, tc := range map[string]struct {
		// between runs after the first poll, before the recheck.
		between func(t *testing.T, api *fakeAPI, c client.Client)
		ended   bool
		events  int
	}{
		"still over: ended at the handoff's end": {ended: true, events: 1},
		"Airflow deletes the pod meanwhile: no second action": {
			between: func(t *testing.T, _ *fakeAPI, c client.Client) {
				p, _ := podNow(t, c, "a")
				require.NoError(t, c.Delete(context.Background(), p)) // held by its finalizer: terminating
			},
		},
		"a new try adopts the pod meanwhile: kept": {
			between: func(_ *testing.T, api *fakeAPI, _ client.Client) {
				api.tis[key("a")] = airflowapi.TaskInstance{TaskKey: key("a"), State: "running", TryNumber: 2}
			},
		},
		"the recheck fails: kept, for the next poll": {
			between: func(_ *testing.T, api *fakeAPI, _ client.Client) {
				api.err = &airflowapi.Error{Kind: airflowapi.KindNetwork, Err: errors.New("down")}
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			api := over()
			check, c, rec := setup(t, api, false,
				tryPod("a", "prod", "a", 1, created, started(start), func(p *corev1.Pod) { p.Finalizers = []string{"test/hold"} }),
				tryPod("b", "prod", "b", 1, created, started(start)))
			check.Config.Handoff = handoff
			clk := check.R.Clock.(*clocktesting.FakePassiveClock)

			check.Poll(context.Background())
			p, _ := podNow(t, c, "a")
			assert.Nil(t, p.Spec.ActiveDeadlineSeconds, "left to Airflow during the handoff")
			assert.Empty(t, rec.Events)
			due, ok := check.nextDue()
			require.True(t, ok, "a recheck is due")
			assert.Equal(t, checkNow.Add(handoff-endedAgo), due, "handoff after the end Airflow recorded")

			clk.SetTime(due.Add(-time.Millisecond))
			check.Poll(context.Background()) // a poll before the due instant does not act nor move it
			p, _ = podNow(t, c, "a")
			assert.Nil(t, p.Spec.ActiveDeadlineSeconds)
			again, _ := check.nextDue()
			assert.Equal(t, due, again)

			if tc.between != nil {
				tc.between(t, api, c)
			}
			clk.SetTime(due)
			calls, dagAsks := len(api.asked), api.dagAsks
			check.Recheck(context.Background())
			require.Len(t, api.asked, calls+1, "one call for the recheck")
			assert.Equal(t, []airflowapi.TaskKey{key("a")}, api.asked[calls], "the recheck asks about the due tries only")
			assert.Equal(t, dagAsks, api.dagAsks, "nor about the DAG of a pod it does not judge (b, absent from its batch)")
			p, _ = podNow(t, c, "a")
			assert.Equal(t, tc.ended, p.Spec.ActiveDeadlineSeconds != nil, "ended")
			assert.Len(t, rec.Events, tc.events)
			_, ok = check.nextDue()
			assert.False(t, ok, "nothing left pending")
			b, _ := podNow(t, c, "b")
			assert.Nil(t, b.Spec.ActiveDeadlineSeconds, "the live try's pod is never touched")
		})
	}
}

// TestTryCheckHandoffPast: a try that ended a handoff or more before the poll
// that sees it is ended by that poll, and a check without handoff ends at once.
func TestTryCheckHandoffPast(t *testing.T) {
	for name, tc := range map[string]struct {
		handoff, endedAgo time.Duration
	}{
		"ended before the handoff": {handoff: 5 * time.Second, endedAgo: 5 * time.Second},
		"no handoff":               {endedAgo: 0},
	} {
		t.Run(name, func(t *testing.T) {
			api := &fakeAPI{complete: true, tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{
				key("a"): {TaskKey: key("a"), State: "success", TryNumber: 1, EndDate: checkNow.Add(-tc.endedAgo)},
			}}
			check, c, rec := setup(t, api, false, tryPod("a", "prod", "a", 1, created, started(created.Add(time.Second))))
			check.Config.Handoff = tc.handoff
			check.Poll(context.Background())
			p, _ := podNow(t, c, "a")
			assert.NotNil(t, p.Spec.ActiveDeadlineSeconds)
			assert.Len(t, rec.Events, 1)
			_, ok := check.nextDue()
			assert.False(t, ok)
		})
	}
}

// TestTryCheckHandoffHolds: with no end to count from (unknown, or after our
// clock), the handoff counts from the poll that first saw the try over, and
// later polls do not push it on.
func TestTryCheckHandoffHolds(t *testing.T) {
	for name, end := range map[string]time.Time{"end unknown": {}, "end ahead of our clock": checkNow.Add(time.Hour)} {
		t.Run(name, func(t *testing.T) {
			api := &fakeAPI{complete: true, tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{
				key("a"): {TaskKey: key("a"), State: "failed", TryNumber: 1, EndDate: end},
			}}
			check, c, _ := setup(t, api, false, tryPod("a", "prod", "a", 1, created, started(created.Add(time.Second))))
			check.Config.Handoff = 5 * time.Second
			clk := check.R.Clock.(*clocktesting.FakePassiveClock)
			check.Poll(context.Background())
			for _, at := range []time.Duration{2 * time.Second, 4 * time.Second} {
				clk.SetTime(checkNow.Add(at))
				check.Poll(context.Background())
				due, ok := check.nextDue()
				require.True(t, ok)
				assert.Equal(t, checkNow.Add(5*time.Second), due, "poll at +%s", at)
			}
			clk.SetTime(checkNow.Add(5 * time.Second))
			check.Poll(context.Background())
			p, _ := podNow(t, c, "a")
			assert.NotNil(t, p.Spec.ActiveDeadlineSeconds, "ended by the first poll past the due instant")
		})
	}
}

// TestTryCheckStartRechecks: Start runs the recheck when a handoff ends,
// without waiting for the next poll.
func TestTryCheckStartRechecks(t *testing.T) {
	api := &fakeAPI{complete: true, tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{
		key("a"): {TaskKey: key("a"), State: "failed", TryNumber: 1, EndDate: checkNow},
	}}
	check, c, _ := setup(t, api, false, tryPod("a", "prod", "a", 1, created, started(created.Add(time.Second))))
	check.Config.Handoff, check.Interval = 5*time.Second, time.Hour
	check.Poll(context.Background())
	due, ok := check.nextDue()
	require.True(t, ok)
	check.R.Clock.(*clocktesting.FakePassiveClock).SetTime(due)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- check.Start(ctx) }()
	require.Eventually(t, func() bool {
		p, _ := podNow(t, c, "a")
		return p.Spec.ActiveDeadlineSeconds != nil
	}, 10*time.Second, 10*time.Millisecond, "ended by the recheck, an hour before the next poll")
	cancel()
	require.NoError(t, <-done)
}

// stampStart stamps the try's start_date on p as the policy does.
func stampStart(p *corev1.Pod, at time.Time) *corev1.Pod {
	p.Annotations[keys.TryStart] = at.Format("2006-01-02T15:04:05.999999-07:00")
	return p
}

// TestTryCheckConfirms: an Airflow's answers end pods only once one of them
// has shown a tracked pod's own try (same try_number and start_date here; try-id where stamped): a
// check whose URL points at another Airflow with the same DAG, run and task
// ids ends nothing, and says so.
func TestTryCheckConfirms(t *testing.T) {
	startA, startB := tryStart, tryStart.Add(3*time.Second)
	other := tryStart.Add(-time.Hour) // the same ids' tries in another Airflow started elsewhen
	failedAt := func(task string, start time.Time) airflowapi.TaskInstance {
		return airflowapi.TaskInstance{TaskKey: key(task), State: "failed", TryNumber: 1, StartDate: start}
	}
	for name, tc := range map[string]struct {
		stamped, ids bool
		tis          map[airflowapi.TaskKey]airflowapi.TaskInstance
		ended        []string
	}{
		"another Airflow (same ids, other starts): nothing ended": {
			stamped: true, tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{key("a"): failedAt("a", other), key("b"): failedAt("b", other)},
		},
		"another Airflow whose tries have no start: nothing ended": {
			stamped: true, tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{key("a"): failedAt("a", time.Time{}), key("b"): failedAt("b", time.Time{})},
		},
		"this Airflow: a live try confirms, the finished one and the missing one end": {
			stamped: true,
			tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{
				key("a"): failedAt("a", startA),
				key("b"): {TaskKey: key("b"), State: "running", TryNumber: 1, StartDate: startB},
			},
			ended: []string{"a", "c"},
		},
		"Airflow 3: a live try's id confirms though its stored start is ms off": {
			stamped: true, ids: true,
			tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{
				key("a"): {TaskKey: key("a"), State: "failed", TryNumber: 1, StartDate: startA.Add(-30 * time.Millisecond), ID: idOf("a")},
				key("b"): {TaskKey: key("b"), State: "running", TryNumber: 1, StartDate: startB.Add(-30 * time.Millisecond), ID: idOf("b")},
			},
			ended: []string{"a", "c"},
		},
		"Airflow 3: another Airflow's ids: nothing ended": {
			stamped: true, ids: true,
			tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{
				key("a"): {TaskKey: key("a"), State: "failed", TryNumber: 1, StartDate: startA, ID: idOf("x")},
				key("b"): {TaskKey: key("b"), State: "failed", TryNumber: 1, StartDate: startB, ID: idOf("y")},
			},
		},
		"pods without a stamped start (an older policy) confirm nothing": {
			tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{key("a"): failedAt("a", startA), key("b"): failedAt("b", startB)},
		},
	} {
		t.Run(name, func(t *testing.T) {
			pods := []*corev1.Pod{tryPod("a", "prod", "a", 1, created), tryPod("b", "prod", "b", 1, created), tryPod("c", "prod", "c", 1, created)}
			if tc.stamped {
				stampStart(pods[0], startA)
				stampStart(pods[1], startB)
				stampStart(pods[2], tryStart.Add(5*time.Second))
			}
			if tc.ids {
				for _, p := range pods {
					p.Annotations[keys.TryID] = idOf(p.Name)
				}
			}
			api := &fakeAPI{complete: true, dags: map[string]bool{"etl": true}, tis: tc.tis}
			check, c, rec := setup(t, api, false, pods...)
			check.confirmed = false
			before := testutil.ToFloat64(tryChecks.WithLabelValues("prod", CheckUnconfirmed))
			check.Poll(context.Background())
			for _, p := range pods {
				_, exists := podNow(t, c, p.Name)
				assert.Equal(t, !slices.Contains(tc.ended, p.Name), exists, "%s: ended %v", p.Name, !exists)
			}
			unconfirmed := testutil.ToFloat64(tryChecks.WithLabelValues("prod", CheckUnconfirmed)) - before
			if tc.ended == nil {
				assert.Empty(t, rec.Events)
				assert.Equal(t, 1.0, unconfirmed, "the unconfirmed check is counted")
				assert.Zero(t, api.dagAsks, "and asks about no DAG: absences prove nothing yet")
			} else {
				assert.Zero(t, unconfirmed)
			}
		})
	}
}

// TestTryCheckConfirmedStays: once an answer confirmed the Airflow, later
// answers end pods even when none of them confirms (an adopted pod's try,
// a vanished run): the URL is the same for the life of the process.
func TestTryCheckConfirmedStays(t *testing.T) {
	a := stampStart(tryPod("a", "prod", "a", 1, created), tryStart)
	api := &fakeAPI{complete: true, dags: map[string]bool{"etl": true}, tis: map[airflowapi.TaskKey]airflowapi.TaskInstance{
		key("a"): {TaskKey: key("a"), State: "running", TryNumber: 1, StartDate: tryStart},
	}}
	check, c, _ := setup(t, api, false, a, tryPod("b", "prod", "b", 1, created))
	check.confirmed = false
	check.Poll(context.Background()) // a's live try confirms; b is missing: ended
	_, exists := podNow(t, c, "b")
	assert.False(t, exists, "b: missing from a confirmed answer")
	api.tis[key("a")] = airflowapi.TaskInstance{TaskKey: key("a"), State: "failed", TryNumber: 2, StartDate: tryStart.Add(time.Hour)}
	check.Poll(context.Background()) // try 2 (adopted a's pod) failed: nothing confirms, a ends
	_, exists = podNow(t, c, "a")
	assert.False(t, exists, "a: its adopting try failed")
}

// idOf is a task instance id of Airflow 3's form, one per name.
func idOf(name string) string {
	return "0193a5b2-7c1e-7d3a-9f00-0000000000" + fmt.Sprintf("%02x", name[0])
}
