package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// kubeletGrace is the binary's --kubelet-grace here: short, so the node-loss
// test is quick, and still long enough that a kubelet stops every pod
// before the sweeper would delete it.
const kubeletGrace = 4 * time.Second

// unsweptNamespace is left alone by the suite's sweeper (admission still
// applies there), for a test that brings its own sweeper up late.
const unsweptNamespace = "k-unswept"

var suite struct {
	root     string
	tmp      string
	cluster  *testenv.Cluster
	client   client.Client
	binary   string
	enforcer *testenv.Enforcer
}

var keys = deadline.NewKeys(deadline.DefaultPrefix)

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	code, err := runSuite(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet test suite setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runSuite(m *testing.M) (int, error) {
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	suite.root = filepath.Dir(filepath.Dir(wd))
	if suite.tmp, err = os.MkdirTemp("", "apd-kubelet-"); err != nil {
		return 0, err
	}
	keep := os.Getenv("APD_KEEP_LOGS") != ""
	if !keep {
		defer os.RemoveAll(suite.tmp)
	}
	suite.binary = filepath.Join(suite.tmp, "airflow-pod-deadline")
	if err := testenv.BuildBinary(suite.root, suite.binary); err != nil {
		return 0, err
	}
	ctx := context.Background()
	suite.cluster, err = testenv.StartCluster(ctx, filepath.Join(suite.root, "bin"), testenv.ClusterOptions{
		Options: testenv.Options{Dir: suite.tmp},
		Nodes:   2,
	})
	if err != nil {
		return 0, err
	}
	defer func() { _ = suite.cluster.Stop() }()
	suite.client = suite.cluster.Client
	suite.enforcer, err = testenv.StartEnforcer(ctx, suite.client, suite.binary, suite.cluster.Kubeconfig,
		filepath.Join(suite.tmp, "enforcer"), filepath.Join(suite.root, "manifests", "install.yaml"),
		"--kubelet-grace="+kubeletGrace.String(), "--exclude-namespaces="+unsweptNamespace)
	if err != nil {
		return 0, err
	}
	defer func() { _ = suite.enforcer.Stop(15 * time.Second) }()
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "airflow-pod-deadline log (last lines):\n%s\n", suite.enforcer.Tail(60))
		if keep {
			fmt.Fprintf(os.Stderr, "logs kept in %s\n", suite.tmp)
		}
	}
	return code, nil
}

// namedNamespace creates namespace name for one test and deletes it afterwards.
func namedNamespace(t testing.TB, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	require.NoError(t, suite.client.Create(context.Background(), ns))
	t.Cleanup(func() { _ = suite.client.Delete(context.Background(), ns) })
	return ns.Name
}

// podWatch records every version of one pod the API server sends.
type podWatch struct {
	mu   sync.Mutex
	seen []*corev1.Pod
}

// watchPod records the pod's versions from now until the test ends.
func watchPod(t *testing.T, pod *corev1.Pod) *podWatch {
	t.Helper()
	cs, err := kubernetes.NewForConfig(suite.cluster.Config)
	require.NoError(t, err)
	w, err := cs.CoreV1().Pods(pod.Namespace).Watch(context.Background(), metav1.ListOptions{FieldSelector: "metadata.name=" + pod.Name})
	require.NoError(t, err)
	t.Cleanup(w.Stop)
	pw := &podWatch{}
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok {
				pw.mu.Lock()
				pw.seen = append(pw.seen, p)
				pw.mu.Unlock()
			}
		}
	}()
	return pw
}

// last returns the newest recorded version for which cond holds.
func (w *podWatch) last(t *testing.T, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.seen) - 1; i >= 0; i-- {
		if cond(w.seen[i]) {
			return w.seen[i]
		}
	}
	require.FailNow(t, "no such version of the pod was seen", "%d versions", len(w.seen))
	return nil
}

// pinnedPod is testenv.KPOPod running script, with a budget of timeout from
// admission, on the first hollow node.
func pinnedPod(ns string, timeout time.Duration, script string) *corev1.Pod {
	p := testenv.KPOPod(ns, script, map[string]string{keys.Timeout: timeout.String()}, nil)
	p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": testenv.NodeNamePrefix + "0"}
	return p
}

// gated holds the pod back from scheduling until ungate: its start, and so
// its startTime, is then as late as the test wants.
func gated(pod *corev1.Pod) *corev1.Pod {
	pod.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "airflow-pod-deadline.io/test-hold"}}
	return pod
}

func ungate(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, suite.client.Get(ctx, client.ObjectKeyFromObject(pod), pod))
	patch := client.MergeFrom(pod.DeepCopy())
	pod.Spec.SchedulingGates = nil
	require.NoError(t, suite.client.Patch(ctx, pod, patch))
}

// waitFor polls the pod until cond holds (a gone pod is passed as nil) and
// returns it with the instant cond was first seen to hold.
func waitFor(t *testing.T, pod *corev1.Pod, timeout time.Duration, what string, cond func(*corev1.Pod) bool) (*corev1.Pod, time.Time) {
	t.Helper()
	end := time.Now().Add(timeout)
	for {
		p, _ := testenv.Lookup(t, suite.client, pod)
		if cond(p) {
			return p, time.Now()
		}
		if time.Now().After(end) {
			require.FailNowf(t, "timed out", "pod %s/%s: %s not seen within %s; last: %s", pod.Namespace, pod.Name, what, timeout, describe(p))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "gone"
	}
	return fmt.Sprintf("phase=%s reason=%q node=%q deleting=%v ads=%v containers=%+v", p.Status.Phase, p.Status.Reason,
		p.Spec.NodeName, p.DeletionTimestamp != nil, p.Spec.ActiveDeadlineSeconds, p.Status.ContainerStatuses)
}

func running(p *corev1.Pod) bool {
	return p != nil && p.Status.Phase == corev1.PodRunning && p.Status.StartTime != nil
}

func terminal(p *corev1.Pod) bool {
	return p != nil && (p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded)
}

// deadlineOf reads the pod's execution deadline as the sweeper does (the
// webhook stamped it; a timeout counts from the end of the creation second).
func deadlineOf(t *testing.T, p *corev1.Pod) time.Time {
	t.Helper()
	d, ok, errs := keys.Resolve(keys.Values(p.Annotations), deadline.CreationAnchor(p.CreationTimestamp.Time))
	require.Empty(t, errs)
	require.True(t, ok, "pod has no deadline")
	return d.At
}

// baseTerminated returns the base container's terminated state.
func baseTerminated(t *testing.T, p *corev1.Pod) *corev1.ContainerStateTerminated {
	t.Helper()
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == "base" {
			require.NotNil(t, cs.State.Terminated, "base container not terminated: %+v", cs.State)
			return cs.State.Terminated
		}
	}
	require.FailNow(t, "no status for the base container", describe(p))
	return nil
}

// waitEvents waits until n events.k8s.io/v1 events about the pod have
// reason (they are sent asynchronously) and returns them.
func waitEvents(t *testing.T, pod *corev1.Pod, reason string, n int) []eventsv1.Event {
	t.Helper()
	end := time.Now().Add(15 * time.Second)
	for {
		got := testenv.Events(t, suite.client, pod, reason)
		if len(got) >= n || time.Now().After(end) {
			require.Len(t, got, n, "events %s about pod %s", reason, pod.Name)
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ceilSecond is t rounded up to a whole second: the API server keeps
// startTime and finishedAt in whole seconds (truncated).
func ceilSecond(t time.Time) time.Time {
	if tr := t.Truncate(time.Second); !tr.Equal(t) {
		return tr.Add(time.Second)
	}
	return t
}
