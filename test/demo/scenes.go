package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// The annotation contract with the default prefix (README.md, "The annotation
// contract"; the keys are defined in deadline/deadline.go). Spelled out
// here rather than imported: the demo shows users the literal keys.
const (
	deadlineKey    = "airflow-pod-deadline.io/execution-deadline"
	timeoutKey     = "airflow-pod-deadline.io/execution-timeout"
	clampedFromKey = "airflow-pod-deadline.io/clamped-from"
)

const (
	namespace = "default"
	dagID     = "kpo_execution_timeout_demo"
	// budget is the first pod's execution_timeout; it dominates the demo's length.
	budget = 20 * time.Second
	// sweepTimeout is how long after the deadline the sweeper may take to
	// delete the pod before the demo calls it a failure.
	sweepTimeout = 60 * time.Second
	// runBudget is the execution_timeout of the pod that runs (scene 4), and
	// gateHold how long it waits for a node.
	runBudget = 9 * time.Second
	gateHold  = 3 * time.Second
	// nodePoolLabel and missingPool keep scene 1's pod Pending: no node has it.
	nodePoolLabel = "cloud.google.com/gke-nodepool"
	missingPool   = "gpu-pool"
)

// Scene 1: the mutating webhook clamps activeDeadlineSeconds to the budget.
func (d *demo) admitKPOPod(ctx context.Context) error {
	d.pod = kpoPodName("run_long_pod")
	d.scene(1, "A KubernetesPodOperator pod with a 20-second execution_timeout",
		"This is the pod Airflow's KubernetesPodOperator (KPO) creates, with the labels it",
		"sets. The annotation carries the task's execution_timeout (set in the DAG; the",
		"pod_mutation_hook stamps the absolute execution-deadline instead). The pod asks for activeDeadlineSeconds: 3600; the",
		"webhook lowers it to the 20 seconds left and says so in a warning. It also asks",
		"for a node pool this cluster does not have: it will stay Pending (scene 5).")
	before := time.Now()
	out, err := d.kubectl(ctx, kpoPodYAML(d.pod, "run_long_pod", timeoutKey, "20s", missingPool), "create", "-f", "-")
	after := time.Now()
	if err != nil {
		return fmt.Errorf("kubectl create failed: %w", err)
	}
	warning := regexp.MustCompile(`Warning: airflow-pod-deadline: activeDeadlineSeconds 3600 -> (\d+)`).FindStringSubmatch(out)
	if warning == nil {
		return fmt.Errorf("kubectl showed no admission warning %q", "Warning: airflow-pod-deadline: activeDeadlineSeconds 3600 -> ...")
	}

	d.say("", "The stored pod: activeDeadlineSeconds is now 20 (21 if admitted mid-second: the",
		"kubelet counts it from startTime, kept in whole seconds, and the sweeper makes it",
		"exact when the pod starts), and the webhook recorded the absolute deadline",
		"(execution-deadline) and the value it replaced (clamped-from).")
	if _, err := d.kubectlGrep(ctx, "airflow-pod-deadline.io/|activeDeadlineSeconds", "get", "pod", d.pod, "-o", "yaml"); err != nil {
		return fmt.Errorf("kubectl get pod failed: %w", err)
	}

	pod := &corev1.Pod{}
	if err := d.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: d.pod}, pod); err != nil {
		return err
	}
	ads := pod.Spec.ActiveDeadlineSeconds
	if ads == nil || *ads < 1 || *ads > int64(budget.Seconds())+1 {
		return fmt.Errorf("activeDeadlineSeconds is %v, want between 1 and %d", ptrString(ads), int64(budget.Seconds())+1)
	}
	if warning[1] != strconv.FormatInt(*ads, 10) {
		return fmt.Errorf("the warning says -> %s but the pod has activeDeadlineSeconds %d", warning[1], *ads)
	}
	if got := pod.Annotations[clampedFromKey]; got != "3600" {
		return fmt.Errorf("annotation %s is %q, want \"3600\"", clampedFromKey, got)
	}
	stamped := pod.Annotations[deadlineKey]
	deadline, err := time.Parse(time.RFC3339Nano, stamped)
	if err != nil {
		return fmt.Errorf("annotation %s is %q, want an RFC 3339 instant: %w", deadlineKey, stamped, err)
	}
	// Admission happened between before and after: the deadline is 20 s later.
	if deadline.Before(before.Add(budget-time.Second)) || deadline.After(after.Add(budget+time.Second)) {
		return fmt.Errorf("annotation %s is %s, want about %s after the pod's creation at %s",
			deadlineKey, stamped, budget, before.UTC().Format(time.RFC3339))
	}
	d.deadline = deadline
	d.passed = append(d.passed, fmt.Sprintf("KPO pod admitted: activeDeadlineSeconds 3600 -> %d, execution-deadline %s stamped", *ads, stamped))
	return nil
}

