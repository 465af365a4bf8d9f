package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/cellresult"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// The try check's DAGs (apd_trycheck.py): the seed's pod with a 10-minute
// budget, so that within a cell only the check can stop it.
const (
	tcDeferrable    = "apd_trycheck_deferrable"
	tcNonDeferrable = "apd_trycheck_non_deferrable"
	tcBudget        = 10 * time.Minute
	// tcHold is how long a cell watches a pod the check must leave alone:
	// three polls.
	tcHold = 3 * checkInterval
)

// tryCheckCells are the cells TestTryCheckMatrix records (the prefix of
// each result file): a run replaces these and leaves TestMatrix's.
var tryCheckCells = []string{
	"row5-trycheck", "marked-failed-triggerer-up", "marked-failed-triggerer-down", "cleared-triggerer-down", "cleared-triggerer-down-try2",
	"run-marked-failed-triggerer-down", "worker-killed-zombie", "row7-trycheck-triggerer-down", "api-down",
	"misconfigured", "two-airflows", "two-airflows-other",
}

// checkEnv is an env whose Airflow serves its public API (users apiReader
// and apiAdmin) twice: admin is the URL the cells act through (mark, clear),
// read the one the check reads, which api-down stops (see
// airflowenv.StartReadAPI).
type checkEnv struct {
	*env
	admin, read string
}

// TestTryCheckMatrix runs the try check's rows of docs/airflow.md (`make
// e2e`), without and with the check (poll checkInterval, grace checkGrace),
// in every venv: row 5 and a deferred task marked failed (as in
// TestTryCheckRows), a task cleared and a run marked failed while the
// triggerer is down, the worker killed and the scheduler's zombie detection
// failing the try; with the check only, row 7 with the triggerer down, the
// Airflow API down for a minute, a second Airflow on the cluster, and the
// check misconfigured (wrong credentials, then the wrong instance name). The
// cells run one after another: most stop the triggerer. With the check,
// every AirflowTryEnded event must be on a pod whose try a cell ended.
func TestTryCheckMatrix(t *testing.T) {
	all := venvs(t, allVenvs...)
	slots := make(chan struct{}, parallelVenvs())
	for _, venv := range all {
		t.Run(venv, func(t *testing.T) {
			t.Parallel()
			slots <- struct{}{}
			defer func() { <-slots }()
			clearCellResults(t, venv, tryCheckCells)
			x := startCheckEnv(t, venv)
			t.Run("without", func(t *testing.T) { x.rows(t, false) })
			x.deleteAllPods(t)
			check := x.startCheck(t, "check", apiReader, "default")
			t.Run("with", func(t *testing.T) {
				x.rows(t, true)
				t.Run("row7-trycheck-triggerer-down", func(t *testing.T) { x.row7(t) })
				t.Run("api-down", func(t *testing.T) { x.apiDown(t, check) })
				t.Run("two-airflows", func(t *testing.T) { x.twoAirflows(t, check) })
				t.Run("misconfigured", func(t *testing.T) {
					// two-airflows stopped it (and its replacement ended
					// with that cell), unless it failed before.
					_ = check.Stop(15 * time.Second)
					x.misconfigured(t)
				})
				x.requireOnlyOverEnded(t)
			})
			x.deleteAllPods(t)
		})
	}
}

// rows are the cells run both without and with the check.
func (x *checkEnv) rows(t *testing.T, with bool) {
	t.Run("row5", func(t *testing.T) { x.tryOver(row5Check(t, x.env, with)) })
	t.Run("marked-failed-triggerer-up", func(t *testing.T) { x.tryOver(markedFailedTriggererUp(t, x.env, x.admin, with)) })
	t.Run("marked-failed-triggerer-down", func(t *testing.T) {
		x.tryOver(markedFailedTriggererDown(t, x.env, x.admin, with))
	})
	t.Run("cleared-triggerer-down", func(t *testing.T) { x.cleared(t, with) })
	t.Run("run-marked-failed-triggerer-down", func(t *testing.T) { x.runMarkedFailed(t, with) })
	t.Run("worker-killed-zombie", func(t *testing.T) { x.zombie(t, with) })
}

