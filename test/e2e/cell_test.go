package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/cellresult"
)

const deadlineKey = "airflow-pod-deadline.io/execution-deadline"

// terminal are the task states after which nothing more happens to a try.
var terminal = []string{"success", "failed", "up_for_retry", "upstream_failed", "skipped", "removed"}

// cell is one run of one DAG task in one env, and what was seen of it.
type cell struct {
	e                  *env
	name               string
	dag, task, runID   string
	mapIndex           int  // -1: not mapped
	try                int  // 0: whichever try runs; else only this try's pod and log
	anyTryPod          bool // watch the run's pod whatever its try_number label (a reattached pod)
	budget             time.Duration
	from               string // what report's times are relative to (cellresult.FromDeadline, FromTryEnd)
	logTry             int    // the try whose log report reads, when not c.try (a pod adopted by a later try)
	mu                 sync.Mutex
	states             []stamped[string] // each task state, when first seen
	pods               []stamped[string] // each change of the pod as seen (phase/reason/gone)
	podName            string
	podCreated         time.Time
	deadlineAnnotation string
	activeDeadline     *int64
	podGone            time.Time
	stopWatch          context.CancelFunc
	watchDone          chan struct{}
}

type stamped[T any] struct {
	At    time.Time
	Value T
}

// runCell triggers dag and watches its task and pod until the test reads
// them.
func runCell(t *testing.T, e *env, name, dag, task string, budget time.Duration) *cell {
	t.Helper()
	runID, err := e.airflow.Trigger(context.Background(), dag)
	require.NoError(t, err)
	t.Logf("%s: triggered %s run %s", name, dag, runID)
	return watchCell(t, e, name, dag, task, runID, -1, 0, budget)
}