// Scene 2: a pod created after its deadline is refused.
func (d *demo) refuseLatePod(ctx context.Context) error {
	name := kpoPodName("arrives_too_late")
	late := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	d.scene(2, "A pod created after its task's deadline",
		"Here the DAG set the absolute form, execution-deadline, and it passed a minute",
		"ago (say the task spent its whole budget before launching the pod). The webhook",
		"refuses the pod; KPO does not retry a 403, so the task fails now with this message.")
	out, err := d.kubectl(ctx, kpoPodYAML(name, "arrives_too_late", deadlineKey, late.Format(time.RFC3339), ""), "create", "-f", "-")
	if err := expectRefusal(err, out, "denied the request", "execution deadline "+late.Format(time.RFC3339)+" passed ",
		"ago; the task has exceeded its execution_timeout"); err != nil {
		return err
	}
	if err := d.expectAbsent(ctx, name); err != nil {
		return err
	}
	ago := regexp.MustCompile(`passed \S+ ago`).FindString(out)
	d.passed = append(d.passed, fmt.Sprintf("pod past its deadline refused: %q", ago+"; the task has exceeded its execution_timeout"))
	return nil
}

// Scene 3: a value the webhook cannot parse is refused, never ignored.
func (d *demo) refuseMalformedAnnotation(ctx context.Context) error {
	name := kpoPodName("bad_annotation")
	d.scene(3, "A malformed annotation",
		"A value the webhook cannot read is refused rather than silently ignored (which",
		"would mean no deadline at all); the message names the annotation and the forms",
		"it accepts.")
	out, err := d.kubectl(ctx, kpoPodYAML(name, "bad_annotation", timeoutKey, "half an hour", ""), "create", "-f", "-")
	if err := expectRefusal(err, out, "denied the request", timeoutKey, `"half an hour"`, "accepted forms"); err != nil {
		return err
	}
	if err := d.expectAbsent(ctx, name); err != nil {
		return err
	}
	d.passed = append(d.passed, "malformed execution-timeout \"half an hour\" refused, naming the key and the accepted forms")
	return nil
}

// Scene 5: the sweeper deletes the first pod, still Pending, at its deadline.
func (d *demo) sweepPendingPod(ctx context.Context) error {
	d.scene(5, "The pod that never starts",
		"No node matches the first pod's node pool, so it stays Pending. activeDeadlineSeconds",
		"counts from the moment a pod starts, so for a Pending pod it never fires. The",
		"sweeper closes that gap: it deletes the pod once its deadline has passed.")
	out, err := d.kubectl(ctx, "", "get", "pod", d.pod)
	if err != nil {
		return fmt.Errorf("kubectl get pod failed: %w", err)
	}
	if !strings.Contains(out, "Pending") {
		return fmt.Errorf("pod %s is not Pending", d.pod)
	}

	d.say("", fmt.Sprintf("Watch it (its deadline, %s, is %s away):",
		d.deadline.UTC().Format(time.RFC3339Nano), time.Until(d.deadline).Round(time.Second)))
	var seen time.Time // when kubectl showed the deletion
	_, swept, err := d.kubectlUntil(ctx, time.Until(d.deadline)+sweepTimeout, func(line string) bool {
		seen = time.Now()
		return gone(line)
	}, "get", "pod", d.pod, "--watch", "--output-watch-events")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !swept {
		return fmt.Errorf("the sweeper did not delete pod %s within %s after its deadline %s (kubectl: %v)",
			d.pod, sweepTimeout, d.deadline.UTC().Format(time.RFC3339Nano), err)
	}
	d.say("(the demo stops watching here)")
	if early := d.deadline.Sub(seen); early > time.Second {
		return fmt.Errorf("pod %s was deleted %s before its deadline", d.pod, early.Round(time.Millisecond))
	}
	if err := d.showDeleted(ctx); err != nil {
		return err
	}

	if err := d.showAuditEvent(ctx); err != nil {
		return err
	}
	if err := d.showDeleteMetric(ctx); err != nil {
		return err
	}
	d.passed = append(d.passed, fmt.Sprintf("Pending pod deleted by the sweeper %.1fs after its deadline (as kubectl --watch saw it); Event and metric recorded",
		seen.Sub(d.deadline).Seconds()))
	return nil
}

// gone reports whether a line of `kubectl get pod --watch
// --output-watch-events` shows the pod deleted (DELETED) or being deleted
// (Terminating: a graceful deletion waits for a kubelet).
func gone(line string) bool {
	fields := strings.Fields(line)
	return len(fields) > 0 && fields[0] == "DELETED" || strings.Contains(line, "Terminating")
}

// showDeleted confirms through the API that the pod is deleted and shows it
// with kubectl. The API server removes a pod that was never scheduled right
// after marking it Terminating; one bound to a node keeps its
// deletionTimestamp (Terminating) until its kubelet has stopped the containers.
func (d *demo) showDeleted(ctx context.Context) error {
	pod := &corev1.Pod{}
	removed := false
	err := poll(ctx, 3*time.Second, func() (bool, error) {
		err := d.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: d.pod}, pod)
		removed = apierrors.IsNotFound(err)
		return removed, err
	})
	if removed {
		d.say("", "The API server removed it right after marking it Terminating: a pod that was",
			"never scheduled has no kubelet to wait for.")
		out, err := d.kubectl(ctx, "", "get", "pod", d.pod)
		if err == nil || !strings.Contains(out, "NotFound") {
			return fmt.Errorf("kubectl get pod %s: want NotFound", d.pod)
		}
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if pod.DeletionTimestamp == nil {
		return fmt.Errorf("pod %s has no deletionTimestamp after the watch showed it deleted (%v)", d.pod, err)
	}
	d.say("", "Deleted: the pod has a deletionTimestamp and stays Terminating, as there is no",
		"kubelet here to stop its containers.")
	_, err = d.kubectl(ctx, "", "get", "pod", d.pod, "-o", `jsonpath={.metadata.deletionTimestamp}{"\n"}`)
	return err
}

