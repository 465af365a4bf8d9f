package release

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// root is the repository root (this package is test/release).
var root = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Dir(filepath.Dir(wd))
}()

const chartPath = "manifests/chart/airflow-pod-deadline"

// tool is bin/NAME, failing the test (never skipping it) when it is missing.
func tool(t testing.TB, name, builtBy string) string {
	t.Helper()
	p := filepath.Join(root, "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("bin/%s missing: run `make %s` (make test does)", name, builtBy)
	}
	return p
}

// run runs a command from the repository root and returns its stdout; the
// error carries stderr.
func run(t testing.TB, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = &cmdError{cmd: name + " " + strings.Join(args, " "), err: err, stderr: stderr.String() + stdout.String()}
	}
	return stdout.String(), err
}

type cmdError struct {
	cmd, stderr string
	err         error
}

func (e *cmdError) Error() string { return e.cmd + ": " + e.err.Error() + "\n" + e.stderr }

// helmEnv isolates helm from the user's configuration, cache and registry
// logins.
func helmEnv(t testing.TB) []string {
	home := t.TempDir()
	return []string{
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"KUBECONFIG=" + filepath.Join(home, "no-cluster"),
	}
}
