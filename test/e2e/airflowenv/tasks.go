package airflowenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// TaskInstance is one row of Airflow's task_instance table.
type TaskInstance struct {
	DagID, RunID, TaskID string
	MapIndex             int
	State                string // "" while Airflow has not set one (NULL)
	TryNumber            int
	Start, End           time.Time // zero when unset
	PID                  int       // the task process, while it runs
	Hostname             string
}

func (ti TaskInstance) String() string {
	return fmt.Sprintf("%s/%s/%s[%d] state=%q try=%d start=%s end=%s", ti.DagID, ti.RunID, ti.TaskID, ti.MapIndex,
		ti.State, ti.TryNumber, ti.Start.Format(time.RFC3339Nano), ti.End.Format(time.RFC3339Nano))
}

// WaitDAG waits until the DAG processor has parsed and serialized dagID.
func (a *Airflow) WaitDAG(ctx context.Context, dagID string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		rows, err := a.Query(ctx, "SELECT count(*) FROM serialized_dag WHERE dag_id = ?", dagID)
		if err == nil && len(rows) == 1 && fmt.Sprint(rows[0][0]) != "0" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("DAG %s not parsed after %s (last error %v); import errors: %s", dagID, timeout, err, a.importErrors())
		case <-time.After(time.Second):
		}
	}
}

func (a *Airflow) importErrors() string {
	table := "import_error"
	if a.Major >= 3 {
		table = "parse_import_error"
	}
	rows, err := a.Query(context.Background(), "SELECT filename, stacktrace FROM "+table)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprint(rows)
}

// Trigger creates a manual run of dagID (waiting for it to be parsed first)
// and returns its run ID.
func (a *Airflow) Trigger(ctx context.Context, dagID string) (string, error) {
	if err := a.WaitDAG(ctx, dagID, 3*time.Minute); err != nil {
		return "", err
	}
	runID := fmt.Sprintf("manual__apd_%d", time.Now().UnixNano())
	if out, err := a.CLI(ctx, "dags", "trigger", dagID, "--run-id", runID); err != nil {
		return "", fmt.Errorf("airflow dags trigger %s: %w\n%s", dagID, err, tail(out, 20))
	}
	return runID, nil
}

// TaskInstances returns the task instances of a run (every task and map
// index), ordered by task ID and map index.
func (a *Airflow) TaskInstances(ctx context.Context, dagID, runID string) ([]TaskInstance, error) {
	rows, err := a.Query(ctx, `SELECT dag_id, run_id, task_id, map_index, coalesce(state, ''), try_number,
		start_date, end_date, coalesce(pid, 0), coalesce(hostname, '')
		FROM task_instance WHERE dag_id = ? AND run_id = ? ORDER BY task_id, map_index`, dagID, runID)
	if err != nil {
		return nil, err
	}
	tis := make([]TaskInstance, 0, len(rows))
	for _, r := range rows {
		ti := TaskInstance{
			DagID: fmt.Sprint(r[0]), RunID: fmt.Sprint(r[1]), TaskID: fmt.Sprint(r[2]),
			MapIndex: toInt(r[3]), State: fmt.Sprint(r[4]), TryNumber: toInt(r[5]),
			PID: toInt(r[8]), Hostname: fmt.Sprint(r[9]),
		}
		if ti.Start, err = parseTime(r[6]); err != nil {
			return nil, err
		}
		if ti.End, err = parseTime(r[7]); err != nil {
			return nil, err
		}
		tis = append(tis, ti)
	}
	return tis, nil
}

// TaskInstance returns one task instance (mapIndex -1 for unmapped tasks).
func (a *Airflow) TaskInstance(ctx context.Context, dagID, runID, taskID string, mapIndex int) (TaskInstance, error) {
	tis, err := a.TaskInstances(ctx, dagID, runID)
	if err != nil {
		return TaskInstance{}, err
	}
	for _, ti := range tis {
		if ti.TaskID == taskID && ti.MapIndex == mapIndex {
			return ti, nil
		}
	}
	return TaskInstance{}, fmt.Errorf("no task instance %s/%s/%s[%d]", dagID, runID, taskID, mapIndex)
}

// WaitTaskState polls (every 500ms) until the task instance is in one of
// states, and returns it as first seen there. observed, if not nil, is called
// with every poll's reading (to record transitions).
func (a *Airflow) WaitTaskState(ctx context.Context, dagID, runID, taskID string, mapIndex int, states []string,
	timeout time.Duration, observed func(TaskInstance)) (TaskInstance, error) {
	return a.waitState(ctx, fmt.Sprintf("task %s/%s/%s[%d]", dagID, runID, taskID, mapIndex), states, timeout, observed,
		func(ctx context.Context) (TaskInstance, error) {
			return a.TaskInstance(ctx, dagID, runID, taskID, mapIndex)
		})
}

// waitState polls read every 500ms until its state is one of states.
func (a *Airflow) waitState(ctx context.Context, what string, states []string, timeout time.Duration,
	observed func(TaskInstance), read func(context.Context) (TaskInstance, error)) (TaskInstance, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last TaskInstance
	var lastErr error
	for {
		ti, err := read(ctx)
		if err == nil {
			last = ti
			if observed != nil {
				observed(ti)
			}
			if slices.Contains(states, ti.State) {
				return ti, nil
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("%s not in %v after %s: last %v (error %v)\n%s", what, states, timeout, last, lastErr,
				a.describe(15))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// TaskLog returns the log of one try as Airflow wrote it to files: the
// worker's attempt=<try>.log followed by any trigger logs the triggerer wrote
// next to it (attempt=<try>.log.trigger.<job>.log), concatenated with a
// header line per file.
func (a *Airflow) TaskLog(dagID, runID, taskID string, mapIndex, try int) (string, error) {
	dir := filepath.Join(a.Home, "logs", "dag_id="+dagID, "run_id="+runID, "task_id="+taskID)
	if mapIndex >= 0 {
		dir = filepath.Join(dir, fmt.Sprintf("map_index=%d", mapIndex))
	}
	base := fmt.Sprintf("attempt=%d.log", try)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), base) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names) // attempt=N.log first, then its .trigger.* files
	var b strings.Builder
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "=== %s\n%s\n", n, data)
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("no %s in %s", base, dir)
	}
	return b.String(), nil
}