// showAuditEvent shows the ExecutionDeadlineExceeded event, which must name
// the Airflow task from KPO's labels.
func (d *demo) showAuditEvent(ctx context.Context) error {
	d.say("", "The audit trail is a Kubernetes Event on the pod, naming the Airflow task:")
	// The binary sends events asynchronously: wait for it before showing it.
	err := poll(ctx, 15*time.Second, func() (bool, error) {
		events := &corev1.EventList{}
		err := d.client.List(ctx, events, client.InNamespace(namespace),
			client.MatchingFields{"reason": "ExecutionDeadlineExceeded", "involvedObject.name": d.pod})
		return len(events.Items) > 0, err
	})
	if err != nil {
		return fmt.Errorf("no ExecutionDeadlineExceeded event for pod %s: %w", d.pod, err)
	}
	out, err := d.kubectl(ctx, "", "get", "events", "--field-selector", "reason=ExecutionDeadlineExceeded")
	if err != nil {
		return fmt.Errorf("kubectl get events failed: %w", err)
	}
	for _, want := range []string{"pod/" + d.pod, "dag_id=" + dagID, "task_id=run_long_pod", "try_number=1"} {
		if !strings.Contains(out, want) {
			return fmt.Errorf("the ExecutionDeadlineExceeded event does not show %q", want)
		}
	}
	return nil
}

// showDeleteMetric shows the sweeper's Prometheus counter of deletions.
func (d *demo) showDeleteMetric(ctx context.Context) error {
	const family = "airflow_pod_deadline_sweeper_actions_total"
	const want = family + `{action="deleted"} 1`
	d.say("", "And the sweeper's Prometheus counter, from the binary's metrics endpoint:")
	err := poll(ctx, 10*time.Second, func() (bool, error) {
		body, err := testenv.HTTPGet(ctx, d.metricsURL)
		return strings.Contains(body, want+"\n"), err
	})
	if _, showErr := d.curlGrep(ctx, d.metricsURL, family); showErr != nil {
		return showErr
	}
	if err != nil {
		return fmt.Errorf("the metrics endpoint does not show %q: %w", want, err)
	}
	return nil
}

// expectRefusal checks that kubectl failed and printed every part of the
// expected denial.
func expectRefusal(err error, out string, want ...string) error {
	switch {
	case err == nil:
		return fmt.Errorf("the pod was admitted; want a refusal")
	case !failed(err):
		return err
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			return fmt.Errorf("the refusal does not say %q", w)
		}
	}
	return nil
}

// expectAbsent checks that a refused pod was not stored after all.
func (d *demo) expectAbsent(ctx context.Context, name string) error {
	err := d.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &corev1.Pod{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("pod %s exists although kubectl reported a refusal", name)
	}
	return err
}

// poll calls cond every 200ms until it is true, the timeout passes or ctx ends.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// kpoPodName names a pod as KPO does: the task_id with dashes and a random
// 8-character suffix (KPO always sets metadata.name, never generateName).
func kpoPodName(taskID string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	suffix := make([]byte, 8)
	_, _ = rand.Read(suffix) // never fails
	for i, b := range suffix {
		suffix[i] = alphabet[int(b)%len(alphabet)]
	}
	return strings.ReplaceAll(taskID, "_", "-") + "-" + string(suffix)
}

// kpoPodYAML is the pod KPO would create for task taskID of the demo DAG:
// its labels, one "base" container, restartPolicy Never, and the
// activeDeadlineSeconds of 3600 a DAG author might have set, plus one
// annotation of our contract.
func kpoPodYAML(name, taskID, annotation, value, nodePool string) string {
	selector := ""
	if nodePool != "" {
		selector = fmt.Sprintf("  nodeSelector:\n    %s: %s\n", nodePoolLabel, nodePool)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels:
    dag_id: %s
    task_id: %s
    run_id: manual__2026-05-20T100000.0000000000-4b5c6d7e8
    try_number: "1"
    kubernetes_pod_operator: "True"
    airflow_version: 3.2.1
    airflow_kpo_in_cluster: "True"
  annotations:
    %s: %s
spec:
  restartPolicy: Never
  activeDeadlineSeconds: 3600
%s  containers:
    - name: base
      image: alpine:3.20
      command: ["sh", "-c", "sleep 1800"]
`, name, dagID, taskID, annotation, strconv.Quote(value), selector)
}

func ptrString(p *int64) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatInt(*p, 10)
}