// startCheckEnv starts an env with the API users and both API URLs.
func startCheckEnv(t *testing.T, venv string) *checkEnv {
	t.Helper()
	dir := filepath.Join(suite.tmp, venv+"-trycheck-matrix")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	airflowEnv, err := airflowenv.APIUserEnv(dir, apiReader, apiAdmin)
	require.NoError(t, err)
	x := &checkEnv{env: startEnv(t, venv, airflowEnv...)}
	x.admin, err = x.airflow.StartAPI(context.Background(), apiReader, apiAdmin)
	require.NoError(t, err)
	x.read, err = x.airflow.StartReadAPI(context.Background())
	require.NoError(t, err)
	return x
}

// startCheck starts airflow-pod-deadline (webhook, sweeper, try check) with
// the check reading x.read as user for instance; name keeps its log and
// certificates apart from other starts. The caller may stop it early.
func (x *checkEnv) startCheck(t *testing.T, name string, user airflowenv.APIUser, instance string) *testenv.Proc {
	t.Helper()
	return x.startCheckAt(t, name, x.read, user, instance)
}

// startCheckAt is startCheck reading the Airflow API at url.
func (x *checkEnv) startCheckAt(t *testing.T, name, url string, user airflowenv.APIUser, instance string) *testenv.Proc {
	t.Helper()
	version := airflowapi.V2
	if x.airflow.Major < 3 {
		version = airflowapi.V1
	}
	en, err := testenv.StartEnforcer(context.Background(), x.client, suite.binary, x.cp.Kubeconfig, filepath.Join(x.dir, name),
		filepath.Join(suite.root, "manifests", "install.yaml"),
		"--airflow-api-url="+url, "--airflow-api-version="+version, "--airflow-instance="+instance,
		"--airflow-credentials-dir="+credsDir(t, user),
		fmt.Sprintf("--airflow-poll-interval=%s", checkInterval), fmt.Sprintf("--airflow-grace=%s", checkGrace),
		fmt.Sprintf("--airflow-handoff=%s", checkHandoff))
	require.NoError(t, err)
	t.Cleanup(func() { _ = en.Stop(15 * time.Second) })
	return en.Proc
}

// tryOver records that a cell ended the try of pod: the check may end it.
func (e *env) tryOver(c *cell) {
	if c == nil {
		return
	}
	c.mu.Lock()
	pod := c.podName
	c.mu.Unlock()
	if pod == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.over == nil {
		e.over = map[string]string{}
	}
	e.over[pod] = c.name
}

// requireOnlyOverEnded requires every AirflowTryEnded event to be on a pod
// whose try a cell ended: the check never ends the pod of a live try.
func (e *env) requireOnlyOverEnded(t *testing.T) {
	t.Helper()
	events := &corev1.EventList{}
	require.NoError(t, e.client.List(context.Background(), events, client.InNamespace("default")))
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range events.Items {
		if ev.Reason != sweeper.ReasonTryEnded {
			continue
		}
		n++
		_, ok := e.over[ev.InvolvedObject.Name]
		assert.True(t, ok, "the check ended %s, whose try no cell ended: %s", ev.InvolvedObject.Name, ev.Message)
	}
	t.Logf("%d AirflowTryEnded events, each on a pod of a try that was over", n)
}

// stopTriggerer stops the triggerer until the test ends (or restart is
// called), so that no trigger's on_kill deletes a pod.
func stopTriggerer(t *testing.T, e *env) (restart func()) {
	t.Helper()
	require.NoError(t, e.airflow.StopTriggerer())
	var once sync.Once
	restart = func() {
		once.Do(func() { assert.NoError(t, e.airflow.RestartTriggerer(context.Background())) })
	}
	t.Cleanup(restart)
	return restart
}

