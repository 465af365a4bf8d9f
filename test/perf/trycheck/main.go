// Command trycheck measures what the sweeper's try check costs at scale,
// against a real Airflow 3 api-server and a real kube-apiserver: Airflow's
// database holds -runs DAG runs of -tasks task instances each (made by
// Airflow's own create_dagrun, states set as running workers leave them; no
// scheduler runs), one pod per task instance carries the try identity, and
// the sweeper binary asks Airflow about them every -interval through a
// counting proxy in this program. It reports, per poll: list calls, other
// calls, bytes each way, the poll's duration, the Airflow api-server's and
// the sweeper's CPU; and the sweeper's heap per pod with and without the try
// identity. It fails when a target of issue 19 is missed (≤ 1 list call per
// 100 tracked tries, rounded up; ≤ 1 KiB more heap per pod), when the calls
// differ from what airflowapi.Client makes for the same tries, or when a pod
// of a live try is ended (or a pod of a finished one is not). `make bench`
// runs it; docs/performance.md reports it.
//
//	go run ./test/perf/trycheck -runs 500 -tasks 10 -polls 5
//	go run ./test/perf/trycheck -runs 500 -tasks 10 -pods-per-run 1 -polls 3 -page-limit 1000
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/airflowapi"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/e2e/airflowenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

//go:embed seed.py
var seedPy string

// Issue 19's targets.
const (
	// triesPerListCall: at most one list call per this many tracked tries
	// per poll (rounded up: a poll with any tracked try makes one call).
	triesPerListCall = 100
	// maxExtraHeapPerPod: what the try identity may add to the sweeper's heap
	// per pod.
	maxExtraHeapPerPod = 1024
)

const (
	namespace = "bench"
	instance  = "bench"
	overDAG   = "bench_over"
	// plainLabel marks the pods without a try identity (the heap baseline).
	plainLabel = "apd-bench-plain"
	// tryLabel marks the pods of the live tries.
	tryLabel = "apd-bench-try"
)

var (
	reader = airflowenv.APIUser{Name: "apd-reader", Password: "reader-pw"}
	admin  = airflowenv.APIUser{Name: "apd-admin", Password: "admin-pw"}
	keys   = deadline.NewKeys(deadline.DefaultPrefix)
)

type config struct {
	root, venv  string
	runs, tasks int
	runsPerDAG  int
	podsPerRun  int
	overRuns    int
	polls       int
	interval    time.Duration
	grace       time.Duration
	concurrency int
	heapMinPods int
	timeout     time.Duration
	// pageLimit is the sweeper's --airflow-page-limit and, unless
	// airflowMaxPage is set, Airflow's [api] maximum_page_limit.
	pageLimit      int
	airflowMaxPage int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.root, "root", ".", "repository root (bin/ holds the Kubernetes binaries and bin/venvs the Airflow venvs)")
	flag.StringVar(&cfg.venv, "venv", "af3.3.2-k8s10.25.0", "the Airflow 3 venv under bin/venvs")
	flag.IntVar(&cfg.runs, "runs", 500, "DAG runs of live tries (each task instance has a pod)")
	flag.IntVar(&cfg.tasks, "tasks", 10, "task instances per DAG run")
	flag.IntVar(&cfg.runsPerDAG, "runs-per-dag", 10, "DAG runs per DAG (daily runs: DAGs share run_ids, as DAGs on one schedule do)")
	flag.IntVar(&cfg.podsPerRun, "pods-per-run", 0, "live task instances (with a pod) per DAG run, each run at another point of its DAG; the others are success before them and not yet scheduled after (0: all -tasks)")
	flag.IntVar(&cfg.overRuns, "over-runs", 2, "more DAG runs whose task instances are finished: their pods must end")
	flag.IntVar(&cfg.polls, "polls", 5, "polls measured once every pod is in place")
	flag.DurationVar(&cfg.interval, "interval", 5*time.Second, "the sweeper's --airflow-poll-interval")
	flag.DurationVar(&cfg.grace, "grace", 2*time.Second, "the sweeper's --airflow-grace")
	flag.IntVar(&cfg.concurrency, "concurrency", 16, "concurrent pod creates")
	flag.IntVar(&cfg.heapMinPods, "heap-min-pods", 1000, "fewer tracked pods than this: the heap per pod is reported, not held to the target (too few to measure)")
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Minute, "the whole run stops with an error after this long")
	flag.IntVar(&cfg.pageLimit, "page-limit", 100, "the page of the list calls: the sweeper's --airflow-page-limit and Airflow's [api] maximum_page_limit (AIRFLOW__API__MAXIMUM_PAGE_LIMIT) both")
	flag.IntVar(&cfg.airflowMaxPage, "airflow-max-page-limit", 0, "Airflow's [api] maximum_page_limit alone (0: -page-limit), to see what Airflow does with a page_limit above it")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "trycheck bench:", err)
		os.Exit(1)
	}
}

