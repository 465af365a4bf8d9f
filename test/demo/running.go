package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Scene 4: a pod that runs is stopped by the kubelet at its deadline. The
// sweeper lowered activeDeadlineSeconds when the pod started (it counts from
// startTime, and the pod started after its admission), so the kubelet's own
// deadline is the task's.
func (d *demo) kubeletStopsRunningPod(ctx context.Context) error {
	name := kpoPodName("runs_too_long")
	d.scene(4, fmt.Sprintf("A pod that runs past its %s execution_timeout", runBudget),
		"This one runs (sleep 1800, as in the upstream Airflow report), but only after",
		"waiting for a node (a scheduling gate, lifted after a few seconds, stands in for a",
		"cluster autoscaler adding one). activeDeadlineSeconds counts from the start, so",
		"when it starts the sweeper lowers it to the seconds left; at the deadline the",
		"kubelet itself stops the pod: Failed, DeadlineExceeded.")
	gated := strings.Replace(kpoPodYAML(name, "runs_too_long", timeoutKey, runBudget.String(), ""),
		"spec:\n", "spec:\n  schedulingGates:\n    - name: example.com/waiting-for-a-node\n", 1)
	if _, err := d.kubectl(ctx, gated, "create", "-f", "-"); err != nil {
		return fmt.Errorf("kubectl create failed: %w", err)
	}
	pod := &corev1.Pod{}
	key := types.NamespacedName{Namespace: namespace, Name: name}
	if err := d.client.Get(ctx, key, pod); err != nil {
		return err
	}
	deadline, err := time.Parse(time.RFC3339Nano, pod.Annotations[deadlineKey])
	if err != nil {
		return fmt.Errorf("annotation %s: %w", deadlineKey, err)
	}
	if pod.Spec.ActiveDeadlineSeconds == nil {
		return fmt.Errorf("pod %s was admitted without activeDeadlineSeconds", name)
	}
	admittedADS := *pod.Spec.ActiveDeadlineSeconds

	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(gateHold):
	}
	d.say("", fmt.Sprintf("%s later, a node is there:", gateHold))
	if _, err := d.kubectl(ctx, "", "patch", "pod", name, "--type=json", "-p", `[{"op":"remove","path":"/spec/schedulingGates"}]`); err != nil {
		return fmt.Errorf("kubectl patch failed: %w", err)
	}
	d.say("", "Watch it start, get its deadline lowered, and stop (kubectl's default STATUS column",
		"shows the container's reason, Error; these columns show the pod's):")
	var stopped time.Time
	_, ok, err := d.kubectlUntil(ctx, time.Until(deadline)+30*time.Second, func(line string) bool {
		stopped = time.Now()
		return strings.Contains(line, "DeadlineExceeded")
	}, "get", "pod", name, "--watch", "-o",
		"custom-columns=NAME:.metadata.name,PHASE:.status.phase,REASON:.status.reason,START:.status.startTime,ACTIVE-DEADLINE-SECONDS:.spec.activeDeadlineSeconds")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !ok {
		return fmt.Errorf("pod %s was not stopped with DeadlineExceeded within 30s of its deadline %s (kubectl: %v)",
			name, deadline.UTC().Format(time.RFC3339Nano), err)
	}
	d.say("(the demo stops watching here)")
	if stopped.Before(deadline) {
		return fmt.Errorf("pod %s stopped %s before its deadline", name, deadline.Sub(stopped).Round(time.Millisecond))
	}

	if err := d.client.Get(ctx, key, pod); err != nil {
		return err
	}
	if pod.Status.Phase != corev1.PodFailed || pod.Status.Reason != "DeadlineExceeded" {
		return fmt.Errorf("pod %s is %s/%s, want Failed/DeadlineExceeded", name, pod.Status.Phase, pod.Status.Reason)
	}
	if pod.Status.StartTime == nil || pod.Spec.ActiveDeadlineSeconds == nil {
		return fmt.Errorf("pod %s has no startTime or activeDeadlineSeconds", name)
	}
	// The sweeper lowers activeDeadlineSeconds at start to end the pod at the
	// deadline rounded up, then one second less at the deadline itself so
	// the kubelet stops it at once: the instant is within a second of it.
	stopAt := pod.Status.StartTime.Add(time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second)
	if stopAt.Before(deadline.Add(-time.Second)) || stopAt.After(deadline.Add(time.Second)) {
		return fmt.Errorf("startTime %s + activeDeadlineSeconds %d = %s, want the deadline %s",
			pod.Status.StartTime.UTC().Format(time.RFC3339), *pod.Spec.ActiveDeadlineSeconds, stopAt.UTC().Format(time.RFC3339), deadline.UTC().Format(time.RFC3339Nano))
	}
	code := int32(0)
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Terminated != nil {
			code = cs.State.Terminated.ExitCode
		}
	}
	if code == 0 {
		return fmt.Errorf("pod %s: the base container did not end with a non-zero exit code", name)
	}

	d.say("", "kubectl describe shows why it ended, and the sweeper's events from its start and its deadline:")
	if _, err := d.kubectlGrep(ctx, `^(Status|Reason|Message|Start Time|Active Deadline Seconds):|Exit Code|ActiveDeadlineClamped`,
		"describe", "pod", name); err != nil {
		return fmt.Errorf("kubectl describe failed: %w", err)
	}
	if *pod.Spec.ActiveDeadlineSeconds >= admittedADS {
		return fmt.Errorf("pod %s: activeDeadlineSeconds %d was not lowered at start (admitted with %d)", name, *pod.Spec.ActiveDeadlineSeconds, admittedADS)
	}
	d.passed = append(d.passed, fmt.Sprintf("running pod: activeDeadlineSeconds %d -> %d (lowered at start and at the deadline), stopped by the kubelet with DeadlineExceeded %.1fs after its deadline (exit code %d)",
		admittedADS, *pod.Spec.ActiveDeadlineSeconds, stopped.Sub(deadline).Seconds(), code))
	return nil
}