// startDeferred waits until the cell's try is deferred with its pod running
// and older than the grace.
func (c *cell) startDeferred(t *testing.T) {
	t.Helper()
	ti, err := c.wait(append([]string{"deferred"}, terminal...), 4*time.Minute)
	require.NoError(t, err, "%s: the task defers", c.name)
	require.Equal(t, "deferred", ti.State, "%s: the task defers", c.name)
	c.waitPod(t)
	c.waitPodRunning(t)
	c.waitPastGrace()
}

// podDeadline is the deadline on the cell's pod (the policy stamps it
// whether or not the webhook enforces it); far in the future if none.
func (c *cell) podDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, err := time.Parse(time.RFC3339Nano, c.deadlineAnnotation); err == nil {
		return d
	}
	return time.Now().Add(24 * time.Hour)
}

// tryEnd is when Airflow recorded the try's end: its end_date, else when
// the cell first saw it terminal.
func (c *cell) tryEnd(ti airflowenv.TaskInstance) time.Time {
	if !ti.End.IsZero() {
		return ti.End
	}
	return c.endedAt()
}

// requireLeftAlone requires the cell's pod running, and no AirflowTryEnded
// event on it, for tcHold: the check must not end the pod of a live try
// (or of an instance it does not serve, or while it cannot ask).
func (c *cell) requireLeftAlone(t *testing.T, why string) {
	t.Helper()
	time.Sleep(tcHold)
	stopped, how := c.podStoppedAt()
	assert.True(t, stopped.IsZero(), "%s: %s, yet the pod was stopped (%s)", c.name, why, how)
	assert.Zero(t, c.tryEndedEvents(t), "%s: %s, yet an AirflowTryEnded event", c.name, why)
}

// tryEndedEvents counts the AirflowTryEnded events on the cell's pod.
func (c *cell) tryEndedEvents(t *testing.T) int {
	t.Helper()
	events := &corev1.EventList{}
	require.NoError(t, c.e.client.List(context.Background(), events, client.InNamespace("default")))
	c.mu.Lock()
	name := c.podName
	c.mu.Unlock()
	n := 0
	for _, ev := range events.Items {
		if ev.Reason == sweeper.ReasonTryEnded && ev.InvolvedObject.Name == name {
			n++
		}
	}
	return n
}

// kpoAdopts says, per cncf-kubernetes version, whether a new try of a KPO
// task reuses the still-running pod of the try before it. Read in each
// installed provider's operators/pod.py: with reattach_on_restart (the
// default; 10.25 calls it durable on Airflow 3.3) get_or_create_pod calls
// find_pod, whose label selector (_build_find_pod_label_selector) is the
// task's labels without try_number (include_try_number=False) plus
// already_checked!=True; one match that is neither Succeeded, Failed nor
// evicted is reused ("Reusing existing pod") and not relabelled. 10.25 on
// Airflow 3.3 first asks the task state store for the pod name a previous
// try persisted: the same pod.
var kpoAdopts = map[string]bool{"10.17.0": true, "10.17.1": true, "10.18.0": true, "10.25.0": true}