// ti is one task instance as Airflow's database holds it.
type ti struct {
	key   airflowapi.TaskKey
	state string
	try   int
	// start is the try's start_date (zero: none), stamped as try-start as
	// the policy does: it confirms the sweeper asks the right Airflow.
	start time.Time
}

func run(cfg config) error {
	if cfg.pageLimit < 1 {
		return fmt.Errorf("-page-limit %d is not positive", cfg.pageLimit)
	}
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	root, err := filepath.Abs(cfg.root)
	if err != nil {
		return err
	}
	tmp, binary, err := testenv.TempBinary(root, "apd-bench-trycheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cp, err := testenv.StartControlPlane(filepath.Join(root, "bin"), testenv.Options{Dir: tmp})
	if err != nil {
		return err
	}
	defer cp.Stop()
	restCfg := rest.CopyConfig(cp.Config)
	restCfg.QPS, restCfg.Burst = 2000, 4000
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	fmt.Printf("machine: %d CPUs (GOMAXPROCS), %s\n", runtime.GOMAXPROCS(0), runtime.Version())

	// Airflow: the api-server alone over the bench DAGs, then the runs.
	t0 := time.Now()
	a, err := startAirflow(ctx, cfg, root, tmp, cp.Kubeconfig)
	if err != nil {
		return err
	}
	defer a.Stop()
	fmt.Printf("Airflow %s api-server up in %s\n", a.Version, time.Since(t0).Round(time.Second))
	t0 = time.Now()
	tis, err := seed(ctx, cfg, a)
	if err != nil {
		return err
	}
	var live, over []ti
	for _, t := range tis {
		switch {
		case t.key.DagID == overDAG:
			over = append(over, t)
		case t.state == "running" || t.state == "deferred":
			live = append(live, t)
		}
	}
	fmt.Printf("%d DAG runs, %d task instances (%d live with a pod, %d finished with a pod, %d without) written in %s\n",
		cfg.runs+cfg.overRuns, len(tis), len(live), len(over), len(tis)-len(live)-len(over), time.Since(t0).Round(time.Second))
	if len(live) != cfg.runs*cfg.livePerRun() || len(over) != cfg.overRuns*cfg.tasks {
		return fmt.Errorf("Airflow holds %d live and %d finished task instances, want %d and %d", len(live), len(over), cfg.runs*cfg.livePerRun(), cfg.overRuns*cfg.tasks)
	}

	creds, err := credentials(tmp)
	if err != nil {
		return err
	}
	// The proxy: it tells polls apart by their first request, the one
	// airflowapi.Client makes first for the live tries.
	liveKeys := make([]airflowapi.TaskKey, len(live))
	for i, t := range live {
		liveKeys[i] = t.key
	}
	first, err := firstList(ctx, liveKeys, creds, cfg.pageLimit)
	if err != nil {
		return err
	}
	var sweeperPID atomic.Int64
	apiPG, err := a.ProcessGroup("api-server")
	if err != nil {
		return err
	}
	airflowURL := fmt.Sprintf("http://127.0.0.1:%d", a.APIPort)
	px, err := startProxy(airflowURL,
		func(b listBody) bool {
			return b.PageOffset == 0 && slices.Equal(b.DagIDs, first.DagIDs) && slices.Equal(b.DagRunIDs, first.DagRunIDs) && slices.Equal(b.TaskIDs, first.TaskIDs)
		},
		func() (int64, int64) { return groupTicks(apiPG), processTicks(int(sweeperPID.Load())) })
	if err != nil {
		return err
	}
	defer px.Close()

	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	pprofPort, err := testenv.FreePort()
	if err != nil {
		return err
	}
	pprof := fmt.Sprintf("127.0.0.1:%d", pprofPort)
	sweeperArgs := []string{
		"--enable-webhook=false", "--namespace=" + namespace, "--pprof-bind-address=" + pprof,
		"--kube-api-qps=500", "--kube-api-burst=1000", "--max-deletes-per-second=1000",
		"--airflow-api-url=" + px.URL, "--airflow-api-version=" + airflowapi.V2, "--airflow-instance=" + instance,
		"--airflow-credentials-dir=" + creds, "--airflow-poll-interval=" + cfg.interval.String(),
		"--airflow-grace=" + cfg.grace.String(), "--airflow-handoff=0s", "--airflow-timeout=60s", fmt.Sprintf("--airflow-page-limit=%d", cfg.pageLimit),
	}
	e, err := testenv.StartEnforcerWith(ctx, cp.Client, testenv.EnforcerOptions{
		Binary: binary, Kubeconfig: cp.Kubeconfig, Dir: filepath.Join(tmp, "sweeper"), Args: sweeperArgs,
	})
	if err != nil {
		return err
	}
	p := e.Proc
	defer p.Stop(20 * time.Second)
	sweeperPID.Store(int64(p.Cmd.Process.Pid))
	fmt.Printf("sweeper flags: %s\n\n", strings.Join(sweeperArgs[3:], " "))
	time.Sleep(2 * time.Second) // informers synced

	// First the pods of the finished tries, half of them started (a kubelet
	// would have written that status): the check ends them, never-started
	// ones deleted, started ones lowered (then failed here, as the kubelet
	// would). This also warms up what every later pod shares (the check's
	// client and token, the event recorder, the sweeper's queues), so the
	// heap measured next is per pod.
	overPods := make([]*corev1.Pod, len(over))
	for i, t := range over {
		overPods[i] = pod(fmt.Sprintf("over-%05d", i), t, true)
	}
	t0 = time.Now()
	if _, err := testenv.CreateAll(ctx, cs, overPods, cfg.concurrency); err != nil {
		return err
	}
	started := map[string]bool{}
	for i, op := range overPods {
		if i%2 == 1 {
			continue
		}
		got, err := cs.CoreV1().Pods(namespace).Get(ctx, op.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		got.Status.Phase, got.Status.StartTime = corev1.PodRunning, ptr.To(metav1.NewTime(time.Now().Add(-time.Minute)))
		if _, err := cs.CoreV1().Pods(namespace).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
			return err
		}
		started[op.Name] = true
	}
	if err := waitEnded(ctx, cs, overPods, started); err != nil {
		return fmt.Errorf("%w\n%s", err, p.Tail(20))
	}
	fmt.Printf("the check ended the %d pods of finished tries (%d never started: deleted; %d started: lowered) within %s of their creation (grace %s, poll interval %s)\n",
		len(overPods), len(overPods)-len(started), len(started), time.Since(t0).Round(time.Second), cfg.grace, cfg.interval)
	for name := range started {
		got, err := cs.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		got.Status.Phase, got.Status.Reason = corev1.PodFailed, "DeadlineExceeded"
		if _, err := cs.CoreV1().Pods(namespace).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	if err := waitMetric(ctx, p, "airflow_pod_deadline_tracked_pods", nil, 0); err != nil {
		return err
	}
	heap0, err := liveHeap(p, pprof)
	if err != nil {
		return err
	}

	// The heap baseline: the live tries' pods without the try identity.
	n := len(live)
	plain := make([]*corev1.Pod, n)
	for i, t := range live {
		plain[i] = pod(fmt.Sprintf("plain-%05d", i), t, false)
		plain[i].Labels[plainLabel] = "true"
	}
	if _, err := testenv.CreateAll(ctx, cs, plain, cfg.concurrency); err != nil {
		return err
	}
	if err := waitMetric(ctx, p, "airflow_pod_deadline_tracked_pods", nil, float64(n)); err != nil {
		return err
	}
	heap1, err := liveHeap(p, pprof)
	if err != nil {
		return err
	}

	// The same pods with the try identity.
	pods := make([]*corev1.Pod, n)
	for i, t := range live {
		pods[i] = pod(fmt.Sprintf("try-%05d", i), t, true)
		pods[i].Labels[tryLabel] = "true"
	}
	t0 = time.Now()
	if _, err := testenv.CreateAll(ctx, cs, pods, cfg.concurrency); err != nil {
		return err
	}
	fmt.Printf("created %d pods without and %d with the try identity; the latter in %s\n\n", n, n, time.Since(t0).Round(time.Millisecond))
	if err := waitMetric(ctx, p, "airflow_pod_deadline_tracked_pods", nil, float64(2*n)); err != nil {
		return err
	}
	// Between polls, so no poll's garbage is counted.
	if err := waitIdle(ctx, px, cfg.interval); err != nil {
		return err
	}
	heap2, err := liveHeap(p, pprof)
	if err != nil {
		return err
	}

	// The steady state: only the live tries' pods.
	if err := cs.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)},
		metav1.ListOptions{LabelSelector: plainLabel + "=true"}); err != nil {
		return err
	}
	if err := waitMetric(ctx, p, "airflow_pod_deadline_tracked_pods", nil, float64(n)); err != nil {
		return err
	}
	if err := waitIdle(ctx, px, cfg.interval); err != nil {
		return err
	}
	heap3, err := liveHeap(p, pprof)
	if err != nil {
		return err
	}
	full := px.record(cfg.polls + 1)
	select {
	case <-full:
	case <-ctx.Done():
		got, _, _ := px.recorded()
		return fmt.Errorf("saw %d of %d polls: %w\n%s", len(got), cfg.polls+1, ctx.Err(), p.Tail(20))
	}
	starts, ends, latencies := px.recorded()

	// What the product's client makes of the same tries, asked directly.
	c, err := airflowapi.New(airflowapi.Config{Instance: instance, URL: airflowURL, Version: airflowapi.V2, CredentialsDir: creds, Timeout: time.Minute, PageLimit: cfg.pageLimit})
	if err != nil {
		return err
	}
	batch, err := c.TaskInstances(ctx, liveKeys)
	if err != nil {
		return err
	}
	var failures []string
	fail := func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) }
	if !batch.Complete {
		fail("airflowapi read an incomplete answer")
	}
	for _, t := range live {
		got, ok := batch.Found[t.key]
		if !ok || got.State != t.state || got.TryNumber != t.try {
			fail("airflowapi read %+v for %+v (state %s, try %d)", got, t.key, t.state, t.try)
			break
		}
	}

	// The pods: the finished tries' ended, every live try's untouched.
	ended, err := checkPods(ctx, cs, pods, overPods, started)
	if err != nil {
		fail("%v", err)
	}
	fams, err := p.Metrics()
	if err != nil {
		return err
	}
	endedMetric := testenv.Sum(fams["airflow_pod_deadline_airflow_pods_ended_total"], map[string]string{"airflow_instance": instance})
	apiErrors := testenv.Sum(fams["airflow_pod_deadline_airflow_api_errors_total"], nil)
	checkErrors := testenv.Sum(fams["airflow_pod_deadline_airflow_checks_total"], map[string]string{"result": sweeper.CheckError})
	if int(endedMetric) != len(overPods) || apiErrors != 0 || checkErrors != 0 {
		fail("sweeper metrics: %v pods ended (want %d), %v API errors, %v failed checks", endedMetric, len(overPods), apiErrors, checkErrors)
	}
	events, err := cs.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: "reason=" + sweeper.ReasonTryEnded})
	if err != nil {
		return err
	}
	liveNames := map[string]bool{}
	for _, lp := range pods {
		liveNames[lp.Name] = true
	}
	for _, ev := range events.Items {
		if liveNames[ev.InvolvedObject.Name] {
			fail("%s event on the live try's pod %s: %s", sweeper.ReasonTryEnded, ev.InvolvedObject.Name, ev.Message)
		}
	}

	untouched := countUntouched(ctx, cs, pods)

	// The heap the tries' pods free when they go: the pods' own objects,
	// without the store's map growth (a Go map does not shrink), measured
	// the same way as the plain pods' above.
	if err := waitIdle(ctx, px, cfg.interval); err != nil {
		return err
	}
	heap4, err := liveHeap(p, pprof)
	if err != nil {
		return err
	}
	if err := cs.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)},
		metav1.ListOptions{LabelSelector: tryLabel + "=true"}); err != nil {
		return err
	}
	if err := waitMetric(ctx, p, "airflow_pod_deadline_tracked_pods", nil, 0); err != nil {
		return err
	}
	heap5, err := liveHeap(p, pprof)
	if err != nil {
		return err
	}

	// The report.
	fmt.Printf("## Try check: %d tracked tries (%d DAG runs × %d task instances, %d of them live with a pod, %d DAGs), %d polls every %s, page_limit %d (Airflow's maximum_page_limit %d)\n\n",
		n, cfg.runs, cfg.tasks, cfg.livePerRun(), numDAGs(cfg), cfg.polls, cfg.interval, cfg.pageLimit, cfg.maxPage())
	fmt.Printf("pods of finished tries ended by the check: %d of %d (%d deleted, %d lowered); pods of live tries ended: %d\n\n",
		ended, len(overPods), len(overPods)-len(started), len(started), n-untouched)
	fmt.Println("| poll | list calls | other calls | bytes sent | bytes received | duration | api-server CPU | sweeper CPU |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	maxCalls := (n + triesPerListCall - 1) / triesPerListCall
	var calls, other []int
	var sent, recv, apiMS, swMS []float64
	var durs []time.Duration
	for i := 0; i+1 < len(starts); i++ {
		a, b := starts[i], starts[i+1]
		d := ends[i].Sub(a.at)
		lc, oc := b.counts.list-a.counts.list, b.counts.other-a.counts.other
		in, out := b.counts.in-a.counts.in, b.counts.out-a.counts.out
		api := float64(b.apiTicks-a.apiTicks) * 1000 / ticksPerSecond
		sw := float64(b.sweeperTicks-a.sweeperTicks) * 1000 / ticksPerSecond
		fmt.Printf("| %d | %d | %d | %s | %s | %s | %.0f ms | %.0f ms |\n", i+1, lc, oc, size(in), size(out), d.Round(time.Millisecond), api, sw)
		calls, other = append(calls, lc), append(other, oc)
		sent, recv = append(sent, float64(in)), append(recv, float64(out))
		apiMS, swMS, durs = append(apiMS, api), append(swMS, sw), append(durs, d)
		if lc != batch.Calls {
			fail("poll %d made %d list calls; airflowapi makes %d for the same tries", i+1, lc, batch.Calls)
		}
		if lc > maxCalls {
			fail("poll %d made %d list calls for %d tracked tries: target ≤ %d (1 per %d)", i+1, lc, n, maxCalls, triesPerListCall)
		}
	}
	slices.Sort(latencies)
	fmt.Printf("\nper poll (median of %d): %d list calls for %d tracked tries (%.2f per %d; target ≤ %d: 1 per %d, rounded up), %s sent and %s received (%.0f and %.0f B per try), "+
		"%s, Airflow api-server %.0f ms CPU (%.0f µs per try), sweeper %.0f ms CPU (%.0f µs per try)\n",
		len(calls), medianInt(calls), n, float64(medianInt(calls))*triesPerListCall/float64(n), triesPerListCall, maxCalls, triesPerListCall,
		size(int64(median(sent))), size(int64(median(recv))), median(sent)/float64(n), median(recv)/float64(n),
		medianDur(durs).Round(time.Millisecond), median(apiMS), median(apiMS)*1000/float64(n), median(swMS), median(swMS)*1000/float64(n))
	if len(latencies) > 0 {
		fmt.Printf("list call latency through the proxy: p50 %s, max %s (%d calls); other calls per poll: %v\n",
			latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond), len(latencies), other)
	}
	tot := px.totals()
	fmt.Printf("whole run: %d list calls, %d other calls (token, get_dag)\n\n", tot.list, tot.other)

	perPlain, perTry := (heap1-heap0)/float64(n), (heap2-heap1)/float64(n)
	freedPlain, freedTry := (heap2-heap3)/float64(n), (heap4-heap5)/float64(n)
	extra := freedTry - freedPlain
	fmt.Printf("## Sweeper heap per pod\n\n")
	fmt.Println("| step | live heap (after GC) | per pod |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| no tracked pod (after the finished tries' pods) | %.1f MiB | |\n", heap0/(1<<20))
	fmt.Printf("| + %d pods with a deadline, no try identity | %.1f MiB | +%.0f B |\n", n, heap1/(1<<20), perPlain)
	fmt.Printf("| + %d more, the same with the try identity | %.1f MiB | +%.0f B |\n", n, heap2/(1<<20), perTry)
	fmt.Printf("| − the %d without the try identity | %.1f MiB | %.0f B freed |\n", n, heap3/(1<<20), freedPlain)
	fmt.Printf("| after the %d polls | %.1f MiB | |\n", cfg.polls, heap4/(1<<20))
	fmt.Printf("| − the %d with the try identity | %.1f MiB | %.0f B freed |\n", n, heap5/(1<<20), freedTry)
	fmt.Printf("\nthe try identity adds %.0f B of heap per pod (freed per pod with it %.0f B, without it %.0f B; target ≤ %d B)\n",
		extra, freedTry, freedPlain, maxExtraHeapPerPod)
	if n >= cfg.heapMinPods && extra > maxExtraHeapPerPod {
		fail("the try identity adds %.0f B of heap per pod: target ≤ %d B", extra, maxExtraHeapPerPod)
	}
	if n < cfg.heapMinPods {
		fmt.Printf("(%d pods: too few to hold the heap to the target, -heap-min-pods %d)\n", n, cfg.heapMinPods)
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "\n"))
	}
	return nil
}

