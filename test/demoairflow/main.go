package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

const (
	// The upstream reproduction (test/e2e/airflow/dags), copied verbatim.
	seedFile = "kpo_deferrable_execution_timeout_repro.py"
	seedDAG  = "kpo_deferrable_execution_timeout_repro"
	seedTask = "run_long_pod"

	deadlineKey = "airflow-pod-deadline.io/execution-deadline"
	namespace   = "default"
)

var terminal = map[string]bool{"success": true, "failed": true, "up_for_retry": true, "upstream_failed": true, "skipped": true}

func main() { os.Exit(run()) }

func run() int {
	venv := flag.String("venv", "af3.3.2-k8s10.17.1", "Airflow venv under bin/venvs (make airflow-venvs)")
	binary := flag.String("binary", "", "airflow-pod-deadline binary (default: bin/airflow-pod-deadline, as make build writes it)")
	watch := flag.Duration("watch", 60*time.Second, "how long past the deadline to watch the run without airflow-pod-deadline")
	keep := flag.Bool("keep", false, "keep the scratch directory (logs, AIRFLOW_HOME) for inspection")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	d := &demo{out: os.Stdout, watch: *watch}
	err := d.play(ctx, *venv, *binary)
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		if cerr := d.cleanups[i](); cerr != nil {
			fmt.Fprintln(os.Stderr, "cleanup:", cerr)
		}
	}
	if d.tmp != "" {
		if *keep {
			fmt.Fprintf(d.out, "\nkept %s (logs, AIRFLOW_HOME)\n", d.tmp)
		} else {
			_ = os.RemoveAll(d.tmp)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo-airflow failed after %s: %v\n", time.Since(start).Round(time.Second), err)
		if d.tmp != "" && !*keep {
			fmt.Fprintln(os.Stderr, "(rerun with -keep to keep the logs)")
		}
		return 1
	}
	fmt.Fprintf(d.out, "\ndemo-airflow done in %s\n", time.Since(start).Round(time.Second))
	return 0
}

type demo struct {
	out      io.Writer
	watch    time.Duration
	root     string
	tmp      string
	cluster  *testenv.Cluster
	c        client.Client
	airflow  *airflowenv.Airflow
	cleanups []func() error
}

// outcome is what one run came to, for the side-by-side ending.
type outcome struct {
	title    string
	state    string        // the task's state when we stopped watching
	stateAt  time.Duration // when it was first seen, from the deadline
	pod      string        // the pod's last phase/reason, or "gone"
	podAt    time.Duration
	stopAt   time.Duration // when the pod was first seen stopped
	stopHow  string
	ended    bool // the task reached a final state
	stopped  bool // the pod stopped running (Failed, Succeeded, gone)
	logLine  string
	events   []string
	deadline time.Time
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) play(ctx context.Context, venv, binary string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	d.root = wd
	if binary == "" {
		binary = filepath.Join(d.root, "bin", "airflow-pod-deadline")
	}
	venvDir := filepath.Join(d.root, "bin", "venvs", venv)
	if _, err := os.Stat(filepath.Join(venvDir, "bin", "airflow")); err != nil {
		return fmt.Errorf("%s has no Airflow: run ./test/e2e/airflow/venvs.sh %s (make demo-airflow does)", venvDir, venv)
	}
	if d.tmp, err = os.MkdirTemp("", "apd-demo-airflow-"); err != nil {
		return err
	}
	dags := filepath.Join(d.tmp, "dags")
	if err := os.MkdirAll(dags, 0o755); err != nil {
		return err
	}
	seed, err := os.ReadFile(filepath.Join(d.root, "test", "e2e", "airflow", "dags", seedFile))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dags, seedFile), seed, 0o644); err != nil {
		return err
	}

	d.say("== Setting up: a local cluster with one node, and real Airflow (%s)", venv)
	log, err := os.Create(filepath.Join(d.tmp, "cluster.log"))
	if err != nil {
		return err
	}
	d.cleanups = append(d.cleanups, log.Close)
	t0 := time.Now()
	d.cluster, err = testenv.StartCluster(ctx, filepath.Join(d.root, "bin"), testenv.ClusterOptions{
		Options: testenv.Options{Dir: d.tmp, Log: log}, Nodes: 1,
	})
	if err != nil {
		return fmt.Errorf("starting the cluster: %w", err)
	}
	d.cleanups = append(d.cleanups, d.cluster.Stop)
	d.c = d.cluster.Client
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: namespace}}
	if err := d.c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	d.say("   cluster up in %s (etcd, kube-apiserver, scheduler, controller-manager, 1 hollow node)", time.Since(t0).Round(time.Second))

	t0 = time.Now()
	airflowLog, err := os.Create(filepath.Join(d.tmp, "airflow.log"))
	if err != nil {
		return err
	}
	d.cleanups = append(d.cleanups, airflowLog.Close)
	d.airflow, err = airflowenv.Start(ctx, airflowenv.Options{
		Venv: venvDir, Kubeconfig: d.cluster.Kubeconfig, DAGsFolder: dags,
		Dir: filepath.Join(d.tmp, "airflow"), Log: airflowLog,
	})
	if err != nil {
		return fmt.Errorf("starting Airflow: %w", err)
	}
	d.cleanups = append(d.cleanups, d.airflow.Stop)
	d.say("   Airflow %s with cncf-kubernetes %s up in %s (%s; LocalExecutor, SQLite)",
		d.airflow.Version, d.airflow.Provider, time.Since(t0).Round(time.Second), strings.Join(d.airflow.Components(), ", "))
	d.say("   the DAG: the upstream reproduction, verbatim: a deferrable KubernetesPodOperator,")
	d.say("   execution_timeout=30s, whose pod runs `sleep 1800`. The policy package (installed from")
	d.say("   the wheel) stamps the pod with the task's deadline, start_date + execution_timeout.")

	without, err := d.runOnce(ctx, "1/2 without airflow-pod-deadline", false)
	if err != nil {
		return err
	}
	// What the first run left: its pod, still running past its deadline.
	if err := d.c.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(namespace), client.GracePeriodSeconds(0)); err != nil {
		return err
	}
	d.say("   (the leftover pod deleted by hand before the second run)")

	en, err := testenv.StartEnforcer(ctx, d.c, binary, d.cluster.Kubeconfig, filepath.Join(d.tmp, "enforcer"),
		filepath.Join(d.root, "manifests", "install.yaml"))
	if err != nil {
		return fmt.Errorf("starting airflow-pod-deadline: %w", err)
	}
	d.cleanups = append(d.cleanups, func() error { return en.Stop(15 * time.Second) })
	with, err := d.runOnce(ctx, "2/2 with airflow-pod-deadline (the real binary, the chart's webhooks)", true)
	if err != nil {
		return err
	}

	d.say("\n== Side by side (times from the task's deadline)")
	d.say("   %-34s | %s", "without airflow-pod-deadline", "with airflow-pod-deadline")
	d.say("   %-34s | %s", without.taskLine(), with.taskLine())
	d.say("   %-34s | %s", without.podLine(), with.podLine())
	if !with.ended || with.state != "failed" || !with.stopped {
		return errors.New("with airflow-pod-deadline the task did not end FAILED with its pod stopped")
	}
	return nil
}