// cleared: a deferred task cleared through the API (as the UI's Clear does)
// while the triggerer is down, so the cancelled trigger's on_kill deletes
// nothing and try 1's pod still runs when try 2 starts. KPO's
// reattach_on_restart then either adopts that pod for try 2 (the check must
// leave it: it is the live try's) or try 2 makes its own (the check ends try
// 1's). Either way try 2 is then marked failed, the triggerer still down:
// its pod, adopted or its own, must end.
func (x *checkEnv) cleared(t *testing.T, with bool) {
	ctx := context.Background()
	runID, err := x.airflow.Trigger(ctx, tcDeferrable)
	require.NoError(t, err)
	c1 := watchCell(t, x.env, x.cellName("cleared-triggerer-down", with), tcDeferrable, seedTask, runID, -1, 1, tcBudget)
	c1.from = cellresult.FromTryEnd
	c1.startDeferred(t)
	restart := stopTriggerer(t, x.env)
	require.NoError(t, x.airflow.ClearTask(ctx, x.admin, apiAdmin, tcDeferrable, runID, seedTask))
	t.Logf("%s: cleared try 1 at deadline%+.1fs", c1.name, time.Since(c1.podDeadline()).Seconds())
	c2 := watchCell(t, x.env, x.cellName("cleared-triggerer-down-try2", with), tcDeferrable, seedTask, runID, -1, 2, tcBudget)
	c2.from = cellresult.FromTryEnd
	try2, err := c2.wait(append([]string{"deferred"}, terminal...), 4*time.Minute)
	require.NoError(t, err, "%s: try 2 defers", c1.name)
	require.Equal(t, "deferred", try2.State, "%s: try 2 defers", c1.name)
	time.Sleep(time.Second) // the watcher polls every 200ms: a pod of try 2 is seen by now
	log2, err := x.airflow.TaskLog(tcDeferrable, runID, seedTask, -1, 2)
	require.NoError(t, err)
	c2.mu.Lock()
	own := c2.podName
	c2.mu.Unlock()
	adopted := own == "" && strings.Contains(log2, "Found matching pod")
	t.Logf("%s: try 2 deferred at %s; its own pod %q; KPO's log says it found try 1's pod: %v", c1.name,
		try2.Start.Format(time.RFC3339Nano), own, strings.Contains(log2, "Found matching pod"))
	want, known := kpoAdopts[x.airflow.Provider]
	require.True(t, known, "cncf-kubernetes %s: read its find_pod and add it to kpoAdopts", x.airflow.Provider)
	assert.Equal(t, want, adopted, "%s: cncf-kubernetes %s adopts try 1's pod", c1.name, x.airflow.Provider)

	live := c1 // the pod of try 2, the live try
	if adopted {
		if with {
			c1.requireLeftAlone(t, "try 2 adopted the pod and is deferred")
		}
	} else {
		require.NotEmpty(t, own, "%s: try 2 neither adopted try 1's pod nor made its own", c1.name)
		c2.waitPodRunning(t)
		c2.mu.Lock()
		superseded := c2.pods[0].At // when try 2's pod was first seen: the check's evidence
		c2.mu.Unlock()
		x.tryOver(c1)
		requireStoppedByCheck(t, c1, superseded, c1.podDeadline(), with)
		live = c2
		if with {
			c2.waitPastGrace()
			c2.requireLeftAlone(t, "try 2 is deferred")
		}
	}

	require.NoError(t, x.airflow.MarkTask(ctx, x.admin, apiAdmin, tcDeferrable, runID, seedTask, "failed"))
	end, err := c2.wait([]string{"failed"}, time.Minute)
	require.NoError(t, err, "try 2 marked failed")
	x.tryOver(live)
	requireStoppedByCheck(t, live, c2.tryEnd(end), live.podDeadline(), with)
	restart()
	if adopted {
		c1.logTry = 2 // what try 2 did with the pod
	}
	c1.report(t, c2.tryEnd(end), end)
	if !adopted {
		c2.report(t, c2.tryEnd(end), end)
	}
}

// runMarkedFailed: a DAG run marked failed through the API (as the UI's
// "Mark run as failed" does) while its deferred task's pod runs and the
// triggerer is down: Airflow ends the task, nothing of Airflow deletes the
// pod.
func (x *checkEnv) runMarkedFailed(t *testing.T, with bool) {
	ctx := context.Background()
	c := runCell(t, x.env, x.cellName("run-marked-failed-triggerer-down", with), tcDeferrable, seedTask, tcBudget)
	c.from = cellresult.FromTryEnd
	c.startDeferred(t)
	restart := stopTriggerer(t, x.env)
	require.NoError(t, x.airflow.MarkRun(ctx, x.admin, apiAdmin, c.dag, c.runID, "failed"))
	end, ended := c.waitEnd(t, time.Minute)
	require.True(t, ended, "%s: the task of a run marked failed ends (%v)", c.name, end)
	x.tryOver(c)
	run, err := x.airflow.DagRun(ctx, c.dag, c.runID)
	require.NoError(t, err)
	t.Logf("%s: run %s, task %s (end_date %s)", c.name, run.State, end.State, end.End.Format(time.RFC3339Nano))
	requireStoppedByCheck(t, c, c.tryEnd(end), c.podDeadline(), with)
	restart()
	c.report(t, c.tryEnd(end), end)
}

