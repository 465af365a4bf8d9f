// Command sweeper measures the sweeper at scale against a real kube-apiserver:
// enforcement lag over many tracked pods, heap and RSS per tracked pod, and
// how long a restarted sweeper takes to enforce pods that became overdue
// while it was down. `make bench` runs it; docs/performance.md reports it.
//
//	go run ./test/perf/sweeper -pods 10000 -spread 60s -overdue 5000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

type config struct {
	root        string
	pods        int
	spread      time.Duration
	overdue     int
	concurrency int
	lead        time.Duration
	timeout     time.Duration
	sweeperArgs []string
	heapProfile string
}

func main() {
	var cfg config
	var extra string
	flag.StringVar(&cfg.root, "root", ".", "repository root (bin/ holds the Kubernetes binaries)")
	flag.IntVar(&cfg.pods, "pods", 10000, "tracked pods whose deadlines pass during the run")
	flag.DurationVar(&cfg.spread, "spread", time.Minute, "the deadlines are spread evenly over this long")
	flag.IntVar(&cfg.overdue, "overdue", 5000, "pods already overdue when a sweeper starts (0: skip)")
	flag.IntVar(&cfg.concurrency, "concurrency", 16, "concurrent creates")
	flag.DurationVar(&cfg.lead, "lead", 0, "time from the start of the creates to the first deadline (0: enough for the creates at 200/s, plus 10s)")
	flag.DurationVar(&cfg.timeout, "timeout", 15*time.Minute, "how long to wait for the pods to be deleted")
	flag.StringVar(&cfg.heapProfile, "heap-profile", "", "write the sweeper's heap profile with all pods tracked to this file")
	flag.StringVar(&extra, "sweeper-args", "--kube-api-qps=500 --kube-api-burst=1000 --max-deletes-per-second=1000 --sweeper-workers=8", "flags of the sweeper under test")
	flag.Parse()
	cfg.sweeperArgs = strings.Fields(extra)
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "sweeper bench:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	// envtest logs through controller-runtime; the report is the output.
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	root, err := filepath.Abs(cfg.root)
	if err != nil {
		return err
	}
	tmp, binary, err := testenv.TempBinary(root, "apd-bench-")
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
	ctx := context.Background()

	fmt.Printf("machine: %d CPUs (GOMAXPROCS), %s\n", runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("sweeper flags: %s\n\n", strings.Join(cfg.sweeperArgs, " "))
	if cfg.pods > 0 {
		if err := lagRun(ctx, cfg, cp, cs, binary, tmp); err != nil {
			return err
		}
	}
	if cfg.overdue > 0 {
		if err := startupRun(ctx, cfg, cp, cs, binary, tmp); err != nil {
			return err
		}
	}
	return nil
}

// startSweeper starts the binary with the sweeper alone, watching ns, and
// waits until it is ready.
func startSweeper(ctx context.Context, cfg config, cp *testenv.ControlPlane, binary, dir, ns string) (*testenv.Proc, string, error) {
	pprofPort, err := testenv.FreePort()
	if err != nil {
		return nil, "", err
	}
	pprof := fmt.Sprintf("127.0.0.1:%d", pprofPort)
	e, err := testenv.StartEnforcerWith(ctx, cp.Client, testenv.EnforcerOptions{
		Binary: binary, Kubeconfig: cp.Kubeconfig, Dir: filepath.Join(dir, ns),
		Args: append([]string{"--enable-webhook=false", "--namespace=" + ns, "--pprof-bind-address=" + pprof}, cfg.sweeperArgs...),
	})
	if err != nil {
		return nil, "", err
	}
	return e.Proc, pprof, nil
}

// liveHeap forces a GC in the process (pprof's heap endpoint does) and
// returns its live heap and resident set.
func liveHeap(p *testenv.Proc, pprof string) (heap, rss float64, err error) {
	resp, err := http.Get("http://" + pprof + "/debug/pprof/heap?gc=1")
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fams, err := p.Metrics()
	if err != nil {
		return 0, 0, err
	}
	return testenv.Sum(fams["go_memstats_heap_alloc_bytes"], nil), testenv.Sum(fams["process_resident_memory_bytes"], nil), nil
}

func newNamespace(ctx context.Context, cs *kubernetes.Clientset, name string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	return err
}

// pod is a KPO-shaped pod whose deadline is at. Grace 0: without a kubelet, the
// sweeper's delete then removes it at once, and the watch sees when.
func pod(ns string, i int, at time.Time) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("load-%06d", i), Namespace: ns,
			Labels: map[string]string{"dag_id": "bench", "task_id": fmt.Sprintf("t%d", i%100), "run_id": "scheduled__2026-05-20", "try_number": "1", "kubernetes_pod_operator": "True"},
			Annotations: map[string]string{
				deadline.NewKeys(deadline.DefaultPrefix).Deadline: deadline.Format(at),
			},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			ActiveDeadlineSeconds:         ptr.To[int64](3600),
			Containers:                    []corev1.Container{{Name: "base", Image: "alpine:3.20", Command: []string{"sh", "-c"}, Args: []string{"sleep 1800"}}},
		},
	}
}

