// Command admission measures what our webhooks add to a pod create through a
// real kube-apiserver, side by side in one run: (a) no admission hook, (b) our
// mutating + validating webhooks, (c) a MutatingAdmissionPolicy (CEL, inside
// the API server) setting a static activeDeadlineSeconds, the best a cluster
// can do without us. With -floor, also the floors served by controller-runtime
// (test/perf/webhookserver/floor): (d) a no-op mutating + validating pair,
// (e) a no-op mutating webhook alone, which is what a CREATE of ours costs in
// calls (the validating call is skipped when nothing changed the pod after
// us), and (f) a mutating webhook alone that answers at once with the patch
// ours returns, so the API server also applies the same patch. The setups are
// interleaved in rounds so machine drift hits them all. `make bench` runs it;
// docs/performance.md reports it.
//
//	go run ./test/perf/admission -rounds 8 -seq 100 -conc 4 -per-client 50 -floor
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
	"strconv"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

type setup string

const (
	none   setup = "a: no admission hook"
	ours   setup = "b: airflow-pod-deadline webhooks"
	policy setup = "c: MutatingAdmissionPolicy (CEL)"
	floor  setup = "d: no-op webhook pair (controller-runtime floor)"
	noop   setup = "e: one no-op mutating webhook (floor of one call)"
	same   setup = "f: one mutating webhook answering our patch at once"
)

type config struct {
	root      string
	binary    string
	rounds    int
	seq       int
	conc      int
	perClient int
	hookArgs  string
	profile   string
	floorPair bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.root, "root", ".", "repository root")
	flag.StringVar(&cfg.binary, "binary", "", "airflow-pod-deadline binary to measure (default: build it)")
	flag.IntVar(&cfg.rounds, "rounds", 8, "rounds; each runs every setup once, in rotating order")
	flag.IntVar(&cfg.seq, "seq", 100, "sequential creates per setup and round (one client)")
	flag.IntVar(&cfg.conc, "conc", 4, "concurrent clients")
	flag.IntVar(&cfg.perClient, "per-client", 50, "creates per concurrent client per setup and round")
	flag.StringVar(&cfg.hookArgs, "webhook-args", "", "extra flags for the webhook process")
	flag.BoolVar(&cfg.floorPair, "floor", false, "also measure the floors served by controller-runtime: (d) the same webhook configurations with no-op handlers, (e) the mutating one alone, no-op, (f) the mutating one alone answering our patch")
	flag.StringVar(&cfg.profile, "webhook-profile", "", "write a CPU profile of the webhook process, taken during the last round's webhook block, to this file")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "admission bench:", err)
		os.Exit(1)
	}
}

// The pods ask for an execution timeout of budget and come with
// activeDeadlineSeconds unclamped, twice as long: every setup but the
// baselines must lower it (expect says to what).
const (
	budget    = time.Hour
	unclamped = int64(2 * budget / time.Second)
)

// policySeconds is the static activeDeadlineSeconds of the CEL policy (c):
// the budget, with no deadline to count from.
var policySeconds = int64(budget / time.Second)

// floorSeconds is what the floor answering our patch (f) sets: our value
// for a pod admitted on a whole second (floor/main.go -budget).
var floorSeconds = webhook.AdmissionSeconds(time.Unix(0, 0).Add(budget), time.Unix(0, 0))

// expect checks what setup s did to pod p, created between before and after
// (its answer; a dry run's too). Ours gives webhook.AdmissionSeconds of the
// deadline it stamped, counted from the instant it admitted the pod: 3601
// for a one-hour budget admitted mid-second.
func expect(s setup, p *corev1.Pod, before, after time.Time) error {
	ads := p.Spec.ActiveDeadlineSeconds
	if ads == nil {
		return errors.New("pod admitted without activeDeadlineSeconds")
	}
	switch s {
	case none, floor, noop:
		if *ads != unclamped {
			return fmt.Errorf("pod admitted with activeDeadlineSeconds %d, want it unchanged (%d)", *ads, unclamped)
		}
	case policy:
		if *ads != policySeconds {
			return fmt.Errorf("pod admitted with activeDeadlineSeconds %d, want the policy's %d", *ads, policySeconds)
		}
	case same:
		if *ads != floorSeconds {
			return fmt.Errorf("pod admitted with activeDeadlineSeconds %d, want the floor's %d", *ads, floorSeconds)
		}
	case ours:
		stamped := p.Annotations[deadline.NewKeys(deadline.DefaultPrefix).Deadline]
		at, err := time.Parse(time.RFC3339Nano, stamped) // deadline.Format
		if err != nil {
			return fmt.Errorf("stamped deadline %q: %w", stamped, err)
		}
		if d := at.Sub(before); d < budget-time.Second || at.Sub(after) > budget+time.Second {
			return fmt.Errorf("stamped deadline %s is not %s after the create (%s..%s)", stamped, budget, before, after)
		}
		// The later the admission, the fewer seconds; the stamp is the
		// deadline truncated to the millisecond (webhook.DecideMutation).
		lo, hi := webhook.AdmissionSeconds(at, after), webhook.AdmissionSeconds(at.Add(time.Millisecond), before)
		if *ads < lo || *ads > hi {
			return fmt.Errorf("pod admitted with activeDeadlineSeconds %d, want webhook.AdmissionSeconds(%s, now) for now in the create: %d..%d",
				*ads, stamped, lo, hi)
		}
	}
	return nil
}

