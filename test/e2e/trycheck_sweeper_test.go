package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// trySweeper runs the sweeper binary with the try check on a bare
// kube-apiserver (no kubelet: a "started" pod is one whose status says so)
// against the real Airflow at url, where run's task instances are success
// and liveRun's have no state yet. First against an API answering 500 (no
// pod may end), then serving two instances at once: "test" (the real
// Airflow, single-instance flags) and "broken" (--airflow-check, the API
// answering 500), whose pods carry tries the real Airflow reports over: only
// test's pods may end, and broken's errors are counted under its name.
func trySweeper(t *testing.T, url, version, run, liveRun string, done []airflowenv.TaskInstance) {
	dir := t.TempDir()
	cp, err := testenv.StartControlPlane(filepath.Join(suite.root, "bin"), testenv.Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cp.Stop() })
	ctx := context.Background()
	c := cp.Client
	const ns = "trycheck"
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	keys := deadline.NewKeys(deadline.DefaultPrefix)
	// startOf is the start_date the policy would have stamped on the pod
	// of a try of run's task (zero: none, as for tries with no start).
	startOf := map[string]time.Time{}
	for _, ti := range done {
		startOf[ti.TaskID] = ti.Start
	}
	podAt := func(name, instance, dag, runID, task string, try int, start time.Time) *corev1.Pod {
		p := testenv.KPOPod(ns, "sleep 3600", nil, nil)
		p.Name = name
		p.Annotations = map[string]string{
			keys.Instance: instance, keys.DagID: dag, keys.RunID: runID, keys.TaskID: task,
			keys.MapIndex: "-1", keys.TryNumber: strconv.Itoa(try),
		}
		if !start.IsZero() {
			p.Annotations[keys.TryStart] = start.UTC().Format("2006-01-02T15:04:05.000000-07:00")
		}
		require.NoError(t, c.Create(ctx, p))
		return p
	}
	pod := func(name, instance, dag, runID, task string, try int) *corev1.Pod {
		start := time.Time{}
		if runID == run {
			start = startOf[task]
		}
		return podAt(name, instance, dag, runID, task, try, start)
	}

	creds := credsDir(t, apiReader)
	run1 := func(name, apiURL string, more ...string) *testenv.Proc {
		p, err := testenv.Start(suite.binary, cp.Kubeconfig, filepath.Join(dir, name+".log"), append([]string{
			"--enable-webhook=false", "--namespace=" + ns, "--airflow-api-url=" + apiURL, "--airflow-api-version=" + version,
			"--airflow-instance=test", "--airflow-credentials-dir=" + creds, "--airflow-poll-interval=1s",
			"--airflow-grace=0s", "--airflow-handoff=0s", "--airflow-timeout=10s", "--zap-log-level=debug"}, more...)...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
		return p
	}
	metric := func(p *testenv.Proc, name, instance string, labels ...string) float64 {
		want := map[string]string{"airflow_instance": instance}
		for i := 0; i+1 < len(labels); i += 2 {
			want[labels[i]] = labels[i+1]
		}
		v, _ := p.Metric(name, want)
		return v
	}
	checksOf := func(p *testenv.Proc, instance, result string) float64 {
		return metric(p, "airflow_pod_deadline_airflow_checks_total", instance, "result", result)
	}
	checks := func(p *testenv.Proc, result string) float64 { return checksOf(p, "test", result) }
	untouched := func(p *corev1.Pod) error {
		got := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
			return err
		}
		if got.DeletionTimestamp != nil || got.Spec.ActiveDeadlineSeconds != nil {
			return fmt.Errorf("%s was ended: deletionTimestamp %v, activeDeadlineSeconds %v", p.Name, got.DeletionTimestamp, got.Spec.ActiveDeadlineSeconds)
		}
		return nil
	}

	// Another Airflow with the same DAG, run and task ids, as a check whose
	// URL points at the wrong Airflow sees it: every answer has other
	// start_dates than the pods' own tries. It ends nothing, and says so.
	try := done[0].TryNumber
	foreign := map[string]*corev1.Pod{
		"another Airflow's try, success":       podAt("foreign-success", "test", "apd_api", run, done[0].TaskID, try, done[0].Start.Add(-time.Hour)),
		"another Airflow's try, started later": podAt("foreign-later", "test", "apd_api", run, done[1].TaskID, try, done[1].Start.Add(time.Hour)),
	}
	p := run1("sweeper-foreign", url)
	require.Eventually(t, func() bool { return checks(p, sweeper.CheckUnconfirmed) >= 3 }, 2*time.Minute, 500*time.Millisecond,
		"the check never answered unconfirmed:\n%s", p.Tail(30))
	for name, pod := range foreign {
		assert.NoError(t, untouched(pod), "%s: ended by an Airflow that showed no pod's own try", name)
	}
	assert.Zero(t, checks(p, sweeper.CheckOK))
	require.NoError(t, p.Stop(10*time.Second))

	over := map[string]*corev1.Pod{
		"success, pending": pod("success-pending", "test", "apd_api", run, done[0].TaskID, try),
		"success, started": pod("success-started", "test", "apd_api", run, done[1].TaskID, try),
		"task gone":        pod("task-gone", "test", "apd_api", run, "no_such_task", try),
	}
	kept := map[string]*corev1.Pod{
		"live try":               pod("live", "test", "apd_api_live", liveRun, "t0", 1),
		"another instance":       pod("other-instance", "staging", "apd_api", run, done[2].TaskID, try),
		"unknown DAG":            pod("unknown-dag", "test", "no_such_dag", run, "t0", 1),
		"Airflow behind the pod": pod("behind", "test", "apd_api", run, done[3].TaskID, try+1),
	}
	// Over by the real Airflow's answer (success; absent from a complete
	// answer for a known DAG), but of the instance whose API fails.
	brokenPods := map[string]*corev1.Pod{
		"broken instance, success":   pod("broken-success", "broken", "apd_api", run, done[4].TaskID, try),
		"broken instance, task gone": pod("broken-gone", "broken", "apd_api", run, "no_such_task", try),
	}
	started := over["success, started"]
	started.Status.Phase, started.Status.StartTime = corev1.PodRunning, ptr.To(metav1.NewTime(time.Now().Add(-time.Minute)))
	require.NoError(t, c.Status().Update(ctx, started))

	// An Airflow API answering 500: checks fail, nothing ends.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth/token" {
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"access_token":"x"}`)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer broken.Close()
	p = run1("sweeper-broken", broken.URL)
	require.Eventually(t, func() bool { return checks(p, sweeper.CheckError) >= 3 }, 2*time.Minute, 500*time.Millisecond,
		"the check never ran against the broken API:\n%s", p.Tail(30))
	for name, pod := range over {
		assert.NoError(t, untouched(pod), "%s: ended on an API error", name)
	}
	for _, pod := range kept {
		assert.NoError(t, untouched(pod))
	}
	for _, pod := range brokenPods {
		assert.NoError(t, untouched(pod))
	}
	require.NoError(t, p.Stop(10*time.Second))

	// The real Airflow as instance test, and the broken API as instance
	// broken, in one process.
	p = run1("sweeper", url, "--airflow-check=instance=broken,url="+broken.URL+",api-version="+version+",credentials-dir="+creds)
	require.Eventually(t, func() bool {
		for _, pod := range []*corev1.Pod{over["success, pending"], over["task gone"]} {
			got := &corev1.Pod{}
			err := c.Get(ctx, client.ObjectKeyFromObject(pod), got)
			if !apierrors.IsNotFound(err) && (err != nil || got.DeletionTimestamp == nil) {
				return false
			}
		}
		got := &corev1.Pod{}
		return c.Get(ctx, client.ObjectKeyFromObject(started), got) == nil && got.Spec.ActiveDeadlineSeconds != nil
	}, 2*time.Minute, 500*time.Millisecond, "the pods of finished tries were not ended:\n%s", p.Tail(40))
	got := &corev1.Pod{}
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(started), got))
	assert.LessOrEqual(t, *got.Spec.ActiveDeadlineSeconds, int64(time.Since(got.Status.StartTime.Time).Seconds()),
		"lowered to a value already past, so the kubelet stops it now")
	assert.Nil(t, got.DeletionTimestamp, "a started pod is stopped by the kubelet, not deleted")
	// Several more checks: the pods of live, foreign or unknown tries stay.
	n := checks(p, sweeper.CheckOK)
	require.Eventually(t, func() bool { return checks(p, sweeper.CheckOK) >= n+3 }, time.Minute, 500*time.Millisecond)
	for name, pod := range kept {
		assert.NoError(t, untouched(pod), name)
	}
	for name, pod := range foreign {
		assert.NoError(t, untouched(pod), "%s: its try_number's start_date is another than the pod's", name)
	}
	// The broken instance polled on its own, failing every time: its pods
	// stay, its errors carry its name, and it ended nothing.
	require.Eventually(t, func() bool { return checksOf(p, "broken", sweeper.CheckError) >= 3 }, time.Minute, 500*time.Millisecond,
		"the broken instance was not polled:\n%s", p.Tail(30))
	for name, pod := range brokenPods {
		assert.NoError(t, untouched(pod), "%s: ended though its instance's Airflow never answered", name)
	}
	assert.Zero(t, checksOf(p, "broken", sweeper.CheckOK))
	assert.GreaterOrEqual(t, metric(p, "airflow_pod_deadline_airflow_api_errors_total", "broken", "kind", airflowapi.KindHTTP), 3.0)
	assert.Zero(t, metric(p, "airflow_pod_deadline_airflow_api_errors_total", "test", "kind", airflowapi.KindHTTP),
		"the broken API's errors are not counted for test")
	ended := "airflow_pod_deadline_airflow_pods_ended_total"
	assert.Zero(t, metric(p, ended, "broken"))
	assert.Equal(t, 1.0, metric(p, ended, "test", "action", sweeper.EndedLowered))
	assert.GreaterOrEqual(t, metric(p, ended, "test", "action", sweeper.EndedDeleted), 2.0,
		"success-pending and task-gone (and success-started, once its termination grace and the kubelet grace are over)")
	assert.Positive(t, metric(p, "airflow_pod_deadline_airflow_api_request_duration_seconds", "broken", "op", "list_task_instances"))
	events := &corev1.EventList{}
	require.NoError(t, c.List(ctx, events, client.InNamespace(ns)))
	endedBy := map[string]string{}
	for _, e := range events.Items {
		if e.Reason == sweeper.ReasonTryEnded {
			endedBy[e.InvolvedObject.Name] = e.Message
		}
	}
	assert.Len(t, endedBy, 3, "one AirflowTryEnded event per ended pod: %v", endedBy)
	assert.Contains(t, endedBy["success-pending"], "state success")
	assert.Contains(t, endedBy["task-gone"], "state missing")
}
