package airflowenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// Airflow is one running Airflow installation.
type Airflow struct {
	// Home is AIRFLOW_HOME; component logs are Home/<component>.log, task logs
	// under Home/logs.
	Home string
	// DB is the SQLite metadata database.
	DB string
	// Version is Airflow's version ("3.3.2"); Major its first number.
	Version string
	Major   int
	// Provider is the cncf-kubernetes provider's version.
	Provider string
	// APIPort is the Airflow 3 api-server's port on 127.0.0.1 (unused on 2).
	APIPort int

	webPort  int // Airflow 2's webserver (StartAPI)
	readPort int // Airflow 3's public-API-only api-server (StartReadAPI)

	opts    Options
	secret  string
	env     []string
	tempDir bool

	mu    sync.Mutex
	procs map[string]*component
}

// Start prepares a fresh AIRFLOW_HOME and starts every component, returning
// once all of them are up. On error everything started is stopped again.
func Start(ctx context.Context, o Options) (_ *Airflow, err error) {
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

	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	start := time.Now()
	if out, err := a.CLI(ctx, "db", "migrate"); err != nil {
		return nil, fmt.Errorf("airflow db migrate: %w\n%s", err, tail(out, 30))
	}
	fmt.Fprintf(o.Log, "airflowenv: %s (cncf-kubernetes %s): db migrate took %s\n", a.Version, a.Provider, time.Since(start).Round(time.Second))
	for _, name := range a.Components() {
		if err := a.startComponent(name); err != nil {
			return nil, err
		}
	}
	if err := a.waitUp(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "airflowenv: %s components %v up after %s\n", a.Version, a.Components(), time.Since(start).Round(time.Second))
	return a, nil
}

// Components lists the processes this Airflow major runs.
func (a *Airflow) Components() []string {
	if a.Major >= 3 {
		return []string{"api-server", "scheduler", "dag-processor", "triggerer"}
	}
	return []string{"scheduler", "triggerer"}
}

// args is the command line of one component. The log servers are skipped:
// they would listen on every interface, and logs are read from files.
func (a *Airflow) args(name string) []string {
	switch name {
	case "api-server":
		return []string{"api-server", "--host", "127.0.0.1", "--port", strconv.Itoa(a.APIPort), "--workers", "1"}
	case readAPI:
		return []string{"api-server", "--host", "127.0.0.1", "--port", strconv.Itoa(a.readPort), "--workers", "1", "--apps", "core"}
	case "scheduler", "triggerer":
		return []string{name, "--skip-serve-logs"}
	default:
		return []string{name}
	}
}

// Stop ends every component (SIGTERM to its process group, then SIGKILL)
// and removes a temporary home. It returns the first error met.
func (a *Airflow) Stop() error {
	a.mu.Lock()
	procs := a.procs
	a.procs = map[string]*component{}
	a.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	var emu sync.Mutex
	for name, c := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.stop(30 * time.Second); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	if a.tempDir {
		if err := os.RemoveAll(a.Home); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CLI runs `airflow args...` in this home and returns its combined output.
func (a *Airflow) CLI(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, a.bin("airflow"), args...)
	cmd.Env = append(os.Environ(), a.env...)
	cmd.Dir = a.Home
	cmd.SysProcAttr = testenv.ChildProcAttr(true)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (a *Airflow) bin(name string) string { return filepath.Join(a.opts.Venv, "bin", name) }

func (a *Airflow) readVersions(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, a.bin("python"), "-c",
		"import importlib.metadata as m; print(m.version('apache-airflow'), m.version('apache-airflow-providers-cncf-kubernetes'))")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("reading versions from %s: %w", a.opts.Venv, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return fmt.Errorf("reading versions from %s: %q", a.opts.Venv, out)
	}
	a.Version, a.Provider = f[0], f[1]
	a.Major, err = strconv.Atoi(strings.SplitN(a.Version, ".", 2)[0])
	return err
}

// waitUp waits until every component has a running job with a fresh
// heartbeat in the database (and, on Airflow 3, the api-server answers).
func (a *Airflow) waitUp(ctx context.Context) error {
	want := []string{"SchedulerJob", "TriggererJob"}
	if a.Major >= 3 {
		want = append(want, "DagProcessorJob")
	}
	for {
		missing, err := a.missingJobs(ctx, want)
		if err == nil && len(missing) == 0 && (a.Major < 3 || a.apiUp(ctx)) {
			return nil
		}
		for name, c := range a.snapshot() {
			if c.exitedEarly() {
				return fmt.Errorf("%s exited at start:\n%s", name, c.tail(30))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("airflow not up (missing %v, err %v): %w", missing, err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func (a *Airflow) apiUp(ctx context.Context) bool {
	_, err := testenv.HTTPGet(ctx, fmt.Sprintf("http://127.0.0.1:%d/api/v2/version", a.APIPort))
	return err == nil
}

func (a *Airflow) missingJobs(ctx context.Context, want []string) ([]string, error) {
	rows, err := a.Query(ctx,
		"SELECT job_type FROM job WHERE state = 'running' AND latest_heartbeat > datetime('now', '-30 seconds')")
	if err != nil {
		return want, err
	}
	have := map[string]bool{}
	for _, r := range rows {
		have[fmt.Sprint(r[0])] = true
	}
	var missing []string
	for _, w := range want {
		if !have[w] {
			missing = append(missing, w)
		}
	}
	return missing, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// prepare makes a fresh AIRFLOW_HOME (o.Dir, or a temporary one), picks the
// API port and the JWT secret and reads the venv's versions: what Start and
// StartAPIServer share. On error everything it made is removed again.
func prepare(ctx context.Context, o Options) (_ *Airflow, err error) {
	o.defaults()
	for _, p := range []*string{&o.Venv, &o.Kubeconfig, &o.DAGsFolder} {
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, err
		}
		if _, err := os.Stat(*p); err != nil {
			return nil, err
		}
	}
	a := &Airflow{opts: o, procs: map[string]*component{}}
	if a.Home = o.Dir; a.Home == "" {
		if a.Home, err = os.MkdirTemp("", "apd-airflow-"); err != nil {
			return nil, err
		}
		a.tempDir = true
	} else if err = os.MkdirAll(a.Home, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = a.Stop()
		}
	}()
	a.DB = filepath.Join(a.Home, "airflow.db")
	if a.APIPort, err = testenv.FreePort(); err != nil {
		return nil, err
	}
	buf := make([]byte, 16)
	if _, err = rand.Read(buf); err != nil {
		return nil, err
	}
	a.secret = hex.EncodeToString(buf)
	if err = a.readVersions(ctx); err != nil {
		return nil, err
	}
	if a.env, err = a.environment(); err != nil {
		return nil, err
	}
	return a, nil
}