type bench struct {
	cfg     config
	cp      *testenv.ControlPlane
	cs      *kubernetes.Clientset
	hook    *testenv.Enforcer
	install string
	// latencies per setup, sequential and concurrent
	seq, conc map[setup][]time.Duration
	reviews   float64
	cpu       float64
	pprof     string
	round     int
	floorHost string
	floorProc *testenv.Proc
	patchHost string
	patchProc *testenv.Proc
}

// startFloor builds and starts controller-runtime's webhook server twice
// (test/perf/webhookserver/floor): with no-op handlers on both paths, and
// with the mutating path answering our patch.
func (b *bench) startFloor(tmp, root, certDir string) error {
	bin := filepath.Join(tmp, "floor")
	if err := testenv.BuildCommand(root, "./test/perf/webhookserver/floor", bin); err != nil {
		return err
	}
	start := func(name string, args ...string) (string, *testenv.Proc, error) {
		port, err := testenv.FreePort()
		if err != nil {
			return "", nil, err
		}
		p, err := testenv.StartComponent(bin, filepath.Join(tmp, name+".log"), nil,
			append([]string{fmt.Sprintf("-port=%d", port), "-cert-dir=" + certDir}, args...)...)
		return fmt.Sprintf("127.0.0.1:%d", port), p, err
	}
	var err error
	if b.floorHost, b.floorProc, err = start("floor"); err != nil {
		return err
	}
	b.patchHost, b.patchProc, err = start("floor-patch", "-patch", "-budget="+budget.String(), "-from="+strconv.FormatInt(unclamped, 10))
	return err
}

func run(cfg config) error {
	// The dry runs of switchTo get the clamp warning; nothing else logs.
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	root, err := filepath.Abs(cfg.root)
	if err != nil {
		return err
	}
	var tmp string
	if cfg.binary == "" {
		tmp, cfg.binary, err = testenv.TempBinary(root, "apd-admission-")
	} else {
		tmp, err = os.MkdirTemp("", "apd-admission-")
	}
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cp, err := testenv.StartControlPlane(filepath.Join(root, "bin"), testenv.Options{Dir: tmp})
	if err != nil {
		return err
	}
	defer cp.Stop()
	b := &bench{cfg: cfg, cp: cp, install: filepath.Join(root, "manifests", "install.yaml"),
		seq: map[setup][]time.Duration{}, conc: map[setup][]time.Duration{}}
	restCfg := rest.CopyConfig(cp.Config)
	// The clamp warning on every create would drown the report.
	restCfg.WarningHandler = rest.NoWarnings{}
	restCfg.QPS, restCfg.Burst = 5000, 5000
	if b.cs, err = kubernetes.NewForConfig(restCfg); err != nil {
		return err
	}
	pprofPort, err := testenv.FreePort()
	if err != nil {
		return err
	}
	b.pprof = fmt.Sprintf("127.0.0.1:%d", pprofPort)
	ctx := context.Background()
	// Started without its webhook configurations: switchTo installs them
	// for the blocks that measure them.
	if b.hook, err = testenv.StartEnforcerWith(ctx, cp.Client, testenv.EnforcerOptions{
		Binary: cfg.binary, Kubeconfig: cp.Kubeconfig, Dir: filepath.Join(tmp, "webhook"),
		Args: append([]string{"--enable-sweeper=false", "--pprof-bind-address=" + b.pprof}, strings.Fields(cfg.hookArgs)...),
	}); err != nil {
		return err
	}
	defer b.hook.Stop(20 * time.Second)
	if _, err := b.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		return err
	}

	order := []setup{none, ours, policy}
	if cfg.floorPair {
		err := b.startFloor(tmp, root, b.hook.CertDir)
		for _, p := range []*testenv.Proc{b.floorProc, b.patchProc} {
			if p != nil {
				defer p.Stop(5 * time.Second)
			}
		}
		if err != nil {
			return err
		}
		order = append(order, floor, noop, same)
	}
	for round := range cfg.rounds {
		b.round = round
		for i := range order {
			s := order[(round+i)%len(order)]
			if err := b.switchTo(ctx, s); err != nil {
				return fmt.Errorf("round %d, %s: %w", round, s, err)
			}
			if err := b.measure(ctx, s); err != nil {
				return fmt.Errorf("round %d, %s: %w", round, s, err)
			}
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", round+1, cfg.rounds)
	}
	b.report()
	return nil
}

