package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

type server struct {
	name string
	cmd  func(port int) []string
	// check is what the server must answer to the review, sent between
	// before and after.
	check func(review admissionv1.AdmissionReview, before, after time.Time) error
}

// The review's pod asks for an execution timeout of budget and comes with
// activeDeadlineSeconds unclamped: our webhook lowers it.
const (
	budget    = 30 * time.Minute
	unclamped = int64(2 * budget / time.Second)
)

// clamped checks our mutating webhook's answer: allowed, with a patch
// that stamps the deadline budget from now and sets activeDeadlineSeconds
// to webhook.AdmissionSeconds of it, counted from the instant of the answer.
func clamped(review admissionv1.AdmissionReview, before, after time.Time) error {
	r := review.Response
	if r == nil || !r.Allowed {
		return fmt.Errorf("not allowed: %+v", r)
	}
	var ops []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(r.Patch, &ops); err != nil {
		return fmt.Errorf("patch %q: %w", r.Patch, err)
	}
	var ads int64
	var stamped string
	deadlinePath := "/metadata/annotations/" + strings.ReplaceAll(deadline.NewKeys(deadline.DefaultPrefix).Deadline, "/", "~1")
	for _, op := range ops {
		switch op.Path {
		case "/spec/activeDeadlineSeconds":
			if err := json.Unmarshal(op.Value, &ads); err != nil {
				return err
			}
		case deadlinePath:
			if err := json.Unmarshal(op.Value, &stamped); err != nil {
				return err
			}
		}
	}
	at, err := time.Parse(time.RFC3339Nano, stamped) // deadline.Format
	if err != nil {
		return fmt.Errorf("no stamped deadline in the patch %s: %w", r.Patch, err)
	}
	if at.Before(before.Add(budget-time.Millisecond)) || at.After(after.Add(budget)) {
		return fmt.Errorf("stamped deadline %s is not %s after the review (%s..%s)", stamped, budget, before, after)
	}
	// The stamp is the deadline truncated to the millisecond
	// (webhook.DecideMutation); the later the answer, the fewer seconds.
	lo, hi := webhook.AdmissionSeconds(at, after), webhook.AdmissionSeconds(at.Add(time.Millisecond), before)
	if ads < lo || ads > hi {
		return fmt.Errorf("activeDeadlineSeconds %d, want webhook.AdmissionSeconds(%s, now) for now in the review: %d..%d (patch %s)",
			ads, stamped, lo, hi, r.Patch)
	}
	return nil
}

// allowed checks the floor's answer: allowed, nothing changed.
func allowed(review admissionv1.AdmissionReview, _, _ time.Time) error {
	if r := review.Response; r == nil || !r.Allowed || len(r.Patch) > 0 {
		return fmt.Errorf("want allowed without a patch: %+v", r)
	}
	return nil
}

type placement struct {
	name        string
	gomaxprocs  int
	serverCPUs  string
	generatorCP string
}