// zombie: a non-deferrable task's worker killed (the task process and the
// process supervising it, as when a worker is lost) while its pod runs:
// nothing reports the try's end or runs on_kill; the scheduler's heartbeat
// timeout (zombie detection; [scheduler] task_instance_heartbeat_timeout on
// Airflow 3, scheduler_zombie_task_threshold on 2, both 20 s here) fails
// the try.
func (x *checkEnv) zombie(t *testing.T, with bool) {
	ctx := context.Background()
	c := runCell(t, x.env, x.cellName("worker-killed-zombie", with), tcNonDeferrable, seedTask, tcBudget)
	c.from = cellresult.FromTryEnd
	c.waitStarted(t)
	c.waitPod(t)
	c.waitPodRunning(t)
	c.waitPastGrace()
	var pids []int
	require.Eventually(t, func() bool {
		var err error
		pids, err = x.airflow.KillWorker(ctx, c.dag, c.runID, c.task, -1)
		return err == nil
	}, time.Minute, 500*time.Millisecond, "the running task never showed a pid")
	killed := time.Now()
	t.Logf("%s: SIGKILLed the task process and its supervisor %v", c.name, pids)
	end, ended := c.waitEnd(t, 3*time.Minute)
	require.True(t, ended, "%s: zombie detection never failed the try (%v)", c.name, end)
	x.tryOver(c)
	assert.Contains(t, []string{"failed", "up_for_retry"}, end.State, "%s", c.name)
	assert.True(t, c.tryEnd(end).After(killed), "%s: ended before the kill", c.name)
	t.Logf("%s: the try ended %s after the kill", c.name, c.tryEnd(end).Sub(killed))
	n, err := x.airflow.LogEvents(ctx, c.dag, c.runID, "heartbeat timeout")
	require.NoError(t, err)
	assert.Positive(t, n, "%s: the scheduler's zombie detection failed the try (a heartbeat timeout in Airflow's log)", c.name)
	requireStoppedByCheck(t, c, c.tryEnd(end), c.podDeadline(), with)
	c.report(t, c.tryEnd(end), end)
}

// row7 is matrix row 7 with the triggerer down (dagrun_timeout shorter than
// execution_timeout) under the try check: the policy's run deadline stops
// the pod at the run's timeout as without the check (TestMatrix), and the
// check must neither get in its way nor leave the pod running past the
// bound after the task's end.
func (x *checkEnv) row7(t *testing.T) {
	c := row7Cell(t, x.env, "row7-trycheck", true, true)
	x.tryOver(c)
	end, err := x.airflow.TaskInstance(context.Background(), c.dag, c.runID, c.task, -1)
	require.NoError(t, err)
	// A task skipped by the run's timeout has no end_date (seen on 3.3.2):
	// then when the cell first saw it skipped.
	ended := c.tryEnd(end)
	stopped, _ := c.podStoppedAt()
	require.False(t, stopped.IsZero() || ended.IsZero(), "%s: pod stopped %s, task ended %s", c.name, stopped, ended)
	t.Logf("%s: task %s at %s (end_date %q), pod stopped %s after it; %d AirflowTryEnded events", c.name, end.State,
		ended.Format(time.RFC3339Nano), end.End.Format(time.RFC3339Nano), stopped.Sub(ended), c.tryEndedEvents(t))
	assert.False(t, stopped.After(ended.Add(checkInterval+podWithin)), "%s: pod stopped %s after the task's end", c.name, stopped.Sub(ended))
}