// maxPage is Airflow's [api] maximum_page_limit.
func (cfg config) maxPage() int {
	if cfg.airflowMaxPage > 0 {
		return cfg.airflowMaxPage
	}
	return cfg.pageLimit
}

// livePerRun is how many task instances of a run are live, with a pod.
func (cfg config) livePerRun() int {
	if cfg.podsPerRun <= 0 || cfg.podsPerRun > cfg.tasks {
		return cfg.tasks
	}
	return cfg.podsPerRun
}

func numDAGs(cfg config) int { return (cfg.runs + cfg.runsPerDAG - 1) / cfg.runsPerDAG }

// startAirflow writes the bench DAGs and starts Airflow's api-server alone,
// with a read-only user for the check.
func startAirflow(ctx context.Context, cfg config, root, tmp, kubeconfig string) (*airflowenv.Airflow, error) {
	dags := filepath.Join(tmp, "dags")
	if err := os.MkdirAll(dags, 0o755); err != nil {
		return nil, err
	}
	ids := []string{overDAG}
	for d := range numDAGs(cfg) {
		ids = append(ids, dagID(d))
	}
	idList, _ := json.Marshal(ids)
	src := fmt.Sprintf(`import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

for dag_id in %s:
    with DAG(dag_id, schedule="@daily", start_date=datetime.datetime(2026, 1, 1), catchup=False,
             is_paused_upon_creation=True) as dag:
        for t in range(%d):
            EmptyOperator(task_id=f"t{t:02d}")
    globals()[dag_id] = dag
`, idList, cfg.tasks)
	if err := os.WriteFile(filepath.Join(dags, "bench.py"), []byte(src), 0o644); err != nil {
		return nil, err
	}
	home := filepath.Join(tmp, "airflow")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	env, err := airflowenv.APIUserEnv(home, reader, admin)
	if err != nil {
		return nil, err
	}
	// The sweeper asks for pages of cfg.pageLimit: an admin raises
	// Airflow's maximum with it.
	env = append(env, fmt.Sprintf("AIRFLOW__API__MAXIMUM_PAGE_LIMIT=%d", cfg.maxPage()))
	logFile, err := os.Create(filepath.Join(tmp, "airflowenv.log"))
	if err != nil {
		return nil, err
	}
	a, err := airflowenv.StartAPIServer(ctx, airflowenv.Options{
		Venv: filepath.Join(root, "bin", "venvs", cfg.venv), Kubeconfig: kubeconfig, DAGsFolder: dags,
		Dir: filepath.Join(home, "home"), Env: env, Log: logFile,
	})
	if err != nil {
		logFile.Close()
		return nil, err
	}
	return a, nil
}

