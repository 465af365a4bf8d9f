package airflowenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// component is one Airflow process (and, in its process group, whatever it
// forks: LocalExecutor workers, task processes, parsing processes).
type component struct {
	cmd     *exec.Cmd
	log     string
	started time.Time
	exited  chan struct{}
	waitErr error
}

// startComponent starts the named component; its output is appended to
// Home/<name>.log (a restarted triggerer keeps writing to the same file).
func (a *Airflow) startComponent(name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.procs[name]; ok && !c.done() {
		return fmt.Errorf("%s is already running", name)
	}
	logPath := filepath.Join(a.Home, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== airflowenv: starting %s at %s\n", name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(a.bin("airflow"), a.args(name)...)
	cmd.Env = append(os.Environ(), a.env...)
	cmd.Dir = a.Home
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = testenv.ChildProcAttr(true)
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting airflow %s: %w", name, err)
	}
	c := &component{cmd: cmd, log: logPath, started: time.Now(), exited: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		f.Close()
		close(c.exited)
	}()
	a.procs[name] = c
	return nil
}

func (a *Airflow) snapshot() map[string]*component {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]*component, len(a.procs))
	for k, v := range a.procs {
		out[k] = v
	}
	return out
}

func (c *component) done() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

func (c *component) exitedEarly() bool { return c.done() }

// stop sends SIGTERM to the whole process group, waits up to grace, then
// SIGKILLs the group. Leftover members of the group (a task process the
// leader did not wait for) are killed either way.
func (c *component) stop(grace time.Duration) error {
	pgid := c.cmd.Process.Pid
	defer func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) }()
	if c.done() {
		return nil
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-c.exited:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.exited
		return fmt.Errorf("still running %s after SIGTERM; killed it", grace)
	}
}

func (c *component) tail(n int) string {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return err.Error()
	}
	return tail(string(b), n)
}

// ComponentLog returns the captured output of a component so far.
func (a *Airflow) ComponentLog(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(a.Home, name+".log"))
	return string(b), err
}

// StopTriggerer stops the triggerer (SIGTERM, then SIGKILL after 30s), as an
// outage would; deferred tasks then wait. StartTriggerer brings it back.
func (a *Airflow) StopTriggerer() error {
	a.mu.Lock()
	c, ok := a.procs["triggerer"]
	delete(a.procs, "triggerer")
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("no triggerer running")
	}
	return c.stop(30 * time.Second)
}

// StartTriggerer starts a triggerer again after StopTriggerer.
func (a *Airflow) StartTriggerer() error { return a.startComponent("triggerer") }

// Running reports the components whose process is alive.
func (a *Airflow) Running() []string {
	var names []string
	for name, c := range a.snapshot() {
		if !c.done() {
			names = append(names, name)
		}
	}
	return names
}

// describe is for failure messages: each component's last lines.
func (a *Airflow) describe(n int) string {
	var b strings.Builder
	for name, c := range a.snapshot() {
		fmt.Fprintf(&b, "--- %s (last %d lines)\n%s\n", name, n, c.tail(n))
	}
	return b.String()
}

// RestartTriggerer starts a triggerer again after StopTriggerer and waits
// (up to 2 minutes) until its job is in the database, started after the
// restart, and no trigger is left that no task instance waits for. The
// latter matters on SQLite: a trigger whose task was marked failed or
// cleared while the triggerer was down is run once more by the returning
// triggerer until its cleanup deletes the row, and SQLite hands the freed id
// to the next trigger created; the old trigger's event then resumes that new
// task (seen: a deferred task started right after a restart failed with the
// previous task's pod in its log).
func (a *Airflow) RestartTriggerer(ctx context.Context) error {
	since := time.Now().Add(-time.Second)
	if err := a.StartTriggerer(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		if up, err := a.triggererSince(ctx, since); err == nil && up {
			rows, err := a.Query(ctx, `SELECT count(*) FROM trigger WHERE id NOT IN
				(SELECT trigger_id FROM task_instance WHERE state = 'deferred' AND trigger_id IS NOT NULL)`)
			if err == nil && len(rows) == 1 && toInt(rows[0][0]) == 0 {
				// One more triggerer loop to cancel what it still ran of them.
				time.Sleep(3 * time.Second)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("triggerer not back, or orphan triggers left, since %s: %w\n%s", since, ctx.Err(), a.describe(15))
		case <-time.After(time.Second):
		}
	}
}

// triggererSince says whether a running triggerer job started after since.
func (a *Airflow) triggererSince(ctx context.Context, since time.Time) (bool, error) {
	rows, err := a.Query(ctx, "SELECT start_date FROM job WHERE job_type = 'TriggererJob' AND state = 'running'")
	if err != nil {
		return false, err
	}
	for _, r := range rows {
		if started, err := parseTime(r[0]); err == nil && started.After(since) {
			return true, nil
		}
	}
	return false, nil
}