func annotatedPod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("load-%07d", i),
			Labels: map[string]string{"dag_id": "bench", "task_id": "load", "run_id": "scheduled__2026-05-20T1000000000-4b5c6d7e8",
				"try_number": "1", "kubernetes_pod_operator": "True", "airflow_version": "3.2.1", "airflow_kpo_in_cluster": "True"},
			Annotations: map[string]string{deadline.NewKeys(deadline.DefaultPrefix).Timeout: budget.String()},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			ActiveDeadlineSeconds:         ptr.To(unclamped),
			Containers: []corev1.Container{{
				Name: "base", Image: "alpine:3.20", Command: []string{"sh", "-c"}, Args: []string{"sleep 1800"},
				Env: []corev1.EnvVar{{Name: "AIRFLOW_CTX_DAG_ID", Value: "bench"}, {Name: "AIRFLOW_CTX_TASK_ID", Value: "load"}},
			}},
		},
	}
}

var counter int

// measure creates the pods of one setup in one round, then removes them so
// every block starts from the same etcd.
func (b *bench) measure(ctx context.Context, s setup) error {
	reviews0, cpu0, err := b.hookCounters()
	if err != nil {
		return err
	}
	if s == ours && b.cfg.profile != "" && b.round == b.cfg.rounds-1 {
		done := make(chan error, 1)
		go func() {
			done <- testenv.SaveURL(context.Background(), "http://"+b.pprof+"/debug/pprof/profile?seconds=2", b.cfg.profile)
		}()
		defer func() {
			if err := <-done; err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
			}
		}()
	}
	for range b.cfg.seq {
		counter++
		d, err := b.create(ctx, s, annotatedPod(counter))
		if err != nil {
			return err
		}
		b.seq[s] = append(b.seq[s], d)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for c := range b.cfg.conc {
		wg.Add(1)
		base := counter + c*b.cfg.perClient
		go func() {
			defer wg.Done()
			for i := range b.cfg.perClient {
				d, err := b.create(ctx, s, annotatedPod(base+i+1))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				b.conc[s] = append(b.conc[s], d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	counter += b.cfg.conc * b.cfg.perClient
	if firstErr != nil {
		return firstErr
	}
	if s == ours {
		reviews1, cpu1, err := b.hookCounters()
		if err != nil {
			return err
		}
		b.reviews += reviews1 - reviews0
		b.cpu += cpu1 - cpu0
	}
	return b.cs.CoreV1().Pods("bench").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
}

func (b *bench) create(ctx context.Context, s setup, p *corev1.Pod) (time.Duration, error) {
	start := time.Now()
	created, err := b.cs.CoreV1().Pods("bench").Create(ctx, p, metav1.CreateOptions{})
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	return d, expect(s, created, start, start.Add(d))
}

func (b *bench) hookCounters() (reviews, cpu float64, err error) {
	fams, err := b.hook.Metrics()
	if err != nil {
		return 0, 0, err
	}
	return testenv.Sum(fams["controller_runtime_webhook_requests_total"], nil), testenv.Sum(fams["process_cpu_seconds_total"], nil), nil
}

const configName = "airflow-pod-deadline"

// switchTo installs the admission hooks of setup s and removes the others,
// then waits until a create shows s is in effect.
func (b *bench) switchTo(ctx context.Context, s setup) error {
	c := b.cp.Client
	for _, obj := range []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: configName}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: configName}},
		&admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: configName}},
		&admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: configName}},
	} {
		if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	switch s {
	case ours:
		if err := testenv.InstallWebhooks(ctx, c, b.install, b.hook.WebhookAddr, b.hook.CA); err != nil {
			return err
		}
	case floor, noop:
		// Nothing is clamped: the no-op handlers answer allowed.
		if err := testenv.InstallWebhooks(ctx, c, b.install, b.floorHost, b.hook.CA); err != nil {
			return err
		}
		if s == noop {
			if err := c.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: configName}}); err != nil {
				return err
			}
		}
		time.Sleep(2 * time.Second) // no answer to wait for; let the API server load them
		return nil
	case same:
		if err := testenv.InstallWebhooks(ctx, c, b.install, b.patchHost, b.hook.CA); err != nil {
			return err
		}
		if err := c.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: configName}}); err != nil {
			return err
		}
		// Clamped from the first answer on; let the removal of the
		// validating configuration take effect too.
		time.Sleep(2 * time.Second)
	case policy:
		if err := c.Create(ctx, mutatingPolicy()); err != nil {
			return err
		}
		if err := c.Create(ctx, &admissionregistrationv1.MutatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: configName},
			Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: configName},
		}); err != nil {
			return err
		}
	}
	// The API server picks configuration changes up asynchronously: wait
	// for a dry run that meets s's expectation.
	var last error
	for until := time.Now().Add(60 * time.Second); time.Now().Before(until); time.Sleep(100 * time.Millisecond) {
		p := annotatedPod(0)
		p.Namespace = "bench"
		before := time.Now()
		if err := c.Create(ctx, p, client.DryRunAll); err != nil {
			return err
		}
		if last = expect(s, p, before, time.Now()); last == nil {
			return nil
		}
	}
	return fmt.Errorf("%s never took effect: %w", s, last)
}

