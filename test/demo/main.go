// Command demo shows what airflow-pod-deadline does, on a laptop, in ~35 s
// once built: it starts a throwaway cluster on 127.0.0.1 (etcd, kube-apiserver,
// kube-scheduler, kube-controller-manager and two hollow nodes: real
// kubelets over a fake container runtime), runs the real airflow-pod-deadline
// binary against it (admission webhook + sweeper), and plays five short
// scenes with kubectl, printing each command and its
// output. Every scene's expectation is checked: the exit status is 0 only if
// all hold. Whatever happens (success, failure, Ctrl-C), everything the demo
// started is stopped and its scratch directory removed.
//
// `make demo` builds the binaries it needs and runs it; `go run ./test/demo
// -binary=path/to/airflow-pod-deadline` runs it with another build.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// scenes is the number of scenes, for the "n/5" headings.
const scenes = 5

// demo is the state shared by the setup, the scenes and the cleanup.
type demo struct {
	out         io.Writer
	root        string // repository root
	tmp         string // scratch directory, removed at the end
	keep        bool   // unless this is set
	kubectlPath string
	kubeconfig  string
	client      client.Client // for the checks behind each scene
	app         *testenv.Proc // the airflow-pod-deadline binary
	metricsURL  string

	// The first scene's pod, which the last scene watches being swept.
	pod      string
	deadline time.Time

	passed   []string  // one line per scene, for the summary
	cleanups []cleanup // run in reverse order at the end
}

type cleanup struct {
	done string // printed once fn succeeded
	fn   func() error
}

func main() {
	os.Exit(run())
}

// run returns the exit status; it is separate from main so that every
// deferred cleanup has run before the process exits.
func run() int {
	binary := flag.String("binary", "", "airflow-pod-deadline binary to run (default: bin/airflow-pod-deadline in the repository, as `make build` writes it)")
	keep := flag.Bool("keep", false, "keep the scratch directory (logs, kubeconfig, certificates) for inspection; processes are stopped all the same")
	flag.Parse()

	// Ctrl-C and SIGTERM cancel ctx: every wait and kubectl command returns
	// at once and the cleanups stop what was started. Further signals are
	// ignored until then, so an impatient second Ctrl-C cannot orphan
	// kube-apiserver or etcd.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	d := &demo{out: os.Stdout, keep: *keep}
	err := d.play(ctx, *binary)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(d.out, "\nInterrupted.")
	case err != nil:
		d.reportFailure(err)
	default:
		d.summary()
	}
	cleanupErr := d.cleanUp()

	elapsed := time.Since(start).Round(time.Second)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(os.Stderr, "demo interrupted after %s\n", elapsed)
		return 130
	case err != nil:
		fmt.Fprintf(os.Stderr, "demo FAILED after %s: %v\n", elapsed, err)
		return 1
	case cleanupErr != nil:
		fmt.Fprintf(os.Stderr, "demo FAILED while cleaning up: %v\n", cleanupErr)
		return 1
	}
	fmt.Fprintf(d.out, "\ndemo passed in %s\n", elapsed)
	return 0
}

// play sets everything up and runs the scenes, stopping at the first one whose
// expectation does not hold (the later scenes build on the earlier ones).
func (d *demo) play(ctx context.Context, binary string) error {
	if err := d.setUp(ctx, binary); err != nil {
		return fmt.Errorf("setting up: %w", err)
	}
	for i, scene := range []func(context.Context) error{
		d.admitKPOPod,
		d.refuseLatePod,
		d.refuseMalformedAnnotation,
		d.kubeletStopsRunningPod,
		d.sweepPendingPod,
	} {
		if err := scene(ctx); err != nil {
			return fmt.Errorf("scene %d: %w", i+1, err)
		}
	}
	return nil
}

// setUp starts the control plane and the binary and registers the webhooks,
// saying briefly what each step did.
func (d *demo) setUp(ctx context.Context, binary string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	d.root = root
	bin := filepath.Join(root, "bin")
	if binary == "" {
		binary = filepath.Join(bin, "airflow-pod-deadline")
	}
	d.kubectlPath = filepath.Join(bin, "kubectl")
	for _, b := range []string{filepath.Join(bin, "etcd"), filepath.Join(bin, "kube-apiserver"), filepath.Join(bin, "kube-scheduler"),
		filepath.Join(bin, "kube-controller-manager"), filepath.Join(bin, "hollow-node"), d.kubectlPath, binary} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%s is missing: run `make demo`, which builds it", b)
		}
	}

	if d.tmp, err = os.MkdirTemp("", "airflow-pod-deadline-demo-"); err != nil {
		return err
	}
	if d.keep {
		d.onExit("kept "+d.tmp, func() error { return nil })
	} else {
		d.onExit("removed "+d.tmp, func() error { return os.RemoveAll(d.tmp) })
	}
	d.kubeconfig = d.path("kubeconfig")

	fmt.Fprintln(d.out, "airflow-pod-deadline demo: a local Kubernetes cluster, the real binary, five short scenes.")
	if d.keep {
		fmt.Fprintf(d.out, "Scratch directory %s (kept: -keep).\n", d.tmp)
	} else {
		fmt.Fprintf(d.out, "Scratch directory %s (removed at the end).\n", d.tmp)
	}
	fmt.Fprintln(d.out, "\n== Setting up")

	if err := d.startControlPlane(ctx); err != nil {
		return err
	}
	if err := d.startBinary(ctx, binary); err != nil {
		return err
	}
	d.say("", "kubectl below is bin/kubectl with KUBECONFIG="+d.kubeconfig)
	return nil
}

// path names a file in the scratch directory.
func (d *demo) path(name string) string {
	return filepath.Join(d.tmp, name)
}

// onExit registers fn to run at the end, in reverse order of registration
// (the binary stops before the API server it talks to, the scratch directory
// goes last).
func (d *demo) onExit(done string, fn func() error) {
	d.cleanups = append(d.cleanups, cleanup{done: done, fn: fn})
}

// cleanUp runs every cleanup, even after one failed, and reports each.
func (d *demo) cleanUp() error {
	if len(d.cleanups) == 0 {
		return nil
	}
	fmt.Fprintln(d.out, "\n== Cleaning up")
	var errs []error
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		c := d.cleanups[i]
		started := time.Now()
		if err := c.fn(); err != nil {
			d.say("FAILED: " + err.Error())
			errs = append(errs, err)
			continue
		}
		d.say(fmt.Sprintf("%s (%s)", c.done, since(started)))
	}
	d.cleanups = nil
	return errors.Join(errs...)
}

func (d *demo) summary() {
	fmt.Fprintln(d.out, "\n== Summary: every expectation held")
	for i, line := range d.passed {
		d.say(fmt.Sprintf("ok %d. %s", i+1, line))
	}
}

// reportFailure says what went wrong and shows the end of the binary's log
// (the scratch directory, and the log with it, is about to be removed).
func (d *demo) reportFailure(err error) {
	fmt.Fprintf(d.out, "\nFAILED: %v\n", err)
	if d.app != nil {
		fmt.Fprintf(d.out, "Last lines of the airflow-pod-deadline log (%s):\n%s\n", d.app.Log, d.app.Tail(40))
	}
}

// repoRoot finds the repository from the working directory (make and go run
// start in it; a subdirectory works too).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "cmd", "airflow-pod-deadline")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the demo from the airflow-pod-deadline repository (make demo)")
		}
		dir = parent
	}
}
