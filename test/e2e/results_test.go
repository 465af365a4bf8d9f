package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/cellresult"
)

// clearResults removes a venv's earlier results, so that the table is of
// one run; APD_E2E_RESULTS_KEEP=1 keeps them (a run of some cells only
// replaces those).
func clearResults(t *testing.T, venv string) {
	t.Helper()
	if dir := os.Getenv("APD_E2E_RESULTS"); dir != "" && os.Getenv("APD_E2E_RESULTS_KEEP") != "1" {
		if err := os.RemoveAll(filepath.Join(dir, venv)); err != nil {
			t.Errorf("clearing earlier results: %v", err)
		}
	}
}

// clearCellResults removes a venv's earlier results of the given cells
// only (files <cell>_<phase>.json), for a test that shares the venv's
// results with another; APD_E2E_RESULTS_KEEP=1 keeps them.
func clearCellResults(t *testing.T, venv string, cells []string) {
	t.Helper()
	dir := os.Getenv("APD_E2E_RESULTS")
	if dir == "" || os.Getenv("APD_E2E_RESULTS_KEEP") == "1" {
		return
	}
	for _, c := range cells {
		files, err := filepath.Glob(filepath.Join(dir, venv, c+"_*.json"))
		if err != nil {
			t.Errorf("clearing earlier results: %v", err)
		}
		for _, f := range files {
			if err := os.Remove(f); err != nil {
				t.Errorf("clearing earlier results: %v", err)
			}
		}
	}
}

// save writes the cell's result as a cellresult.Result under
// $APD_E2E_RESULTS/<venv>/<cell>.json when that variable is set, times
// relative to ref (the pod's deadline, or the try's end: c.from); c.mu is
// held by the caller.
func (c *cell) save(t *testing.T, ref time.Time, ti airflowenv.TaskInstance, events, lines []string) {
	t.Helper()
	dir := os.Getenv("APD_E2E_RESULTS")
	if dir == "" {
		return
	}
	after := func(at time.Time) float64 { return at.Sub(ref).Seconds() }
	r := cellresult.Result{
		Cell: c.name, Venv: c.e.venv, Airflow: c.e.airflow.Version, Provider: c.e.airflow.Provider,
		With: !strings.HasSuffix(c.name, "/without"), TryCheck: strings.HasSuffix(c.name, "/with-check"), From: c.from, DAG: c.dag, Task: c.task, MapIndex: c.mapIndex,
		Deadline: c.deadline(ref), FinalState: ti.State, ObservedAfter: after(time.Now()), TryNumber: ti.TryNumber,
		Events: events, TaskLog: lines,
	}
	if !ti.End.IsZero() {
		v := after(ti.End)
		r.EndAfter = &v
	}
	if !c.podGone.IsZero() {
		v := after(c.podGone)
		r.PodGoneAfter = &v
	}
	for _, s := range c.states {
		r.TaskStates = append(r.TaskStates, cellresult.Relative{Value: s.Value, After: after(s.At)})
	}
	for _, p := range c.pods {
		r.Pod = append(r.Pod, cellresult.Relative{Value: p.Value, After: after(p.At)})
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Errorf("encoding the cell result: %v", err)
		return
	}
	path := filepath.Join(dir, c.e.venv, strings.ReplaceAll(c.name, "/", "_")+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Errorf("writing the cell result: %v", err)
		return
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Errorf("writing the cell result: %v", err)
	}
}