// apiDown: the Airflow API the check reads is stopped for a minute while a
// live try's pod runs: nothing is ended, every poll counts an error, and
// once the API is back the checks succeed again and a try that ends then
// has its pod ended within the bound.
func (x *checkEnv) apiDown(t *testing.T, check *testenv.Proc) {
	ctx := context.Background()
	const instance = "default"
	metric := func(name string, labels map[string]string) float64 {
		v, err := check.Metric(name, labels)
		require.NoError(t, err)
		return v
	}
	checks := func(result string) float64 {
		return metric("airflow_pod_deadline_airflow_checks_total", map[string]string{"airflow_instance": instance, "result": result})
	}
	apiErrors := func() float64 {
		return metric("airflow_pod_deadline_airflow_api_errors_total", map[string]string{"airflow_instance": instance})
	}
	c := runCell(t, x.env, "api-down/with", tcDeferrable, seedTask, tcBudget)
	c.from = cellresult.FromTryEnd
	c.startDeferred(t)
	ok0 := checks(sweeper.CheckOK)
	require.Eventually(t, func() bool { return checks(sweeper.CheckOK) > ok0 }, 3*checkInterval, 200*time.Millisecond,
		"the check never judged the live pod")

	require.NoError(t, x.airflow.StopReadAPI())
	down := time.Now()
	errs0, apiErrs0 := checks(sweeper.CheckError), apiErrors()
	during := c.stateAt(t, down.Add(time.Minute))
	require.Equal(t, "deferred", during.State, "%s: the try must live through the outage", c.name)
	errs1, apiErrs1 := checks(sweeper.CheckError), apiErrors()
	t.Logf("%s: API down %s: %v failed checks, %v API errors; task %s, pod %s", c.name, time.Since(down).Round(time.Second),
		errs1-errs0, apiErrs1-apiErrs0, during.State, c.lastPod())
	assert.GreaterOrEqual(t, errs1-errs0, float64(time.Minute/checkInterval-2), "%s: every poll fails while the API is down", c.name)
	assert.GreaterOrEqual(t, apiErrs1-apiErrs0, errs1-errs0, "%s: each failed check counts its API error", c.name)
	stopped, how := c.podStoppedAt()
	assert.True(t, stopped.IsZero(), "%s: the pod of a live try was stopped while the API was down (%s)", c.name, how)

	require.NoError(t, x.airflow.RestartReadAPI(ctx))
	back := time.Now()
	ok1 := checks(sweeper.CheckOK)
	require.Eventually(t, func() bool { return checks(sweeper.CheckOK) > ok1 }, time.Minute, 200*time.Millisecond,
		"%s: checks never resumed after the API came back", c.name)
	t.Logf("%s: checks resumed %s after the API was back", c.name, time.Since(back).Round(100*time.Millisecond))
	log, err := os.ReadFile(check.Log)
	require.NoError(t, err)
	assert.Contains(t, string(log), "Airflow try check failed", "%s: the failure is logged", c.name)
	assert.Contains(t, string(log), "Airflow try check answers again", "%s: the recovery is logged", c.name)
	assert.Zero(t, c.tryEndedEvents(t), "%s: nothing ended while the try lives", c.name)

	restart := stopTriggerer(t, x.env)
	require.NoError(t, x.airflow.MarkTask(ctx, x.admin, apiAdmin, c.dag, c.runID, c.task, "failed"))
	end, err := c.wait([]string{"failed"}, time.Minute)
	require.NoError(t, err, "marked failed")
	x.tryOver(c)
	requireStoppedByCheck(t, c, c.tryEnd(end), c.podDeadline(), true)
	restart()
	c.report(t, c.tryEnd(end), end)
}