// watchDeletes records when each pod of ns disappears, until want are gone.
// An informer, not a bare watch: it relists and rewatches when the API server
// ends a watch, which a run this long sees.
func watchDeletes(ctx context.Context, cs *kubernetes.Clientset, ns string, want int, timeout time.Duration) (map[string]time.Time, func() error, error) {
	var mu sync.Mutex
	gone := make(map[string]time.Time, want)
	done := make(chan struct{})
	lw := toolscache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "pods", ns, fields.Everything())
	_, informer := toolscache.NewInformerWithOptions(toolscache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Pod{},
		Handler: toolscache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			mu.Lock()
			defer mu.Unlock()
			if _, seen := gone[obj.(*corev1.Pod).Name]; !seen {
				gone[obj.(*corev1.Pod).Name] = time.Now()
				if len(gone) == want {
					close(done)
				}
			}
		}},
	})
	stop := make(chan struct{})
	go informer.Run(stop)
	if !toolscache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		close(stop)
		return nil, nil, fmt.Errorf("pod informer did not sync")
	}
	wait := func() error {
		defer close(stop)
		select {
		case <-done:
			return nil
		case <-time.After(timeout):
			mu.Lock()
			defer mu.Unlock()
			return fmt.Errorf("only %d of %d pods deleted after %s", len(gone), want, timeout)
		}
	}
	return gone, wait, nil
}