// KillTaskProcess sends SIGKILL to the task's process as recorded in the
// task instance (pid), as the OOM killer would. On Airflow 3 that is the
// task process forked by the supervisor; the supervisor survives it and
// reports the task's end. It returns the pid killed.
func (a *Airflow) KillTaskProcess(ctx context.Context, dagID, runID, taskID string, mapIndex int) (int, error) {
	ti, err := a.TaskInstance(ctx, dagID, runID, taskID, mapIndex)
	if err != nil {
		return 0, err
	}
	if ti.PID <= 0 || ti.State != "running" {
		return 0, fmt.Errorf("task is not running with a pid: %v pid=%d", ti, ti.PID)
	}
	if err := syscall.Kill(ti.PID, syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("kill %d: %w", ti.PID, err)
	}
	return ti.PID, nil
}

func toInt(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	default:
		return 0
	}
}

// Try returns one try of a task instance: the task_instance row while it is
// that try, else the row Airflow archived for it in task_instance_history
// (Airflow >= 2.10) when the next try was scheduled. Airflow archives a try
// that was not finished, UP_FOR_RETRY included, as FAILED (record_ti); a try
// followed by another was retried, so Try reports it as up_for_retry.
func (a *Airflow) Try(ctx context.Context, dagID, runID, taskID string, mapIndex, try int) (TaskInstance, error) {
	ti, err := a.TaskInstance(ctx, dagID, runID, taskID, mapIndex)
	if err != nil || ti.TryNumber == try {
		return ti, err
	}
	if ti.TryNumber < try {
		// Not that far yet: the try has no state of its own.
		return TaskInstance{DagID: dagID, RunID: runID, TaskID: taskID, MapIndex: mapIndex, TryNumber: try}, nil
	}
	rows, err := a.Query(ctx, `SELECT coalesce(state, ''), start_date, end_date, coalesce(pid, 0), coalesce(hostname, '')
		FROM task_instance_history WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ? AND try_number = ?`,
		dagID, runID, taskID, mapIndex, try)
	if err != nil {
		return TaskInstance{}, err
	}
	if len(rows) != 1 {
		return TaskInstance{}, fmt.Errorf("try %d of %s/%s/%s[%d]: %d history rows", try, dagID, runID, taskID, mapIndex, len(rows))
	}
	h := TaskInstance{DagID: dagID, RunID: runID, TaskID: taskID, MapIndex: mapIndex, TryNumber: try,
		State: fmt.Sprint(rows[0][0]), PID: toInt(rows[0][3]), Hostname: fmt.Sprint(rows[0][4])}
	if h.Start, err = parseTime(rows[0][1]); err != nil {
		return TaskInstance{}, err
	}
	if h.End, err = parseTime(rows[0][2]); err != nil {
		return TaskInstance{}, err
	}
	if h.State == "failed" {
		h.State = "up_for_retry"
	}
	return h, nil
}

// WaitTryState is WaitTaskState for one try (see Try).
func (a *Airflow) WaitTryState(ctx context.Context, dagID, runID, taskID string, mapIndex, try int, states []string,
	timeout time.Duration, observed func(TaskInstance)) (TaskInstance, error) {
	return a.waitState(ctx, fmt.Sprintf("try %d of %s/%s/%s[%d]", try, dagID, runID, taskID, mapIndex), states, timeout,
		observed, func(ctx context.Context) (TaskInstance, error) {
			return a.Try(ctx, dagID, runID, taskID, mapIndex, try)
		})
}

// KillWorker sends SIGKILL to the task's process (pid in the task instance)
// and to its parent, the process that supervises it and reports its end
// (Airflow 3: the executor's worker running the task supervisor; Airflow 2:
// `airflow tasks run`, the LocalTaskJob), as when a worker node or
// container is lost. Nothing is left to report the try's end or run the
// operator's on_kill: only the scheduler's heartbeat timeout (zombie
// detection, HeartbeatTimeout) fails the try. It returns the pids killed,
// the task's first.
func (a *Airflow) KillWorker(ctx context.Context, dagID, runID, taskID string, mapIndex int) ([]int, error) {
	ti, err := a.TaskInstance(ctx, dagID, runID, taskID, mapIndex)
	if err != nil {
		return nil, err
	}
	if ti.PID <= 0 || ti.State != "running" {
		return nil, fmt.Errorf("task is not running with a pid: %v pid=%d", ti, ti.PID)
	}
	parent, err := parentPID(ti.PID)
	if err != nil {
		return nil, err
	}
	for name, c := range a.snapshot() {
		if c.cmd.Process.Pid == parent {
			return nil, fmt.Errorf("the task's parent %d is the %s itself, not a worker", parent, name)
		}
	}
	// The parent first: it must not see its child die and report it.
	for _, pid := range []int{parent, ti.PID} {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return nil, fmt.Errorf("kill %d: %w", pid, err)
		}
	}
	return []int{ti.PID, parent}, nil
}

// parentPID reads a process's parent from /proc/<pid>/stat (its fourth
// field, after the parenthesised command name).
func parentPID(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if i < 0 || len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil || ppid <= 1 {
		return 0, fmt.Errorf("/proc/%d/stat: parent %q", pid, f[1])
	}
	return ppid, nil
}
