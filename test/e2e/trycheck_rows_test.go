package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/cellresult"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// checkInterval is the try check's --airflow-poll-interval in these rows;
// the bound (docs/airflow.md, "The try check") is a pod stopped within it +
// 2 s of Airflow recording the try's end.
const checkInterval = 5 * time.Second

// checkGrace is the check's --airflow-grace here: the bound holds for pods
// older than it, so the cells end their tries only once the pod is.
const checkGrace = 5 * time.Second

// checkHandoff is the check's --airflow-handoff here: below checkInterval,
// so a pod still stops within checkInterval + 2 s of its try's end, and
// above the 1–2 s Airflow's own cleanup takes where it runs (the triggerer
// up), so that the check leaves it to Airflow there.
const checkHandoff = 3 * time.Second

// waitPastGrace waits until the cell's pod is older than checkGrace.
func (c *cell) waitPastGrace() {
	c.mu.Lock()
	created := c.podCreated
	c.mu.Unlock()
	time.Sleep(time.Until(created.Add(checkGrace + time.Second)))
}

// TestTryCheckRows runs crash-path rows of the try check without and with the
// try check, on Airflow 3.3.2 and the newest provider (what `make test`
// runs): row 5 (the task process SIGKILLed, not deferrable) and a deferred
// task marked failed through the API with the triggerer up and while it is
// down, one after the other. The triggerer-down cell comes last, and waits
// for the restarted triggerer to drop the marked task's trigger (see
// airflowenv.RestartTriggerer: on SQLite its id went to the next deferred
// task, which then failed with the old trigger's event).
func TestTryCheckRows(t *testing.T) {
	for _, venv := range venvs(t, "af3.3.2-k8s10.25.0") {
		t.Run(venv, func(t *testing.T) {
			dir := filepath.Join(suite.tmp, venv+"-trycheck")
			require.NoError(t, os.MkdirAll(dir, 0o755))
			airflowEnv, err := airflowenv.APIUserEnv(dir, apiReader, apiAdmin)
			require.NoError(t, err)
			e := startEnv(t, venv, airflowEnv...)
			url, err := e.airflow.StartAPI(context.Background(), apiReader, apiAdmin)
			require.NoError(t, err)
			t.Run("without", func(t *testing.T) {
				t.Run("row5", func(t *testing.T) { row5Check(t, e, false) })
				t.Run("marked-failed-triggerer-up", func(t *testing.T) { markedFailedTriggererUp(t, e, url, false) })
				t.Run("marked-failed-triggerer-down", func(t *testing.T) { markedFailedTriggererDown(t, e, url, false) })
			})
			e.deleteAllPods(t)
			e.withCheck(t, e.dir, url)
			t.Run("with", func(t *testing.T) {
				t.Run("row5", func(t *testing.T) { row5Check(t, e, true) })
				t.Run("marked-failed-triggerer-up", func(t *testing.T) { markedFailedTriggererUp(t, e, url, true) })
				t.Run("marked-failed-triggerer-down", func(t *testing.T) { markedFailedTriggererDown(t, e, url, true) })
			})
			e.deleteAllPods(t)
		})
	}
}

// withCheck starts airflow-pod-deadline with the try check pointed at the
// env's Airflow API (instance "default", the policy's default), its log and
// certificates under dir, until the test ends.
func (e *env) withCheck(t *testing.T, dir, url string) *testenv.Proc {
	t.Helper()
	version := airflowapi.V2
	if e.airflow.Major < 3 {
		version = airflowapi.V1
	}
	en, err := testenv.StartEnforcer(context.Background(), e.client, suite.binary, e.cp.Kubeconfig, dir,
		filepath.Join(suite.root, "manifests", "install.yaml"),
		"--airflow-api-url="+url, "--airflow-api-version="+version, "--airflow-instance=default",
		"--airflow-credentials-dir="+credsDir(t, apiReader),
		fmt.Sprintf("--airflow-poll-interval=%s", checkInterval), fmt.Sprintf("--airflow-grace=%s", checkGrace),
		fmt.Sprintf("--airflow-handoff=%s", checkHandoff))
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := en.Stop(15 * time.Second); err != nil {
			t.Logf("stopping airflow-pod-deadline: %v", err)
		}
	})
	return en.Proc
}

