package cellresult

import "time"

// Reference names the instant a cell's times are relative to.
const (
	// FromDeadline: the pod's execution deadline (rows 1-7).
	FromDeadline = ""
	// FromTryEnd: the end Airflow recorded for the try (the task
	// instance's end_date): the try check's rows, whose pods are stopped
	// because their try is over, long before their deadline.
	FromTryEnd = "tryEnd"
)

// Result is one matrix cell as recorded. Instants are seconds relative to
// the cell's reference instant (From: the pod's execution deadline unless
// it says otherwise); the JSON names keep "AfterDeadline" for the results
// already recorded.
type Result struct {
	Cell          string     `json:"cell"`
	Venv          string     `json:"venv"`
	Airflow       string     `json:"airflow"`
	Provider      string     `json:"provider"`
	With          bool       `json:"withAirflowPodDeadline"`
	TryCheck      bool       `json:"withTryCheck,omitempty"` // TestMatrix's with-check phase: a deadline row with the try check on too
	From          string     `json:"from,omitempty"`
	DAG           string     `json:"dag"`
	Task          string     `json:"task"`
	MapIndex      int        `json:"mapIndex"`
	Deadline      time.Time  `json:"deadline"`
	FinalState    string     `json:"finalState"` // the state when the cell stopped watching
	ObservedAfter float64    `json:"observedUntilAfterDeadlineSeconds"`
	TryNumber     int        `json:"tryNumber"`
	EndAfter      *float64   `json:"taskEndAfterDeadlineSeconds,omitempty"`
	PodGoneAfter  *float64   `json:"podGoneAfterDeadlineSeconds,omitempty"`
	TaskStates    []Relative `json:"taskStates"`
	Pod           []Relative `json:"pod"`
	Events        []string   `json:"events"`
	TaskLog       []string   `json:"taskLog"`
}

// Relative is a value seen at an instant relative to the cell's reference.
type Relative struct {
	Value string  `json:"value"`
	After float64 `json:"afterDeadlineSeconds"`
}