// mutatingPolicy clamps what it can without code: a static
// activeDeadlineSeconds for every pod that carries the annotation.
func mutatingPolicy() *admissionregistrationv1.MutatingAdmissionPolicy {
	annotated := "has(object.metadata.annotations) && ('" + deadline.NewKeys(deadline.DefaultPrefix).Timeout + "' in object.metadata.annotations)"
	return &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: configName},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				},
			}}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "annotated", Expression: annotated}},
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{
					Expression: fmt.Sprintf("Object{spec: Object.spec{activeDeadlineSeconds: %d}}", policySeconds),
				},
			}},
			FailurePolicy:      ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		},
	}
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func (b *bench) report() {
	fmt.Printf("machine: %d CPUs, %s; %d rounds, each setup per round: %d sequential creates, %d clients x %d concurrent creates\n\n",
		runtime.NumCPU(), runtime.Version(), b.cfg.rounds, b.cfg.seq, b.cfg.conc, b.cfg.perClient)
	fmt.Println("| setup | p50 sequential | p99 sequential | p50 4 clients | p99 4 clients | creates |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range []setup{none, ours, policy, floor, noop, same} {
		if len(b.seq[s]) == 0 {
			continue
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %d |\n", s, ms(pct(b.seq[s], .5)), ms(pct(b.seq[s], .99)),
			ms(pct(b.conc[s], .5)), ms(pct(b.conc[s], .99)), len(b.seq[s])+len(b.conc[s]))
	}
	a, o, c := pct(b.seq[none], .5), pct(b.seq[ours], .5), pct(b.seq[policy], .5)
	fmt.Printf("\nsequential p50: ours adds %s over no hook (b/a = %.2f); the CEL policy adds %s (b/c = %.2f)\n",
		ms(o-a), float64(o)/float64(a), ms(c-a), float64(o)/float64(c))
	ac, oc, cc := pct(b.conc[none], .5), pct(b.conc[ours], .5), pct(b.conc[policy], .5)
	fmt.Printf("4 clients p50: ours adds %s (b/a = %.2f); the CEL policy adds %s (b/c = %.2f)\n",
		ms(oc-ac), float64(oc)/float64(ac), ms(cc-ac), float64(oc)/float64(cc))
	if len(b.seq[floor]) > 0 {
		f := pct(b.seq[floor], .5)
		fmt.Printf("sequential p50: a no-op webhook pair adds %s (ours over the no-op pair: %s)\n", ms(f-a), ms(o-f))
		n, p := pct(b.seq[noop], .5), pct(b.seq[same], .5)
		fmt.Printf("sequential p50: one no-op mutating call adds %s (ours over it: %s); one call answering our patch at once adds %s (ours over it: %s)\n",
			ms(n-a), ms(o-n), ms(p-a), ms(o-p))
		nc, pc := pct(b.conc[noop], .5), pct(b.conc[same], .5)
		fmt.Printf("4 clients p50: one no-op mutating call adds %s (ours over it: %s); our patch at once adds %s (ours over it: %s)\n",
			ms(nc-ac), ms(oc-nc), ms(pc-ac), ms(oc-pc))
	}
	if b.reviews > 0 {
		fmt.Printf("webhook process CPU: %.3f ms per review (%.0f reviews, %.2f s CPU, background included)\n",
			b.cpu/b.reviews*1000, b.reviews, b.cpu)
	}
}
