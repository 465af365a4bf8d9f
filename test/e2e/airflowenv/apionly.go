package airflowenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// StartAPIServer prepares a fresh AIRFLOW_HOME as Start does, serializes the
// DAGs of o.DAGsFolder into the database (`airflow dags reserialize`) and
// runs the api-server alone: no scheduler, dag-processor or triggerer, so
// nothing changes the DAG runs and task instances a caller writes (a
// benchmark of the public API, test/perf/trycheck). Airflow 3 only (Airflow
// 2 serves its API from the webserver). Stop ends it.
func StartAPIServer(ctx context.Context, o Options) (_ *Airflow, err error) {
	a, err := prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	o = a.opts
	defer func() {
		if err != nil {
			_ = a.Stop()
		}
	}()
	if a.Major < 3 {
		return nil, fmt.Errorf("StartAPIServer runs Airflow 3's api-server; %s has none", a.Version)
	}
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	start := time.Now()
	if out, err := a.CLI(ctx, "db", "migrate"); err != nil {
		return nil, fmt.Errorf("airflow db migrate: %w\n%s", err, tail(out, 30))
	}
	if out, err := a.CLI(ctx, "dags", "reserialize"); err != nil {
		return nil, fmt.Errorf("airflow dags reserialize: %w\n%s", err, tail(out, 30))
	}
	fmt.Fprintf(o.Log, "airflowenv: %s: db migrate and dags reserialize took %s\n", a.Version, time.Since(start).Round(time.Second))
	if err := a.startComponent("api-server"); err != nil {
		return nil, err
	}
	for !a.apiUp(ctx) {
		if c := a.snapshot()["api-server"]; c != nil && c.done() {
			return nil, fmt.Errorf("api-server exited at start:\n%s", c.tail(30))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("api-server not up on port %d: %w", a.APIPort, ctx.Err())
		case <-time.After(time.Second):
		}
	}
	fmt.Fprintf(o.Log, "airflowenv: %s api-server up after %s\n", a.Version, time.Since(start).Round(time.Second))
	return a, nil
}

// ProcessGroup returns the process group of a running component (its
// leader's pid: each component runs in a group of its own, with whatever it
// forks), for reading its CPU time from /proc.
func (a *Airflow) ProcessGroup(name string) (int, error) {
	c := a.snapshot()[name]
	if c == nil || c.done() {
		return 0, fmt.Errorf("%s is not running", name)
	}
	return c.cmd.Process.Pid, nil
}

// Python runs script with the venv's Python in this Airflow's environment
// (AIRFLOW_HOME, its database and configuration), stdin as its standard
// input and args as sys.argv[1:]; it returns the standard output (the
// standard error is in the error).
func (a *Airflow) Python(ctx context.Context, script, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, a.bin("python"), append([]string{"-c", script}, args...)...)
	cmd.Env = append(os.Environ(), a.env...)
	cmd.Dir = a.Home
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = testenv.ChildProcAttr(true)
	cmd.WaitDelay = 10 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("python: %w\n%s", err, tail(stderr.String(), 30))
	}
	return string(out), nil
}