func run(cfg config) error {
	// envtest logs through controller-runtime; the report is the output.
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	tmp, binary, err := testenv.TempBinary(cfg.root, "apd-webhookserver-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	floor := filepath.Join(tmp, "floor")
	if err := testenv.BuildCommand(cfg.root, "./test/perf/webhookserver/floor", floor); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The binary needs an API server to start its manager; it is not called
	// during the measurement.
	cp, err := testenv.StartControlPlane(filepath.Join(cfg.root, "bin"), testenv.Options{Dir: tmp})
	if err != nil {
		return err
	}
	defer cp.Stop()
	certDir := filepath.Join(tmp, "certs")
	if _, err := testenv.LoopbackCerts(certDir); err != nil {
		return err
	}
	bodyFile := filepath.Join(tmp, "review.json")
	if err := os.WriteFile(bodyFile, reviewBody(), 0o600); err != nil {
		return err
	}
	servers := []server{
		{"airflow-pod-deadline (mutating webhook)", func(port int) []string {
			return []string{binary, "--kubeconfig=" + cp.Kubeconfig, "--enable-sweeper=false", "--cert-dir=" + certDir,
				"--webhook-bind-address=127.0.0.1", "--webhook-port=" + strconv.Itoa(port),
				"--metrics-bind-address=0", "--health-probe-bind-address=0"}
		}, clamped},
		{"controller-runtime, no-op handler (floor)", func(port int) []string {
			return []string{floor, "-port=" + strconv.Itoa(port), "-cert-dir=" + certDir}
		}, allowed},
	}
	if cfg.baseline != "" {
		before := filepath.Join(tmp, "airflow-pod-deadline-baseline")
		if err := testenv.BuildBinary(cfg.baseline, before); err != nil {
			return err
		}
		servers = append(servers, server{"airflow-pod-deadline, baseline (-baseline)", func(port int) []string {
			return []string{before, "--kubeconfig=" + cp.Kubeconfig, "--enable-sweeper=false", "--cert-dir=" + certDir,
				"--webhook-bind-address=127.0.0.1", "--webhook-port=" + strconv.Itoa(port),
				"--metrics-bind-address=0", "--health-probe-bind-address=0"}
		}, clamped})
	}
	placements := []placement{
		{"1 CPU", 1, "0", "1"},
		{"2 CPUs", 2, "0,1", "0,1"},
	}
	results := map[string][]result{}
	for round := range cfg.rounds {
		for _, pl := range placements {
			for i := range servers {
				s := servers[(round+i)%len(servers)]
				r, err := measure(cfg, self, s, pl, filepath.Join(certDir, "ca.crt"), bodyFile)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", s.name, pl.name, err)
				}
				results[s.name+"|"+pl.name] = append(results[s.name+"|"+pl.name], r)
			}
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", round+1, cfg.rounds)
	}
	report(cfg, servers, placements, results)
	return nil
}

// measure starts one server pinned as pl says, loads it, and stops it.
func measure(cfg config, self string, s server, pl placement, ca, body string) (result, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return result{}, err
	}
	argv := append([]string{"-c", pl.serverCPUs}, s.cmd(port)...)
	srv := exec.Command("taskset", argv...)
	srv.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(pl.gomaxprocs))
	var srvOut bytes.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	if err := waitTLS(port, 60*time.Second); err != nil {
		return result{}, fmt.Errorf("%w: %s", err, srvOut.String())
	}
	url := fmt.Sprintf("https://127.0.0.1:%d%s", port, webhook.MutatePath)
	if err := checkAnswer(s, url, ca, body); err != nil {
		return result{}, fmt.Errorf("the answer to the review: %w", err)
	}
	gen := func(d time.Duration) (result, error) {
		out, err := exec.Command("taskset", "-c", pl.generatorCP, self, "-generate", "-url="+url, "-ca="+ca, "-body="+body,
			"-duration="+d.String(), "-conns="+strconv.Itoa(cfg.conns)).Output()
		if err != nil {
			return result{}, fmt.Errorf("generator: %w", err)
		}
		var r result
		return r, json.Unmarshal(out, &r)
	}
	if _, err := gen(min(time.Second, cfg.duration)); err != nil { // warm up: connections, caches, GC pacing
		return result{}, err
	}
	return gen(cfg.duration)
}

// checkAnswer sends the review once and checks the server's answer.
func checkAnswer(s server, url, caFile, bodyFile string) error {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	before := time.Now()
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	after := time.Now()
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil {
		return fmt.Errorf("%s: %w", resp.Status, err)
	}
	return s.check(review, before, after)
}

func waitTLS(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("server not serving TLS after %s", timeout)
}