// endedAt is when the cell first saw its try in a terminal state.
func (c *cell) endedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.states {
		for _, term := range terminal {
			if s.Value == term {
				return s.At
			}
		}
	}
	return time.Time{}
}

// requireStoppedByCheck requires the pod stopped after the try ended (from)
// and within checkInterval + podWithin of it, long before the deadline;
// without the check, it requires the pod still running then (the leak the
// check closes).
func requireStoppedByCheck(t *testing.T, c *cell, from, deadline time.Time, with bool) {
	t.Helper()
	bound := from.Add(checkInterval + podWithin)
	for stopped, _ := c.podStoppedAt(); stopped.IsZero() && time.Now().Before(bound.Add(time.Second)); {
		time.Sleep(200 * time.Millisecond)
		stopped, _ = c.podStoppedAt()
	}
	stopped, how := c.podStoppedAt()
	if !with {
		t.Logf("%s: try ended at deadline%+.1fs; pod at that bound: %s", c.name, from.Sub(deadline).Seconds(), c.lastPod())
		assert.True(t, stopped.IsZero() || !stopped.Before(deadline), "%s: without the check the pod runs on after its try ended (stopped %s: %s)", c.name, stopped, how)
		return
	}
	require.False(t, stopped.IsZero(), "%s: the pod was not stopped within %s of its try's end (last seen %s)", c.name, checkInterval+podWithin, c.lastPod())
	t.Logf("%s: try ended at deadline%+.1fs, pod stopped (%s) %s later", c.name, from.Sub(deadline).Seconds(), how, stopped.Sub(from))
	assert.False(t, stopped.Before(from), "%s: pod stopped before its try ended", c.name)
	assert.False(t, stopped.After(bound), "%s: pod stopped %s after its try ended (want within %s)", c.name, stopped.Sub(from), checkInterval+podWithin)
	assert.True(t, stopped.Before(deadline), "%s: pod stopped at its deadline, not by the check", c.name)
}

// row5Check is matrix row 5 (the task process SIGKILLed, not deferrable)
// judged by the try check: Airflow fails the try at once, the pod must
// follow. This and the marked-failed cells run the try check's DAGs (a
// 10-minute budget), so that only the check can stop the pod within the
// cell: on the seed's 30 s, a loaded machine once brought the mark 1.7 s
// before the deadline, which then stopped the pod inside the handoff.
func row5Check(t *testing.T, e *env, with bool) *cell {
	c := runCell(t, e, e.cellName("row5-trycheck", with), tcNonDeferrable, seedTask, tcBudget)
	c.from = cellresult.FromTryEnd
	deadline := c.begin(t)
	c.waitPodRunning(t)
	c.waitPastGrace()
	require.Eventually(t, func() bool {
		_, err := e.airflow.KillTaskProcess(context.Background(), c.dag, c.runID, c.task, -1)
		return err == nil
	}, time.Minute, 500*time.Millisecond, "the running task never showed a pid")
	require.True(t, time.Now().Before(deadline), "the kill must come before the deadline")
	end, ended := c.waitEnd(t, 2*time.Minute)
	require.True(t, ended, "%s: the killed try never ended (%s)", c.name, end)
	requireStoppedByCheck(t, c, c.tryEnd(end), deadline, with)
	c.report(t, c.tryEnd(end), end)
	return c
}

// markedFailedTriggererDown: a deferred task marked failed through the API
// (as the UI does) while the triggerer is down, so no trigger's on_kill
// deletes the pod. It stops the env's triggerer: no other deferred cell may
// run beside it.
func markedFailedTriggererDown(t *testing.T, e *env, url string, with bool) *cell {
	c := runCell(t, e, e.cellName("marked-failed-triggerer-down", with), tcDeferrable, seedTask, tcBudget)
	c.from = cellresult.FromTryEnd
	deadline := c.begin(t)
	_, err := c.wait([]string{"deferred"}, 2*time.Minute)
	require.NoError(t, err, "the seed task defers")
	c.waitPodRunning(t)
	c.waitPastGrace()
	require.NoError(t, e.airflow.StopTriggerer())
	defer func() { assert.NoError(t, e.airflow.RestartTriggerer(context.Background())) }()
	require.NoError(t, e.airflow.MarkTask(context.Background(), url, apiAdmin, c.dag, c.runID, c.task, "failed"))
	end, err := c.wait([]string{"failed"}, 30*time.Second)
	require.NoError(t, err, "marked failed")
	require.True(t, c.endedAt().Before(deadline), "%s: marked failed only after the deadline (%s)", c.name, end)
	requireStoppedByCheck(t, c, c.tryEnd(end), deadline, with)
	c.report(t, c.tryEnd(end), end)
	return c
}

