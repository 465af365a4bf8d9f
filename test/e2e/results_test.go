package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
)

// cellResult is one matrix cell as recorded, written as JSON under
// $APD_E2E_RESULTS/<venv>/<cell>.json when that variable is set: the input
// for the matrix table of docs/airflow.md (issue 10, item 6). Instants are
// given as seconds relative to the pod's execution deadline.
type cellResult struct {
	Cell           string     `json:"cell"`
	Venv           string     `json:"venv"`
	Airflow        string     `json:"airflow"`
	Provider       string     `json:"provider"`
	WithDeadlines  bool       `json:"withAirflowPodDeadline"`
	DAG            string     `json:"dag"`
	Task           string     `json:"task"`
	MapIndex       int        `json:"mapIndex"`
	Deadline       time.Time  `json:"deadline"`
	FinalState     string     `json:"finalState"` // the state when the cell stopped watching
	ObservedAfter  float64    `json:"observedUntilAfterDeadlineSeconds"`
	TryNumber      int        `json:"tryNumber"`
	EndAfter       *float64   `json:"taskEndAfterDeadlineSeconds,omitempty"`
	PodGoneAfter   *float64   `json:"podGoneAfterDeadlineSeconds,omitempty"`
	TaskStates     []relative `json:"taskStates"`
	Pod            []relative `json:"pod"`
	Events         []string   `json:"events"`
	TaskLogExcerpt []string   `json:"taskLog"`
}

type relative struct {
	Value string  `json:"value"`
	After float64 `json:"afterDeadlineSeconds"`
}

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

// save writes the cell's result; c.mu is held by the caller.
func (c *cell) save(t *testing.T, deadline time.Time, ti airflowenv.TaskInstance, events, lines []string) {
	t.Helper()
	dir := os.Getenv("APD_E2E_RESULTS")
	if dir == "" {
		return
	}
	after := func(at time.Time) float64 { return at.Sub(deadline).Seconds() }
	r := cellResult{
		Cell: c.name, Venv: c.e.venv, Airflow: c.e.airflow.Version, Provider: c.e.airflow.Provider,
		WithDeadlines: strings.HasSuffix(c.name, "/with"), DAG: c.dag, Task: c.task, MapIndex: c.mapIndex,
		Deadline: deadline, FinalState: ti.State, ObservedAfter: after(time.Now()), TryNumber: ti.TryNumber, Events: events, TaskLogExcerpt: lines,
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
		r.TaskStates = append(r.TaskStates, relative{s.Value, after(s.At)})
	}
	for _, p := range c.pods {
		r.Pod = append(r.Pod, relative{p.Value, after(p.At)})
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