func report(cfg config, servers []server, placements []placement, results map[string][]result) {
	fmt.Printf("machine: %d CPUs, %s; %d rounds x %s per measurement, %d keep-alive connections, HTTP/1.1 over TLS\n\n",
		runtime.NumCPU(), runtime.Version(), cfg.rounds, cfg.duration, cfg.conns)
	fmt.Println("| server | CPUs | reviews/s | p50 | p99 | errors |")
	fmt.Println("|---|---|---|---|---|---|")
	rate := map[string]float64{}
	for _, pl := range placements {
		for _, s := range servers {
			rs := results[s.name+"|"+pl.name]
			var n, errs int
			var secs float64
			var p50s, p99s []time.Duration
			for _, r := range rs {
				n, errs, secs = n+r.Reviews, errs+r.Errors, secs+r.Seconds
				p50s, p99s = append(p50s, r.P50), append(p99s, r.P99)
			}
			rate[s.name+"|"+pl.name] = float64(n) / secs
			fmt.Printf("| %s | %s | %.0f | %s | %s | %d |\n", s.name, pl.name, float64(n)/secs, median(p50s), median(p99s), errs)
		}
	}
	fmt.Println()
	for _, pl := range placements {
		fmt.Printf("%s: airflow-pod-deadline serves %.0f%% of the floor's throughput\n", pl.name,
			100*rate[servers[0].name+"|"+pl.name]/rate[servers[1].name+"|"+pl.name])
		if len(servers) > 2 {
			fmt.Printf("%s: the baseline serves %.0f%% of the floor's throughput; airflow-pod-deadline %.0f%% of the baseline's\n", pl.name,
				100*rate[servers[2].name+"|"+pl.name]/rate[servers[1].name+"|"+pl.name],
				100*rate[servers[0].name+"|"+pl.name]/rate[servers[2].name+"|"+pl.name])
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2].Round(10 * time.Microsecond)
}

// reviewBody is the AdmissionReview kube-apiserver sends for a KPO pod with an
// execution timeout of budget and activeDeadlineSeconds unclamped: the
// webhook clamps it.
func reviewBody() []byte {
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "run-long-pod-x7k2pqrs", Namespace: "airflow",
			Labels: map[string]string{"dag_id": "etl", "task_id": "load", "run_id": "scheduled__2026-05-20T1000000000-4b5c6d7e8",
				"try_number": "1", "kubernetes_pod_operator": "True", "airflow_version": "3.2.1", "airflow_kpo_in_cluster": "True"},
			Annotations: map[string]string{deadline.NewKeys(deadline.DefaultPrefix).Timeout: budget.String()},
		},
		Spec: corev1.PodSpec{
			ActiveDeadlineSeconds: ptr.To(unclamped), RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "base", Image: "alpine:3.20", Command: []string{"sh", "-c"}, Args: []string{"sleep 1800"},
				Env: []corev1.EnvVar{{Name: "AIRFLOW_CTX_DAG_ID", Value: "etl"}, {Name: "AIRFLOW_CTX_TASK_ID", Value: "load"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
				VolumeMounts:             []corev1.VolumeMount{{Name: "kube-api-access", ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
				TerminationMessagePath:   "/dev/termination-log",
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ImagePullPolicy:          corev1.PullIfNotPresent,
			}},
			TerminationGracePeriodSeconds: ptr.To[int64](30), DNSPolicy: corev1.DNSClusterFirst, ServiceAccountName: "default",
			SchedulerName: "default-scheduler", EnableServiceLinks: ptr.To(true), PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority),
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			},
			Volumes: []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: ptr.To[int32](420),
				Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				},
			}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBurstable},
	}
	raw, _ := json.Marshal(pod)
	kind := metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	review, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "705ab4f5-6393-11e8-b7cc-42010a800002", Kind: kind, RequestKind: &kind,
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Name: pod.Name, Namespace: pod.Namespace,
			Operation: admissionv1.Create, Object: k8sruntime.RawExtension{Raw: raw}, DryRun: ptr.To(false),
		},
	})
	return review
}
