// Command kubelet measures how close to the deadline pods really stop on a
// cluster whose pods run (hollow nodes: the real kubelet over a fake
// runtime), with the real airflow-pod-deadline binary and the chart's
// webhooks: KPO-shaped pods are created over -create-spread with deadlines
// spread over the -spread after that; the sweeper lowers each pod's
// activeDeadlineSeconds at its start and the kubelet fails it with
// DeadlineExceeded. It reports deadline -> Failed (from a watch, and from
// the containers' finishedAt), the sweeper's lowers per second, the same for
// pods that never schedule (ended by the sweeper), and CPU and RSS per
// process. `make bench` runs it; docs/performance.md reports it.
//
//	go run ./test/perf/kubelet -nodes 10 -pods 600 -unscheduled 60
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

type config struct {
	root         string
	nodes        int
	pods         int
	unscheduled  int
	createSpread time.Duration
	spread       time.Duration
	margin       time.Duration
	args         string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.root, "root", ".", "repository root (bin/ holds the Kubernetes binaries)")
	flag.IntVar(&cfg.nodes, "nodes", 10, "hollow nodes")
	flag.IntVar(&cfg.pods, "pods", 600, "pods that run and are stopped by the kubelet")
	flag.IntVar(&cfg.unscheduled, "unscheduled", 60, "pods that never schedule (nodeSelector nothing matches)")
	flag.DurationVar(&cfg.createSpread, "create-spread", time.Minute, "the pods are created evenly over this long")
	flag.DurationVar(&cfg.spread, "spread", time.Minute, "each pod's deadline is this long after its creation, so the deadlines spread over the -create-spread that follows")
	flag.DurationVar(&cfg.margin, "margin", 30*time.Second, "how long after the last deadline every pod must have ended")
	flag.StringVar(&cfg.args, "args", "--kube-api-qps=300 --kube-api-burst=600 --max-deletes-per-second=200 --sweeper-workers=8", "flags of airflow-pod-deadline")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet bench:", err)
		os.Exit(1)
	}
}

// seen records, per pod, the first instant the watch showed it ended.
type seen struct {
	mu    sync.Mutex
	ended map[string]time.Time
	last  map[string]*corev1.Pod
}

func run(cfg config) error {
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	root, err := filepath.Abs(cfg.root)
	if err != nil {
		return err
	}
	tmp, binary, err := testenv.TempBinary(root, "apd-kubelet-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()
	perNode := (cfg.pods+cfg.nodes-1)/cfg.nodes + 20
	started := time.Now()
	c, err := testenv.StartCluster(ctx, filepath.Join(root, "bin"), testenv.ClusterOptions{
		Options:   testenv.Options{Dir: tmp},
		Nodes:     cfg.nodes,
		NodeFlags: []string{fmt.Sprintf("--max-pods=%d", perNode)},
	})
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Printf("machine: %d CPUs, %s; cluster with %d hollow nodes ready in %s\n", runtime.NumCPU(), runtime.Version(), cfg.nodes, time.Since(started).Round(100*time.Millisecond))
	e, err := testenv.StartEnforcer(ctx, c.Client, binary, c.Kubeconfig, filepath.Join(tmp, "enforcer"),
		filepath.Join(root, "manifests", "install.yaml"), strings.Fields(cfg.args)...)
	if err != nil {
		return err
	}
	defer e.Stop(15 * time.Second)
	fmt.Printf("airflow-pod-deadline %s\n\n", cfg.args)

	restCfg := rest.CopyConfig(c.Config)
	restCfg.QPS, restCfg.Burst = 500, 1000
	restCfg.WarningHandler = rest.NoWarnings{} // one admission warning per pod
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	const ns = "bench"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	s := &seen{ended: map[string]time.Time{}, last: map[string]*corev1.Pod{}}
	// An informer, not a bare watch: it lists and watches again if the API
	// server closes the watch under load.
	lw := toolscache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "pods", ns, fields.Everything())
	_, informer := toolscache.NewInformerWithOptions(toolscache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Pod{},
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { s.observe(obj, false) },
			UpdateFunc: func(_, obj any) { s.observe(obj, false) },
			DeleteFunc: func(obj any) { s.observe(obj, true) },
		},
	})
	stop := make(chan struct{})
	defer close(stop)
	go informer.Run(stop)
	if !toolscache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return fmt.Errorf("pod informer did not sync")
	}

	cpu0 := sample()
	total := cfg.pods + cfg.unscheduled
	deadlines := make(map[string]time.Time, total)
	t0 := time.Now().Add(2 * time.Second)
	every := max(1, total/max(1, cfg.unscheduled))
	var createErrs int
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 16)
	for i := range total {
		at := t0.Add(time.Duration(i) * cfg.createSpread / time.Duration(total))
		due := at.Add(cfg.spread)
		name := fmt.Sprintf("run-%05d", i)
		// Every every-th pod never schedules, spread over the run like the rest.
		unscheduled := cfg.unscheduled > 0 && i%every == 0 && countUnscheduled(deadlines) < cfg.unscheduled
		if unscheduled {
			name = fmt.Sprintf("pending-%05d", i)
		}
		deadlines[name] = due
		time.Sleep(time.Until(at))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod(ns, name, due, unscheduled), metav1.CreateOptions{}); err != nil {
				mu.Lock()
				createErrs++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	created := time.Now()
	// Everything ends by the last deadline plus a margin.
	end := t0.Add(cfg.createSpread + cfg.spread + cfg.margin)
	for time.Now().Before(end) {
		if s.count() >= total-createErrs {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	cpu1 := sample()
	lowered, _ := e.Metric("airflow_pod_deadline_sweeper_actions_total", map[string]string{"action": "lowered"})
	fmt.Printf("%d pods created in %s (%d create errors), %d ran, %d never scheduled\n", total-createErrs,
		created.Sub(t0).Round(time.Second), createErrs, cfg.pods, countUnscheduled(deadlines))
	fmt.Printf("sweeper lowers: %.0f in all, %.1f/s over the creation window\n\n", lowered, lowered/cfg.createSpread.Seconds())

	s.report(deadlines)
	fmt.Println()
	report(cpu0, cpu1, total)
	if createErrs > 0 {
		return fmt.Errorf("%d creates failed", createErrs)
	}
	return s.check(deadlines, cfg.spread)
}

func countUnscheduled(d map[string]time.Time) int {
	n := 0
	for k := range d {
		if strings.HasPrefix(k, "pending-") {
			n++
		}
	}
	return n
}

func pod(ns, name string, at time.Time, unscheduled bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Labels: map[string]string{
				"dag_id": "bench", "task_id": "run_long_pod", "run_id": "manual__bench", "try_number": "1",
				"kubernetes_pod_operator": "True",
			},
			Annotations: map[string]string{deadline.NewKeys(deadline.DefaultPrefix).Deadline: deadline.Format(at)},
		},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "base", Image: "alpine:3.20", Command: []string{"sh", "-c"}, Args: []string{"sleep 1800"}}},
		},
	}
	if unscheduled {
		p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "no-such-node"}
	}
	return p
}