// misconfigured: a try over (a deferred task marked failed, the triggerer
// down, no check running) under a check with wrong credentials, then one
// pointed at the wrong instance name: neither ends the pod, the first
// counts and logs its auth errors, the second never judges it; then the
// check as it should be ends it within the bound of its start.
func (x *checkEnv) misconfigured(t *testing.T) {
	ctx := context.Background()
	checks := func(p *testenv.Proc, instance, result string) float64 {
		v, err := p.Metric("airflow_pod_deadline_airflow_checks_total", map[string]string{"airflow_instance": instance, "result": result})
		require.NoError(t, err)
		return v
	}
	// Started first: its webhook admits the pod (the configurations of the
	// check stopped before would refuse every pod).
	wrong := x.startCheck(t, "check-wrong-credentials", airflowenv.APIUser{Name: apiReader.Name, Password: "wrong"}, "default")
	c := runCell(t, x.env, "misconfigured/with", tcDeferrable, seedTask, tcBudget)
	c.from = cellresult.FromTryEnd
	c.startDeferred(t)
	restart := stopTriggerer(t, x.env)
	require.NoError(t, x.airflow.MarkTask(ctx, x.admin, apiAdmin, c.dag, c.runID, c.task, "failed"))
	end, err := c.wait([]string{"failed"}, time.Minute)
	require.NoError(t, err, "marked failed")
	x.tryOver(c)

	errs0 := checks(wrong, "default", sweeper.CheckError)
	require.Eventually(t, func() bool { return checks(wrong, "default", sweeper.CheckError) >= errs0+3 }, 2*time.Minute,
		200*time.Millisecond, "%s: the check with wrong credentials never ran", c.name)
	c.requireLeftAlone(t, "the check cannot authenticate")
	auth, err := wrong.Metric("airflow_pod_deadline_airflow_api_errors_total", map[string]string{"airflow_instance": "default", "kind": airflowapi.KindAuth})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, auth, 3.0, "%s: auth errors counted", c.name)
	assert.Zero(t, checks(wrong, "default", sweeper.CheckOK), "%s: no check succeeds with wrong credentials", c.name)
	log, err := os.ReadFile(wrong.Log)
	require.NoError(t, err)
	assert.Contains(t, string(log), "Airflow try check failed", "%s: the failure is logged", c.name)
	assert.Contains(t, string(log), `"kind":"auth"`, "%s: the log says it is the credentials", c.name)
	t.Logf("%s: wrong credentials: %v failed checks, %v auth errors, pod %s", c.name,
		checks(wrong, "default", sweeper.CheckError), auth, c.lastPod())
	require.NoError(t, wrong.Stop(15*time.Second))

	other := x.startCheck(t, "check-wrong-instance", apiReader, "staging")
	c.requireLeftAlone(t, "the check serves another instance")
	judged := checks(other, "staging", sweeper.CheckOK) + checks(other, "staging", sweeper.CheckError)
	assert.Zero(t, judged, "%s: a check for another instance never asks about this instance's pods", c.name)
	require.NoError(t, other.Stop(15*time.Second))

	x.startCheck(t, "check-fixed", apiReader, "default")
	requireStoppedByCheck(t, c, time.Now(), c.podDeadline(), true)
	restart()
	c.report(t, c.tryEnd(end), end)
}