func dagID(d int) string { return fmt.Sprintf("bench_%03d", d) }

// seed makes the DAG runs with Airflow's models (seed.py) and returns the
// task instances as the database then holds them. Live states are running
// and deferred (the two in which a KPO pod runs), some on their second try;
// the finished runs cycle through the states that end a try.
func seed(ctx context.Context, cfg config, a *airflowenv.Airflow) ([]ti, error) {
	type runSpec struct {
		DagID       string         `json:"dag_id"`
		RunID       string         `json:"run_id"`
		LogicalDate string         `json:"logical_date"`
		TIs         map[string]any `json:"tis"`
	}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	runOf := func(dag string, day int, state func(t int) (string, any)) runSpec {
		when := base.AddDate(0, 0, day)
		r := runSpec{DagID: dag, RunID: "scheduled__" + when.Format("2006-01-02T15:04:05+00:00"), LogicalDate: when.Format(time.RFC3339), TIs: map[string]any{}}
		for t := range cfg.tasks {
			s, n := state(t)
			var st any = s
			if s == "" {
				st = nil
			}
			r.TIs[fmt.Sprintf("t%02d", t)] = []any{st, n}
		}
		return r
	}
	var runs []runSpec
	for i := range cfg.runs {
		d, day := i/cfg.runsPerDAG, i%cfg.runsPerDAG
		// Run i's live tasks start at task i mod (tasks-m+1): runs of one DAG at
		// different points, so a chunk's task_ids filter holds the DAG's
		// other task ids too.
		m := cfg.livePerRun()
		first := i % (cfg.tasks - m + 1)
		runs = append(runs, runOf(dagID(d), day, func(t int) (string, any) {
			switch {
			case m == cfg.tasks:
			case t < first:
				return "success", 1
			case t >= first+m:
				return "", 0 // not yet scheduled: state null
			}
			state, try := "running", 1
			if (i+t)%4 == 3 {
				state = "deferred"
			}
			if (i+t)%7 == 0 {
				try = 2
			}
			return state, try
		}))
	}
	finished := []string{"success", "failed", "up_for_retry", "skipped", "upstream_failed", "removed"}
	for j := range cfg.overRuns {
		runs = append(runs, runOf(overDAG, j, func(t int) (string, any) {
			return finished[(j*cfg.tasks+t)%len(finished)], 1
		}))
	}
	in, err := json.Marshal(map[string]any{"runs": runs})
	if err != nil {
		return nil, err
	}
	if _, err := a.Python(ctx, seedPy, string(in)); err != nil {
		return nil, fmt.Errorf("seed.py: %w", err)
	}
	rows, err := a.Query(ctx, "SELECT dag_id, run_id, task_id, map_index, state, try_number, start_date FROM task_instance")
	if err != nil {
		return nil, err
	}
	out := make([]ti, 0, len(rows))
	for _, r := range rows {
		if len(r) != 7 {
			return nil, fmt.Errorf("task_instance row %v", r)
		}
		mi, _ := r[3].(float64)
		try, _ := r[5].(float64)
		state, _ := r[4].(string)
		start, err := airflowenv.ParseTime(r[6])
		if err != nil {
			return nil, err
		}
		out = append(out, ti{key: airflowapi.TaskKey{DagID: fmt.Sprint(r[0]), RunID: fmt.Sprint(r[1]), TaskID: fmt.Sprint(r[2]), MapIndex: int(mi)}, state: state, try: int(try), start: start})
	}
	return out, nil
}