func lagRun(ctx context.Context, cfg config, cp *testenv.ControlPlane, cs *kubernetes.Clientset, binary, dir string) error {
	ns := "bench-lag"
	if err := newNamespace(ctx, cs, ns); err != nil {
		return err
	}
	p, pprof, err := startSweeper(ctx, cfg, cp, binary, dir, ns)
	if err != nil {
		return err
	}
	defer p.Stop(20 * time.Second)
	time.Sleep(2 * time.Second) // informers synced, steady state
	heap0, rss0, err := liveHeap(p, pprof)
	if err != nil {
		return err
	}

	// Deadlines start once all pods should exist (at a pessimistic 200
	// creates/s) and the sweeper has settled after the burst of creates,
	// then pass evenly over the spread. With less lead the first deadlines
	// meet a machine still busy with the creates (2 CPUs shared by etcd,
	// kube-apiserver, the sweeper and this program), and the lag measures
	// that instead.
	lead := cfg.lead
	if lead == 0 {
		lead = time.Duration(cfg.pods/200+10) * time.Second
	}
	start := time.Now().Add(lead)
	pods := make([]*corev1.Pod, cfg.pods)
	deadlines := make([]time.Time, cfg.pods)
	for i := range pods {
		deadlines[i] = start.Add(time.Duration(int64(cfg.spread) * int64(i) / int64(cfg.pods)))
		pods[i] = pod(ns, i, deadlines[i])
	}
	gone, wait, err := watchDeletes(ctx, cs, ns, cfg.pods, cfg.timeout)
	if err != nil {
		return err
	}
	t0 := time.Now()
	created, err := testenv.CreateAll(ctx, cs, pods, cfg.concurrency)
	if err != nil {
		return err
	}
	createdIn := time.Since(t0)

	// Tracked and not yet due: the memory of the steady state.
	for {
		n, err := p.Metric("airflow_pod_deadline_tracked_pods", nil)
		if err != nil {
			return err
		}
		if int(n) >= cfg.pods || time.Now().After(start) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	tracked, _ := p.Metric("airflow_pod_deadline_tracked_pods", nil)
	heap1, rss1, err := liveHeap(p, pprof)
	if err != nil {
		return err
	}
	if cfg.heapProfile != "" {
		if err := testenv.SaveURL(ctx, "http://"+pprof+"/debug/pprof/heap", cfg.heapProfile); err != nil {
			return err
		}
	}
	if err := wait(); err != nil {
		return err
	}

	var observed []time.Duration
	late := 0
	for i, pd := range pods {
		if err := notBefore(pd, gone[pd.Name]); err != nil {
			return err
		}
		if created[i].After(deadlines[i]) {
			late++ // created after its deadline: not a measure of the sweeper
			continue
		}
		observed = append(observed, gone[pd.Name].Sub(deadlines[i]))
	}
	sweeperLag, err := loggedLags(p.Log)
	if err != nil {
		return err
	}
	if len(sweeperLag) == 0 {
		return fmt.Errorf("the sweeper logged no deletion (%s)", p.Log)
	}
	if slices.Min(sweeperLag) < 0 {
		return fmt.Errorf("the sweeper logged a deletion %s before a deadline", -slices.Min(sweeperLag))
	}
	fmt.Printf("## Enforcement lag: %d pods, deadlines over %s\n\n", cfg.pods, cfg.spread)
	fmt.Printf("created %d pods in %s (%.0f/s); %d created after their deadline were left out of the lag figures\n\n",
		cfg.pods, createdIn.Round(time.Millisecond), float64(cfg.pods)/createdIn.Seconds(), late)
	fmt.Println("| measure | p50 | p99 | max | n |")
	fmt.Println("|---|---|---|---|---|")
	row("deadline → delete request sent (sweeper log; zap samples repeated lines, see n)", sweeperLag)
	row("deadline → pod gone (watch event)", observed)
	fmt.Printf("\n## Memory with %d tracked pods\n\n", int(tracked))
	fmt.Println("| measure | before | with pods | per tracked pod |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| live heap (after GC) | %.1f MiB | %.1f MiB | %.0f B |\n", heap0/(1<<20), heap1/(1<<20), (heap1-heap0)/tracked)
	fmt.Printf("| resident set | %.1f MiB | %.1f MiB | %.0f B |\n\n", rss0/(1<<20), rss1/(1<<20), (rss1-rss0)/tracked)
	return nil
}

func startupRun(ctx context.Context, cfg config, cp *testenv.ControlPlane, cs *kubernetes.Clientset, binary, dir string) error {
	ns := "bench-startup"
	if err := newNamespace(ctx, cs, ns); err != nil {
		return err
	}
	deadline := time.Now().Add(-time.Second)
	pods := make([]*corev1.Pod, cfg.overdue)
	for i := range pods {
		pods[i] = pod(ns, i, deadline)
	}
	if _, err := testenv.CreateAll(ctx, cs, pods, cfg.concurrency); err != nil {
		return err
	}
	gone, wait, err := watchDeletes(ctx, cs, ns, cfg.overdue, cfg.timeout)
	if err != nil {
		return err
	}
	t0 := time.Now()
	p, _, err := startSweeper(ctx, cfg, cp, binary, dir, ns)
	if err != nil {
		return err
	}
	defer p.Stop(20 * time.Second)
	if err := wait(); err != nil {
		return err
	}
	var last time.Time
	for _, pd := range pods {
		t := gone[pd.Name]
		if err := notBefore(pd, t); err != nil {
			return err
		}
		if t.After(last) {
			last = t
		}
	}
	total := last.Sub(t0)
	fmt.Printf("## Restart with %d overdue pods\n\n", cfg.overdue)
	fmt.Printf("from process start to the last pod gone: %s (%.0f pods/s, including start-up and the initial list)\n\n",
		total.Round(time.Millisecond), float64(cfg.overdue)/total.Seconds())
	return nil
}

// notBefore checks that pod p, which never started, was deleted at gone no
// earlier than the deadline it carries: the sweeper deletes such a pod at
// its deadline (sweeper.Decide), read as deadline.Keys.Resolve reads it.
func notBefore(p *corev1.Pod, gone time.Time) error {
	keys := deadline.NewKeys(deadline.DefaultPrefix)
	// The pods carry a deadline, no timeout: now only bounds it (MaxBudget).
	d, ok, errs := keys.Resolve(keys.Values(p.Annotations), time.Now())
	if !ok || len(errs) > 0 {
		return fmt.Errorf("pod %s: no deadline (%v)", p.Name, errs)
	}
	if gone.Before(d.At) {
		return fmt.Errorf("pod %s deleted at %s, %s before its deadline %s", p.Name, gone.Format(time.RFC3339Nano), d.At.Sub(gone), deadline.Format(d.At))
	}
	return nil
}

// loggedLags reads the lag the sweeper logs with every delete.
func loggedLags(path string) ([]time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lags []time.Duration
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `"deleted pod past its execution deadline"`) {
			continue
		}
		var entry struct {
			Lag string `json:"lag"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil {
			continue
		}
		if d, err := time.ParseDuration(entry.Lag); err == nil {
			lags = append(lags, d)
		}
	}
	return lags, nil
}

func row(name string, ds []time.Duration) {
	if len(ds) == 0 {
		fmt.Printf("| %s | - | - | - | 0 |\n", name)
		return
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))] }
	fmt.Printf("| %s | %s | %s | %s | %d |\n", name, q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), len(ds))
}