// twoAirflows: a second Airflow on the same cluster whose policy stamps
// the instance name "other" (AIRFLOW_POD_DEADLINE_INSTANCE), the check
// serving "default": a deferred task marked failed while its triggerer is
// down, in each Airflow at once. The check ends this env's pod and never
// judges the other's. Before this env's task is marked failed, the check
// is restarted pointed at the other Airflow's API (a wrong URL): that
// Airflow has the same DAG and task ids and not this env's run, so without
// the confirmation of its Airflow (sweeper.Confirms) the check would take
// this env's live try as gone. It must end nothing. check is stopped for
// that, and a new check started, which ends with the cell.
func (x *checkEnv) twoAirflows(t *testing.T, check *testenv.Proc) {
	ctx := context.Background()
	dir := filepath.Join(x.dir, "airflow-other")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	airflowEnv, err := airflowenv.APIUserEnv(dir, apiReader, apiAdmin)
	require.NoError(t, err)
	other, err := airflowenv.Start(ctx, airflowenv.Options{
		Venv:       filepath.Join(suite.root, "bin", "venvs", x.venv),
		Kubeconfig: x.cp.Kubeconfig,
		DAGsFolder: filepath.Join(suite.root, "test", "e2e", "airflow", "dags"),
		Dir:        filepath.Join(dir, "airflow"),
		Env:        append(airflowEnv, "AIRFLOW_POD_DEADLINE_INSTANCE=other"),
		Log:        testWriter{t},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Stop() })
	otherAdmin, err := other.StartAPI(ctx, apiReader, apiAdmin)
	require.NoError(t, err)
	y := &env{venv: x.venv, dir: dir, cp: x.cp, client: x.client, airflow: other}

	mine := runCell(t, x.env, "two-airflows/with", tcDeferrable, seedTask, tcBudget)
	theirs := runCell(t, y, "two-airflows-other/with", tcDeferrable, seedTask, tcBudget)
	for _, c := range []*cell{mine, theirs} {
		c.from = cellresult.FromTryEnd
		c.startDeferred(t)
	}
	theirPod := &corev1.Pod{}
	require.NoError(t, x.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: theirs.podName}, theirPod))
	require.Equal(t, "other", theirPod.Annotations[deadline.NewKeys(deadline.DefaultPrefix).Instance], "the other Airflow's policy stamps its name")
	restartMine := stopTriggerer(t, x.env)
	restartTheirs := stopTriggerer(t, y)

	require.NoError(t, check.Stop(15*time.Second))
	wrong := x.startCheckAt(t, "check-wrong-url", otherAdmin, apiReader, "default")
	unconfirmed := func() float64 {
		v, err := wrong.Metric("airflow_pod_deadline_airflow_checks_total", map[string]string{"airflow_instance": "default", "result": sweeper.CheckUnconfirmed})
		require.NoError(t, err)
		return v
	}
	require.Eventually(t, func() bool { return unconfirmed() >= 3 }, 2*time.Minute, 200*time.Millisecond,
		"%s: the check pointed at the other Airflow never answered unconfirmed", mine.name)
	mine.requireLeftAlone(t, "the check's URL is another Airflow's (same DAG ids, not this run)")
	ok, err := wrong.Metric("airflow_pod_deadline_airflow_checks_total", map[string]string{"airflow_instance": "default", "result": sweeper.CheckOK})
	require.NoError(t, err)
	assert.Zero(t, ok, "%s: the other Airflow never confirmed", mine.name)
	log, err := os.ReadFile(wrong.Log)
	require.NoError(t, err)
	assert.Contains(t, string(log), "Airflow try check unconfirmed", "%s: the wrong URL is logged", mine.name)
	t.Logf("%s: the check pointed at the other Airflow: %v unconfirmed checks, pod %s", mine.name, unconfirmed(), mine.lastPod())
	require.NoError(t, wrong.Stop(15*time.Second))
	x.startCheck(t, "check-after-wrong-url", apiReader, "default")

	require.NoError(t, x.airflow.MarkTask(ctx, x.admin, apiAdmin, mine.dag, mine.runID, mine.task, "failed"))
	require.NoError(t, other.MarkTask(ctx, otherAdmin, apiAdmin, theirs.dag, theirs.runID, theirs.task, "failed"))
	endMine, err := mine.wait([]string{"failed"}, time.Minute)
	require.NoError(t, err)
	endTheirs, err := theirs.wait([]string{"failed"}, time.Minute)
	require.NoError(t, err)
	x.tryOver(mine)
	requireStoppedByCheck(t, mine, mine.tryEnd(endMine), mine.podDeadline(), true)
	theirs.requireLeftAlone(t, "the check does not serve the other Airflow")
	restartMine()
	restartTheirs()
	mine.report(t, mine.tryEnd(endMine), endMine)
	theirs.report(t, theirs.tryEnd(endTheirs), endTheirs)
}