// firstList is the body of the first list call airflowapi.Client makes for
// keys at pageLimit, read by a stub Airflow that answers every call with no
// task instance.
func firstList(ctx context.Context, keys []airflowapi.TaskKey, creds string, pageLimit int) (listBody, error) {
	var first listBody
	var once sync.Once
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, listPath) {
			var b listBody
			_ = json.NewDecoder(r.Body).Decode(&b)
			once.Do(func() { first = b })
		}
		fmt.Fprint(w, `{"task_instances":[],"total_entries":0}`)
	}))
	defer s.Close()
	c, err := airflowapi.New(airflowapi.Config{Instance: instance, URL: s.URL, Version: airflowapi.V1, CredentialsDir: creds, Timeout: time.Minute, PageLimit: pageLimit})
	if err != nil {
		return first, err
	}
	if _, err := c.TaskInstances(ctx, keys); err != nil {
		return first, err
	}
	if len(first.DagIDs) == 0 {
		return first, errors.New("airflowapi made no list call for the live tries")
	}
	return first, nil
}

func credentials(tmp string) (string, error) {
	dir := filepath.Join(tmp, "airflow-credentials")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, airflowapi.UsernameFile), []byte(reader.Name), 0o600); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, airflowapi.PasswordFile), []byte(reader.Password), 0o600)
}