func (o outcome) taskLine() string {
	if o.ended {
		return fmt.Sprintf("task %s at %+.1fs", strings.ToUpper(o.state), o.stateAt.Seconds())
	}
	return fmt.Sprintf("task still %s at %+.0fs", strings.ToUpper(o.state), o.stateAt.Seconds())
}

func (o outcome) podLine() string {
	if o.stopped {
		line := fmt.Sprintf("pod %s at %+.1fs", o.stopHow, o.stopAt.Seconds())
		if o.pod == "gone" && o.stopHow != "gone" {
			line += fmt.Sprintf(", gone at %+.1fs", o.podAt.Seconds())
		}
		return line
	}
	return fmt.Sprintf("pod still %s at %+.0fs", o.pod, o.podAt.Seconds())
}

// runOnce triggers the DAG and narrates the task and its pod until the task
// ends and its pod stops (with us), or until watch past the deadline
// (without).
func (d *demo) runOnce(ctx context.Context, title string, with bool) (outcome, error) {
	d.say("\n== %s", title)
	runID, err := d.airflow.Trigger(ctx, seedDAG)
	if err != nil {
		return outcome{}, err
	}
	d.say("   $ airflow dags trigger %s   (run %s)", seedDAG, runID)
	o := outcome{title: title}
	triggered := time.Now()
	var deadline time.Time
	lastState, lastPod, podName := "-", "-", ""
	rel := func(at time.Time) string {
		if deadline.IsZero() {
			return fmt.Sprintf("trigger%+6.1fs ", at.Sub(triggered).Seconds())
		}
		return fmt.Sprintf("deadline%+6.1fs", at.Sub(deadline).Seconds())
	}
	limit := 4 * time.Minute
	for {
		if ctx.Err() != nil {
			return o, ctx.Err()
		}
		now := time.Now()
		ti, err := d.airflow.TaskInstance(ctx, seedDAG, runID, seedTask, -1)
		if err == nil && ti.State != "" && ti.State != lastState {
			d.say("   %s  task  %s", rel(now), strings.ToUpper(ti.State))
			lastState, o.state = ti.State, ti.State
			o.stateAt = now.Sub(deadline)
			if deadline.IsZero() {
				o.stateAt = 0
			}
		}
		var pods corev1.PodList
		if err := d.c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{"run_id": runID}); err == nil {
			desc := "gone"
			if len(pods.Items) > 0 {
				p := pods.Items[0]
				podName = p.Name
				desc = describe(&p)
				if deadline.IsZero() {
					if dl, err := time.Parse(time.RFC3339Nano, p.Annotations[deadlineKey]); err == nil {
						deadline = dl
						o.deadline = dl
						ads := "unset"
						if p.Spec.ActiveDeadlineSeconds != nil {
							ads = fmt.Sprint(*p.Spec.ActiveDeadlineSeconds)
						}
						d.say("   %s  pod   %s created: %s=%s, activeDeadlineSeconds %s", rel(now), p.Name, deadlineKey, p.Annotations[deadlineKey], ads)
					}
				}
			} else if podName == "" {
				desc = "-"
			}
			if desc != lastPod {
				if desc != "-" {
					d.say("   %s  pod   %s", rel(now), desc)
				}
				lastPod = desc
				o.pod = desc
				o.podAt = now.Sub(deadline)
			}
		}
		o.ended = terminal[lastState]
		if podName != "" && !o.stopped && (lastPod == "gone" || strings.HasPrefix(lastPod, "Failed") || strings.HasPrefix(lastPod, "Succeeded")) {
			o.stopped, o.stopAt, o.stopHow = true, now.Sub(deadline), lastPod
		}
		if !deadline.IsZero() {
			if with && o.ended && o.stopped {
				break
			}
			if !with && (now.After(deadline.Add(d.watch)) || (o.ended && o.stopped)) {
				o.stateAt, o.podAt = now.Sub(deadline), now.Sub(deadline)
				if o.ended {
					o.stateAt = ti.End.Sub(deadline)
				}
				break
			}
		}
		if now.Sub(triggered) > limit {
			if with {
				return o, fmt.Errorf("%s: task %s, pod %s after %s", title, lastState, lastPod, limit)
			}
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if o.ended {
		if ti, err := d.airflow.TaskInstance(ctx, seedDAG, runID, seedTask, -1); err == nil && !ti.End.IsZero() {
			o.stateAt = ti.End.Sub(deadline)
		}
	}
	if podName != "" {
		var evs corev1.EventList
		if err := d.c.List(ctx, &evs, client.InNamespace(namespace)); err == nil {
			d.say("   events on the pod:")
			for _, ev := range evs.Items {
				if ev.InvolvedObject.Name == podName && shownEvents[ev.Reason] {
					line := fmt.Sprintf("%s %s: %s", ev.Type, ev.Reason, clip(ev.Message, 160))
					o.events = append(o.events, line)
					d.say("     %s", line)
				}
			}
			if len(o.events) == 0 {
				d.say("     (none from airflow-pod-deadline or about the pod stopping)")
			}
		}
	}
	if log, err := d.airflow.TaskLog(seedDAG, runID, seedTask, -1, 1); err == nil {
		if line := whyLine(log, o.ended); line != "" {
			o.logLine = line
			d.say("   the task log says: %s", line)
		}
	}
	return o, nil
}

func describe(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	if p.Status.Reason != "" {
		s += "/" + p.Status.Reason
	}
	if p.DeletionTimestamp != nil {
		s += " (deleting)"
	}
	return s
}

var (
	deferRE = regexp.MustCompile(`(?i)pausing task as deferred`)
	// ours are the sweeper's; the kubelet's say how the pod stopped.
	shownEvents = map[string]bool{"ActiveDeadlineClamped": true, "ExecutionDeadlineExceeded": true,
		"ExecutionDeadlineInvalid": true, "DeadlineExceeded": true, "Killing": true}
)

// whyLine is the task-log line that says why the task ended: the first
// error of the task's own log (attempt=1.log, not the triggerer's) other
// than the generic "Task failed with exception", else that one with its
// exception; still running, the line that says it waits. Airflow 3 writes
// JSON lines; their event is shown.
func whyLine(log string, ended bool) string {
	var generic, deferred string
	own := false
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "=== ") {
			own = !strings.Contains(line, ".trigger.")
			continue
		}
		if !own || line == "" {
			continue
		}
		var rec struct {
			Level       string `json:"level"`
			Event       string `json:"event"`
			ErrorDetail []struct {
				ExcType  string `json:"exc_type"`
				ExcValue string `json:"exc_value"`
			} `json:"error_detail"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Event == "" {
			continue
		}
		switch {
		case deferRE.MatchString(rec.Event):
			deferred = rec.Event
		case ended && rec.Level == "error" && rec.Event == "Task failed with exception":
			if generic == "" {
				generic = rec.Event
				if len(rec.ErrorDetail) > 0 {
					first, _, _ := strings.Cut(rec.ErrorDetail[0].ExcValue, "\n")
					generic += ": " + rec.ErrorDetail[0].ExcType + ": " + first
				}
			}
		case ended && rec.Level == "error":
			return clip(rec.Event, 200)
		}
	}
	if ended && generic != "" {
		return clip(generic, 200)
	}
	return strings.TrimSpace(deferred)
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