func (s *seen) observe(obj any, deleted bool) {
	now := time.Now()
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, done := s.ended[p.Name]; !done {
		if deleted || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			s.ended[p.Name] = now
		}
	}
	if !deleted {
		s.last[p.Name] = p
	}
}

func (s *seen) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ended)
}

func (s *seen) report(deadlines map[string]time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var watched, finished, pending, told, afterTold []time.Duration
	reasons := map[string]int{}
	early, loweredAtDeadline := 0, 0
	for name, d := range deadlines {
		at, ok := s.ended[name]
		if !ok {
			continue
		}
		if strings.HasPrefix(name, "pending-") {
			pending = append(pending, at.Sub(d))
			continue
		}
		watched = append(watched, at.Sub(d))
		if at.Before(d) {
			early++
		}
		if p := s.last[name]; p != nil {
			reasons[string(p.Status.Phase)+"/"+p.Status.Reason]++
			if p.Status.StartTime != nil && p.Spec.ActiveDeadlineSeconds != nil {
				// The kubelet may stop the pod from startTime+ADS on; the
				// sweeper's lowering at the deadline puts that instant just
				// before the deadline, and the pod is then the kubelet's from the
				// deadline itself.
				stopAt := p.Status.StartTime.Add(time.Duration(*p.Spec.ActiveDeadlineSeconds) * time.Second)
				if stopAt.Before(d) {
					stopAt = d
					loweredAtDeadline++
				}
				told = append(told, stopAt.Sub(d))
				afterTold = append(afterTold, at.Sub(stopAt))
			}
			for _, cs := range p.Status.ContainerStatuses {
				if t := cs.State.Terminated; t != nil {
					// finishedAt is kept in whole seconds: against the
					// deadline's second.
					finished = append(finished, t.FinishedAt.Time.Sub(d.Truncate(time.Second)))
				}
			}
		}
	}
	fmt.Printf("%-44s %6s %8s %8s %8s\n", "", "n", "p50", "p99", "max")
	row("deadline -> pod Failed (watch)", watched)
	row("  deadline -> the kubelet may stop it", told)
	row("  the kubelet may stop it -> Failed", afterTold)
	row("deadline second -> finishedAt (1s resolution)", finished)
	row("deadline -> never-scheduled pod ended (watch)", pending)
	fmt.Printf("pods that ran, by end state: %v; ended before their deadline: %d; activeDeadlineSeconds lowered past the deadline (at it): %d\n",
		reasons, early, loweredAtDeadline)
	if missing := len(deadlines) - len(s.ended); missing > 0 {
		fmt.Printf("NOT ENDED within the run: %d pods\n", missing)
	}
}

// check is what every pod must have seen: ended, not before its deadline;
// a pod that ran was admitted with activeDeadlineSeconds, at most what
// webhook.AdmissionSeconds gives when it was created (-spread before its
// deadline), and never lowered below what the sweeper lowers it to at the
// deadline: one second less than deadline.RemainingSeconds from its start.
func (s *seen) check(deadlines map[string]time.Time, spread time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name, d := range deadlines {
		at, ok := s.ended[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: not ended", name))
			continue
		case at.Before(d):
			errs = append(errs, fmt.Errorf("%s: ended at %s, before its deadline %s", name, at.Format(time.RFC3339Nano), deadline.Format(d)))
		}
		p := s.last[name]
		if strings.HasPrefix(name, "pending-") || p == nil || p.Status.StartTime == nil {
			continue
		}
		ads := p.Spec.ActiveDeadlineSeconds
		if ads == nil {
			errs = append(errs, fmt.Errorf("%s: ran without activeDeadlineSeconds", name))
			continue
		}
		lo := max(deadline.RemainingSeconds(d, p.Status.StartTime.Time)-1, 1)
		hi := webhook.AdmissionSeconds(d, d.Add(-spread))
		if *ads < lo || *ads > hi {
			errs = append(errs, fmt.Errorf("%s: activeDeadlineSeconds %d, want %d..%d (started %s, deadline %s)",
				name, *ads, lo, hi, p.Status.StartTime.UTC().Format(time.RFC3339), deadline.Format(d)))
		}
	}
	return errors.Join(errs...)
}

func row(name string, ds []time.Duration) {
	if len(ds) == 0 {
		fmt.Printf("%-44s %6d\n", name, 0)
		return
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	fmt.Printf("%-44s %6d %8s %8s %8s\n", name, len(ds), q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}
