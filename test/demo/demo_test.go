package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// TestDemo runs the program behind `make demo` (this package) end to end, as
// a user runs it, so the story the README promises cannot rot. The demo starts
// its own cluster (etcd, kube-apiserver, kube-scheduler,
// kube-controller-manager, two hollow nodes) and needs nothing else, so it
// lives beside the program, in a package whose tests start nothing of their
// own: it neither waits for another package's control plane nor adds one.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 40 seconds")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	dir := t.TempDir()
	binary := filepath.Join(dir, "airflow-pod-deadline")
	require.NoError(t, testenv.BuildBinary(root, binary))
	demo := filepath.Join(dir, "demo")
	require.NoError(t, testenv.BuildCommand(root, "./test/demo", demo), "building the demo")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, demo, "-binary="+binary)
	cmd.Dir = root
	// On timeout the demo gets SIGTERM, as from Ctrl-C, and stops what it started.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	t.Logf("demo output (%s):\n%s", elapsed.Round(time.Second), output.String())
	require.NoError(t, err, "the demo failed")

	for what, pattern := range map[string]string{
		"admission warning":      `(?m)^Warning: airflow-pod-deadline: activeDeadlineSeconds 3600 -> \d+ to fit execution deadline `,
		"clamped pod":            `(?m)^  activeDeadlineSeconds: (21|20|1\d|\d)$`,
		"kubelet stop":           `(?m)^runs-too-long-\S+\s+Failed\s+DeadlineExceeded\s`,
		"lowered at start":       `ActiveDeadlineClamped\s.*Lowered activeDeadlineSeconds \d+ -> \d+ so the kubelet stops the pod at its execution deadline`,
		"late pod refused":       `denied the request: execution deadline \S+ passed \S+ ago; the task has exceeded its execution_timeout`,
		"malformed refused":      `denied the request: .*airflow-pod-deadline\.io/execution-timeout.*"half an hour".*accepted forms`,
		"audit event":            `Warning\s+ExecutionDeadlineExceeded\s+pod/run-long-pod-\S+\s+Deleted: .*\(dag_id=kpo_execution_timeout_demo task_id=run_long_pod .*try_number=1\)`,
		"sweeper metric":         `(?m)^airflow_pod_deadline_sweeper_actions_total\{action="deleted"\} 1$`,
		"binary stopped cleanly": `stopped airflow-pod-deadline with SIGTERM, clean exit`,
		"cluster stopped":        `stopped the nodes, kube-scheduler, kube-controller-manager, kube-apiserver and etcd`,
		"scratch directory gone": `removed \S+airflow-pod-deadline-demo-\S+`,
		"final verdict":          `demo passed in `,
		"summary":                `ok 5\. Pending pod deleted by the sweeper`,
	} {
		assert.Regexp(t, regexp.MustCompile(pattern), output.String(), what)
	}
	if dir := regexp.MustCompile(`Scratch directory (\S+) `).FindStringSubmatch(output.String()); assert.NotNil(t, dir) {
		assert.NoDirExists(t, dir[1], "the demo must remove its scratch directory")
	}
	// How long it took is reported, not asserted: machines are noisy. The
	// 3-minute context above only keeps a hung demo from hanging CI.
}