var unsafeLabel = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// pod is the KPO pod of task instance t: KPO's labels (sanitized), a
// deadline six hours away, and with identity the try identity annotations
// the policy stamps.
func pod(name string, t ti, identity bool) *corev1.Pod {
	label := func(s string) string {
		s = unsafeLabel.ReplaceAllString(s, "-")
		if len(s) > 63 {
			s = s[:63]
		}
		return strings.Trim(s, "-._")
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace,
			Labels: map[string]string{
				"dag_id": label(t.key.DagID), "task_id": label(t.key.TaskID), "run_id": label(t.key.RunID),
				"try_number": strconv.Itoa(t.try), "kubernetes_pod_operator": "True", "airflow_version": "3.3.2",
			},
			Annotations: map[string]string{keys.Deadline: deadline.Format(time.Now().Add(6 * time.Hour))},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers:                    []corev1.Container{{Name: "base", Image: "alpine:3.20", Command: []string{"sh", "-c"}, Args: []string{"sleep 3600"}}},
		},
	}
	if identity {
		p.Annotations[keys.Instance] = instance
		p.Annotations[keys.DagID] = t.key.DagID
		p.Annotations[keys.RunID] = t.key.RunID
		p.Annotations[keys.TaskID] = t.key.TaskID
		p.Annotations[keys.MapIndex] = strconv.Itoa(t.key.MapIndex)
		p.Annotations[keys.TryNumber] = strconv.Itoa(t.try)
		if !t.start.IsZero() {
			p.Annotations[keys.TryStart] = t.start.Format("2006-01-02T15:04:05.000000-07:00")
		}
	}
	return p
}