// markedFailedTriggererUp: the same with the triggerer up, where Airflow
// cleans up itself (the cancelled trigger's on_kill deletes the pod): the
// check must not get in its way — the pod ends, and the check records at
// most one AirflowTryEnded event for it.
func markedFailedTriggererUp(t *testing.T, e *env, url string, with bool) *cell {
	c := runCell(t, e, e.cellName("marked-failed-triggerer-up", with), tcDeferrable, seedTask, tcBudget)
	c.from = cellresult.FromTryEnd
	deadline := c.begin(t)
	_, err := c.wait([]string{"deferred"}, 2*time.Minute)
	require.NoError(t, err, "the seed task defers")
	c.waitPodRunning(t)
	c.waitPastGrace()
	require.NoError(t, e.airflow.MarkTask(context.Background(), url, apiAdmin, c.dag, c.runID, c.task, "failed"))
	end, err := c.wait([]string{"failed"}, 30*time.Second)
	require.NoError(t, err, "marked failed")
	from := c.tryEnd(end)
	for stopped, _ := c.podStoppedAt(); stopped.IsZero() && time.Now().Before(from.Add(30*time.Second)); {
		time.Sleep(200 * time.Millisecond)
		stopped, _ = c.podStoppedAt()
	}
	stopped, how := c.podStoppedAt()
	if stopped.IsZero() {
		// Airflow's own cleanup is not guaranteed in time (seen: not within
		// 30 s on a loaded machine); with the check the pod must end.
		require.False(t, with, "%s: the pod never ended (last seen %s)", c.name, c.lastPod())
		t.Logf("%s: marked failed at deadline%+.1fs, pod not ended by Airflow 30s later (%s)", c.name, from.Sub(deadline).Seconds(), c.lastPod())
	} else {
		t.Logf("%s: marked failed at deadline%+.1fs, pod ended (%s) %s later", c.name, from.Sub(deadline).Seconds(), how, stopped.Sub(from))
	}
	time.Sleep(2 * checkInterval) // room for a second, wrong action
	events := &corev1.EventList{}
	require.NoError(t, e.client.List(context.Background(), events, client.InNamespace("default")))
	n := 0
	for _, ev := range events.Items {
		if ev.Reason != sweeper.ReasonTryEnded || ev.InvolvedObject.Name != c.podName {
			continue
		}
		n++
		at := ev.EventTime.Time
		t.Logf("%s: the check acted %s after the try's end: %s", c.name, at.Sub(from), ev.Message)
		// The check leaves the pod to Airflow's own cleanup for the handoff
		// after the end Airflow recorded, and acts only on a pod nothing is
		// deleting yet (read fresh, patched under its resourceVersion).
		if !end.End.IsZero() {
			assert.False(t, at.Before(end.End.Add(checkHandoff)), "%s: the check acted %s after the try's end, within the handoff (%s)", c.name, at.Sub(end.End), checkHandoff)
		}
		if stopped, how := c.podStoppedAt(); strings.Contains(how, "deleting") || how == "gone" {
			assert.False(t, stopped.Before(at.Add(-time.Second)), "%s: the check acted on a pod Airflow was deleting since %s before", c.name, at.Sub(stopped))
		}
	}
	if with {
		assert.LessOrEqual(t, n, 1, "%s: at most one AirflowTryEnded event", c.name)
		if n == 0 {
			t.Logf("%s: Airflow's own cleanup ended the pod within the handoff; the check did nothing", c.name)
		}
	} else {
		assert.Zero(t, n)
	}
	c.report(t, from, end)
	return c
}