// watchCell watches one task instance of an existing run: one map index
// (-1 when not mapped) and one try (0: any), and the pod KPO labels for it.
func watchCell(t *testing.T, e *env, name, dag, task, runID string, mapIndex, try int, budget time.Duration,
	opts ...func(*cell)) *cell {
	t.Helper()
	c := &cell{e: e, name: name, dag: dag, task: task, runID: runID, mapIndex: mapIndex, try: try, budget: budget,
		watchDone: make(chan struct{})}
	for _, o := range opts {
		o(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopWatch = cancel
	go c.watchPod(ctx)
	t.Cleanup(c.stop)
	return c
}

// anyTryPod makes a try's cell watch the run's pod whatever its try_number:
// KPO reattaches a try to an earlier try's pod that still runs
// (reattach_on_restart, the default).
func anyTryPod(c *cell) { c.anyTryPod = true }

// podLabels selects the cell's pod by the labels KPO puts on it.
func (c *cell) podLabels() client.MatchingLabels {
	l := client.MatchingLabels{"run_id": c.runID}
	if c.mapIndex >= 0 {
		l["map_index"] = fmt.Sprint(c.mapIndex)
	}
	if c.try > 0 && !c.anyTryPod {
		l["try_number"] = fmt.Sprint(c.try)
	}
	return l
}

func (c *cell) stop() {
	c.stopWatch()
	<-c.watchDone
}

// watchPod polls the run's pod (label run_id) every 200ms and records each
// change of phase, reason and deletion, and when it is gone.
func (c *cell) watchPod(ctx context.Context) {
	defer close(c.watchDone)
	last := ""
	for ctx.Err() == nil {
		var pods corev1.PodList
		err := c.e.client.List(ctx, &pods, client.InNamespace("default"), c.podLabels())
		now := time.Now()
		if err == nil {
			desc := "none"
			if len(pods.Items) > 0 {
				p := pods.Items[0]
				c.mu.Lock()
				c.podName = p.Name
				c.podCreated = p.CreationTimestamp.Time
				c.deadlineAnnotation = p.Annotations[deadlineKey]
				c.activeDeadline = p.Spec.ActiveDeadlineSeconds
				c.mu.Unlock()
				desc = describePod(&p)
			} else if last != "" && last != "none" {
				desc = "gone"
				c.mu.Lock()
				if c.podGone.IsZero() {
					c.podGone = now
				}
				c.mu.Unlock()
			}
			if desc != last {
				c.mu.Lock()
				c.pods = append(c.pods, stamped[string]{now, desc})
				c.mu.Unlock()
				last = desc
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func describePod(p *corev1.Pod) string {
	s := "phase=" + string(p.Status.Phase)
	if p.Status.Reason != "" {
		s += " reason=" + p.Status.Reason
	}
	if p.Spec.NodeName != "" {
		s += " node=" + p.Spec.NodeName
	}
	if p.DeletionTimestamp != nil {
		s += " deleting"
	}
	if l := p.Labels["already_checked"]; l != "" {
		s += " already_checked=" + l
	}
	return s
}

// observe records a task-instance reading (for WaitTaskState).
func (c *cell) observe(ti airflowenv.TaskInstance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.states); n == 0 || c.states[n-1].Value != ti.State {
		c.states = append(c.states, stamped[string]{time.Now(), ti.State})
	}
}

// waitStarted waits until the try has a start date.
func (c *cell) waitStarted(t *testing.T) airflowenv.TaskInstance {
	t.Helper()
	ti, err := c.wait([]string{"running", "deferred", "success", "failed", "up_for_retry"}, 4*time.Minute)
	require.NoError(t, err)
	require.False(t, ti.Start.IsZero(), "started task without start_date: %v", ti)
	return ti
}

// waitPod waits until the watcher has seen the run's pod.
func (c *cell) waitPod(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		name := c.podName
		c.mu.Unlock()
		if name != "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.FailNow(t, "no pod for the run", "run %s: %s", c.runID, c.e.airflow.Running())
}

// stateAt polls until instant and returns the task state then.
func (c *cell) stateAt(t *testing.T, instant time.Time) airflowenv.TaskInstance {
	t.Helper()
	for {
		ti, err := c.read()
		require.NoError(t, err)
		c.observe(ti)
		if !time.Now().Before(instant) {
			return ti
		}
		time.Sleep(min(500*time.Millisecond, time.Until(instant)))
	}
}

// waitEnd waits until the try is terminal (or timeout) and returns it; ok
// is false when it did not end in time.
func (c *cell) waitEnd(t *testing.T, timeout time.Duration) (airflowenv.TaskInstance, bool) {
	t.Helper()
	ti, err := c.wait(terminal, timeout)
	return ti, err == nil
}

// read returns the cell's task instance now (its try, when it has one).
func (c *cell) read() (airflowenv.TaskInstance, error) {
	if c.try > 0 {
		return c.e.airflow.Try(context.Background(), c.dag, c.runID, c.task, c.mapIndex, c.try)
	}
	return c.e.airflow.TaskInstance(context.Background(), c.dag, c.runID, c.task, c.mapIndex)
}

// wait polls until the cell's task instance (or try) is in one of states.
func (c *cell) wait(states []string, timeout time.Duration) (airflowenv.TaskInstance, error) {
	if c.try > 0 {
		return c.e.airflow.WaitTryState(context.Background(), c.dag, c.runID, c.task, c.mapIndex, c.try, states, timeout, c.observe)
	}
	return c.e.airflow.WaitTaskState(context.Background(), c.dag, c.runID, c.task, c.mapIndex, states, timeout, c.observe)
}

// report logs what the cell saw: states, pod changes, events, and the task
// log lines that explain the end; times are relative to ref, the pod's
// deadline or (c.from == cellresult.FromTryEnd) the try's end.
func (c *cell) report(t *testing.T, ref time.Time, ti airflowenv.TaskInstance) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	label := "deadline"
	if c.from == cellresult.FromTryEnd {
		label = "tryEnd"
	}
	rel := func(at time.Time) string { return fmt.Sprintf("%s%+.1fs", label, at.Sub(ref).Seconds()) }
	var b strings.Builder
	fmt.Fprintf(&b, "=== %s (%s, cncf-kubernetes %s): %s\n", c.name, c.e.airflow.Version, c.e.airflow.Provider, ti)
	fmt.Fprintf(&b, "%s %s; pod %s annotation %q activeDeadlineSeconds %v\n", label, ref.Format(time.RFC3339Nano),
		c.podName, c.deadlineAnnotation, deref(c.activeDeadline))
	for _, s := range c.states {
		fmt.Fprintf(&b, "  task %-12s at %s\n", s.Value, rel(s.At))
	}
	if !ti.End.IsZero() {
		fmt.Fprintf(&b, "  task end_date      at %s\n", rel(ti.End))
	}
	for _, p := range c.pods {
		fmt.Fprintf(&b, "  pod  %-40s at %s\n", p.Value, rel(p.At))
	}
	var events []string
	if c.podName != "" {
		var evs corev1.EventList
		if err := c.e.client.List(context.Background(), &evs, client.InNamespace("default")); err == nil {
			for _, ev := range evs.Items {
				if ev.InvolvedObject.Name == c.podName {
					events = append(events, fmt.Sprintf("%s %s: %s", ev.Type, ev.Reason, ev.Message))
					fmt.Fprintf(&b, "  event %s\n", events[len(events)-1])
				}
			}
		}
	}
	var lines []string
	try := c.try
	if c.logTry > 0 {
		try = c.logTry
	}
	if try == 0 {
		try = max(ti.TryNumber, 1)
	}
	if log, err := c.e.airflow.TaskLog(c.dag, c.runID, c.task, c.mapIndex, try); err == nil {
		lines = whyLines(log)
		b.WriteString("  task log (selected lines):\n")
		for _, line := range lines {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	} else {
		fmt.Fprintf(&b, "  task log: %v\n", err)
	}
	t.Log(b.String())
	c.save(t, ref, ti, events, lines)
}

// deadline is the pod's execution deadline: ref itself when the cell's
// times are relative to it, else the pod's annotation (zero if none); c.mu
// is held by the caller.
func (c *cell) deadline(ref time.Time) time.Time {
	if c.from == cellresult.FromDeadline {
		return ref
	}
	d, _ := time.Parse(time.RFC3339Nano, c.deadlineAnnotation)
	return d
}

var why = regexp.MustCompile(`(?i)(error|exception|timeout|timed out|deadline|fail|success|not found|deleted|` +
	`pending|trigger|defer|terminat|marking|pod .*(phase|status)|container|already_checked|reason|return code|signal)`)

// whyLines picks the task-log lines that say what happened, without the
// framework noise. Airflow 3 writes JSON lines (structlog): each is shown as
// "timestamp level event" plus the first line of each exception in its
// error_detail; Airflow 2's plain lines are kept as they are.
func whyLines(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "=== ") {
			out = append(out, line)
			continue
		}
		if line == "" || !why.MatchString(line) {
			continue
		}
		var rec struct {
			Timestamp   string `json:"timestamp"`
			Level       string `json:"level"`
			Event       string `json:"event"`
			ErrorDetail []struct {
				ExcType  string `json:"exc_type"`
				ExcValue string `json:"exc_value"`
			} `json:"error_detail"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Event != "" {
			if !why.MatchString(rec.Event) && rec.Level == "info" {
				continue
			}
			line = fmt.Sprintf("%s %s %s", rec.Timestamp, rec.Level, clip(rec.Event, 300))
			for _, d := range rec.ErrorDetail {
				first, _, _ := strings.Cut(d.ExcValue, "\n")
				line += fmt.Sprintf("\n      %s: %s", d.ExcType, clip(first, 300))
			}
		} else {
			line = clip(line, 400)
		}
		out = append(out, line)
	}
	if len(out) > 60 {
		out = append(out[:30], append([]string{"…"}, out[len(out)-30:]...)...)
	}
	return out
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func deref(p *int64) any {
	if p == nil {
		return "unset"
	}
	return *p
}

// podGoneAt returns when the pod disappeared (zero if it did not).
func (c *cell) podGoneAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.podGone
}

// podGetErr reports whether the cell's pod still exists.
func (c *cell) podExists(t *testing.T) bool {
	t.Helper()
	c.mu.Lock()
	name := c.podName
	c.mu.Unlock()
	if name == "" {
		return false
	}
	var p corev1.Pod
	err := c.e.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, &p)
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	return true
}