// waitEnded waits until the check has ended every pod of a finished try:
// deleted when it never started, activeDeadlineSeconds set when it did.
func waitEnded(ctx context.Context, cs *kubernetes.Clientset, pods []*corev1.Pod, started map[string]bool) error {
	for {
		left := 0
		for _, op := range pods {
			got, err := cs.CoreV1().Pods(namespace).Get(ctx, op.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return err
			case started[op.Name] && stopped(got):
			default:
				left++
			}
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d pods of finished tries not ended: %w", left, len(pods), ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// stopped reports whether a started pod's activeDeadlineSeconds has been
// lowered to a value already past (so the kubelet stops it now), as the
// check ends a started pod. The sweeper also sets it at start, from the
// deadline six hours away: that is not stopped.
func stopped(p *corev1.Pod) bool {
	ads, st := p.Spec.ActiveDeadlineSeconds, p.Status.StartTime
	return ads != nil && st != nil && time.Duration(*ads)*time.Second <= time.Since(st.Time)
}

// checkPods returns how many pods of finished tries were ended, and an
// error naming any live try's pod that was touched or any finished try's pod
// left alone.
func checkPods(ctx context.Context, cs *kubernetes.Clientset, live, over []*corev1.Pod, started map[string]bool) (int, error) {
	list, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	have := map[string]*corev1.Pod{}
	for i := range list.Items {
		have[list.Items[i].Name] = &list.Items[i]
	}
	var errs []error
	for _, lp := range live {
		got := have[lp.Name]
		switch {
		case got == nil:
			errs = append(errs, fmt.Errorf("the pod %s of a live try was deleted", lp.Name))
		case got.DeletionTimestamp != nil || got.Spec.ActiveDeadlineSeconds != nil:
			errs = append(errs, fmt.Errorf("the pod %s of a live try was ended", lp.Name))
		}
	}
	ended := 0
	for _, op := range over {
		got := have[op.Name]
		if started[op.Name] && got != nil && stopped(got) || !started[op.Name] && (got == nil || got.DeletionTimestamp != nil) {
			ended++
		} else {
			errs = append(errs, fmt.Errorf("the pod %s of a finished try was not ended", op.Name))
		}
	}
	return ended, errors.Join(errs...)
}

func countUntouched(ctx context.Context, cs *kubernetes.Clientset, live []*corev1.Pod) int {
	list, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return -1
	}
	names := map[string]bool{}
	for _, lp := range live {
		names[lp.Name] = true
	}
	n := 0
	for _, got := range list.Items {
		if names[got.Name] && got.DeletionTimestamp == nil && got.Spec.ActiveDeadlineSeconds == nil {
			n++
		}
	}
	return n
}

// waitMetric waits until the sweeper's metric reads want.
func waitMetric(ctx context.Context, p *testenv.Proc, name string, labels map[string]string, want float64) error {
	for {
		v, err := p.Metric(name, labels)
		if err == nil && v == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is %v, want %v: %w", name, v, want, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitIdle waits for a moment between two polls: nothing in flight, and
// the last answer a while ago (a tenth of the interval).
func waitIdle(ctx context.Context, px *proxy, interval time.Duration) error {
	for !px.idleFor(interval / 10) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// liveHeap forces a GC in the sweeper (pprof's heap endpoint does) and
// returns its live heap, as test/perf/sweeper measures it.
func liveHeap(p *testenv.Proc, pprof string) (float64, error) {
	resp, err := http.Get("http://" + pprof + "/debug/pprof/heap?gc=1")
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return p.Metric("go_memstats_heap_alloc_bytes", nil)
}

func size(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianInt(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianDur(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
