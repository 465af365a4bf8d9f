package airflowenv

import (
	"context"
	"fmt"
	"time"
)

// DagRun is one row of Airflow's dag_run table.
type DagRun struct {
	DagID, RunID string
	State        string    // queued, running, success, failed
	Start, End   time.Time // zero when unset
}

// DagRun returns the run runID of dagID. Its start_date is what the
// scheduler's dagrun_timeout counts from (and what the task context's
// dag_run carries).
func (a *Airflow) DagRun(ctx context.Context, dagID, runID string) (DagRun, error) {
	rows, err := a.Query(ctx, `SELECT coalesce(state, ''), start_date, end_date FROM dag_run WHERE dag_id = ? AND run_id = ?`,
		dagID, runID)
	if err != nil {
		return DagRun{}, err
	}
	if len(rows) != 1 {
		return DagRun{}, fmt.Errorf("run %s of %s: %d rows", runID, dagID, len(rows))
	}
	r := DagRun{DagID: dagID, RunID: runID, State: fmt.Sprint(rows[0][0])}
	if r.Start, err = parseTime(rows[0][1]); err != nil {
		return DagRun{}, err
	}
	if r.End, err = parseTime(rows[0][2]); err != nil {
		return DagRun{}, err
	}
	return r, nil
}

// LogEvents counts the rows of Airflow's audit log (the log table) for a
// run with the given event, e.g. "heartbeat timeout": what the scheduler
// records when its zombie detection fails a try (Airflow 2.11 and 3).
func (a *Airflow) LogEvents(ctx context.Context, dagID, runID, event string) (int, error) {
	rows, err := a.Query(ctx, `SELECT count(*) FROM log WHERE dag_id = ? AND run_id = ? AND event = ?`, dagID, runID, event)
	if err != nil {
		return 0, err
	}
	if len(rows) != 1 {
		return 0, fmt.Errorf("count of %s events: %d rows", event, len(rows))
	}
	return toInt(rows[0][0]), nil
}
