package controlplane

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// updaterOnly is a user allowed nothing on pods but get, update and patch in
// namespace ns: someone who may edit a pod but not delete it, and did not
// create it.
func updaterOnly(t *testing.T, ns, user string) kubernetes.Interface {
	t.Helper()
	return userWith(t, ns, user, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "update", "patch"}})
}

// userWith is a user granted only rule in namespace ns. Its requests go
// through the admin's credentials with impersonation, so the API server
// authorizes them as that user alone.
func userWith(t *testing.T, ns, user string, rule rbacv1.PolicyRule) kubernetes.Interface {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user},
		Rules:      []rbacv1.PolicyRule{rule},
	}
	require.NoError(t, suite.client.Create(ctx, role))
	require.NoError(t, suite.client.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}))
	cfg := rest.CopyConfig(suite.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cs
}

// TestRBACUpdaterCannotDecideDeadlines is the confused-deputy scenario of
// SECURITY.md against the real API server, the shared webhook (the
// configurations of manifests/install.yaml) and a real sweeper: a user who
// may only get/update/patch pods tries to give a deadline to, shorten,
// extend or remove the deadline of, and change or remove each identity
// annotation of, Pending and Running pods it did not create. Every attempt is
// refused with a message naming the annotation, nothing is ended once the
// would-be deadlines have passed, the same user can still change labels and
// other annotations, and pods their owner created with a deadline are
// enforced as before.
func TestRBACUpdaterCannotDecideDeadlines(t *testing.T) {
	ctx := context.Background()
	ns := testenv.NewNamespace(t, suite.client)
	// The real binary, sweeper on, in this namespace (the shared webhook
	// server admits; this one only sweeps).
	startTestProc(t, "--enable-webhook=false", "--namespace="+ns, "--kubelet-grace=1s")
	mallory := updaterOnly(t, ns, "mallory")

	_, err := mallory.CoreV1().Pods(ns).Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, nil, nil), metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "the user may not create pods: %v", err)

	identityAnnotations := map[string]string{
		keys.Instance: "prod", keys.DagID: "etl", keys.RunID: "scheduled__2026-05-20T09:00:00+00:00",
		keys.TaskID: "load", keys.MapIndex: "-1", keys.TryNumber: "1",
	}
	// The owner's pods: two with a deadline an hour away and an
	// activeDeadlineSeconds below it (the webhook keeps it, the sweeper never
	// needs to lower it, so "unchanged" is exact), two without any.
	owned := func(name string, annotations map[string]string, ads *int64, phase corev1.PodPhase) *corev1.Pod {
		pod := testenv.KPOPod(ns, testenv.LongSleep, annotations, ads)
		pod.Name = name
		pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
		testenv.Create(t, suite.client, pod)
		if phase == corev1.PodRunning {
			playKubelet(t, pod, corev1.PodRunning)
		}
		return testenv.Get(t, suite.client, pod)
	}
	withDeadline := func() map[string]string {
		a := map[string]string{timeoutKey: "1h"}
		maps.Copy(a, identityAnnotations)
		return a
	}
	victims := []*corev1.Pod{
		owned("pending-with-deadline", withDeadline(), ptr.To[int64](1800), corev1.PodPending),
		owned("running-with-deadline", withDeadline(), ptr.To[int64](1800), corev1.PodRunning),
		owned("pending-without", nil, nil, corev1.PodPending),
		owned("running-without", nil, nil, corev1.PodRunning),
	}
	for _, v := range victims[:2] {
		require.NotEmpty(t, v.Annotations[deadlineKey], "the webhook stamped the deadline")
		require.Equal(t, ptr.To[int64](1800), v.Spec.ActiveDeadlineSeconds)
	}

	patch := func(pod *corev1.Pod, annotations map[string]any) error {
		body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
		require.NoError(t, err)
		_, err = mallory.CoreV1().Pods(ns).Patch(ctx, pod.Name, types.MergePatchType, body, metav1.PatchOptions{})
		return err
	}
	soon := deadline.Format(time.Now().Add(2 * time.Second))
	type attempt struct {
		name        string
		annotations map[string]any // a JSON merge patch; nil removes
		denial      string         // what the refusal must say
	}
	const refused = `admission webhook "validate.airflow-pod-deadline.io" denied the request: `
	const why = "; airflow-pod-deadline annotations are set only when the pod is created, by its creator"
	annotation := func(key string) string { return "metadata.annotations[" + key + "]: Forbidden: " }
	var furthest time.Time // the latest deadline any refused attempt asked for
	for _, v := range victims {
		stamped := v.Annotations[deadlineKey]
		var attempts []attempt
		if stamped == "" {
			attempts = []attempt{
				{"add a deadline", map[string]any{deadlineKey: soon}, annotation(deadlineKey) + `cannot be added by an update (new value "` + soon + `")` + why},
				{"add a timeout", map[string]any{timeoutKey: "1s"}, annotation(timeoutKey) + `cannot be added by an update (new value "1s")` + why},
				{"add an identity", map[string]any{keys.DagID: "etl"}, annotation(keys.DagID) + `cannot be added by an update`},
			}
		} else {
			at, err := time.Parse(time.RFC3339Nano, stamped)
			require.NoError(t, err)
			extended := deadline.Format(at.Add(time.Hour))
			attempts = []attempt{
				{"shorten the deadline", map[string]any{deadlineKey: soon}, annotation(deadlineKey) + `cannot be changed from "` + stamped + `" to "` + soon + `"` + why},
				{"shorten the timeout", map[string]any{timeoutKey: "1s"}, annotation(timeoutKey) + `cannot be changed from "1h" to "1s"` + why},
				{"extend the deadline", map[string]any{deadlineKey: extended}, annotation(deadlineKey) + `cannot be changed from "` + stamped + `" to "` + extended + `"`},
				{"remove the deadline", map[string]any{deadlineKey: nil}, annotation(deadlineKey) + `cannot be removed (value "` + stamped + `")` + why},
				{"remove the timeout", map[string]any{timeoutKey: nil}, annotation(timeoutKey) + `cannot be removed (value "1h")`},
				{"remove both", map[string]any{deadlineKey: nil, timeoutKey: nil}, annotation(timeoutKey) + `cannot be removed`},
				{"empty the deadline", map[string]any{deadlineKey: ""}, annotation(deadlineKey) + `cannot be changed from "` + stamped + `" to ""`},
				// activeDeadlineSeconds was below the budget: nothing was clamped.
				{"add clamped-from", map[string]any{keys.ClampedFrom: "60"}, annotation(keys.ClampedFrom) + `cannot be added by an update`},
				{"remove admitted", map[string]any{keys.Admitted: nil}, annotation(keys.Admitted) + `cannot be removed`},
			}
			for key, value := range identityAnnotations {
				attempts = append(attempts,
					attempt{"change " + key, map[string]any{key: "other"}, annotation(key) + `cannot be changed from "` + value + `" to "other"` + why},
					attempt{"remove " + key, map[string]any{key: nil}, annotation(key) + `cannot be removed (value "` + value + `")` + why})
			}
		}
		for _, a := range attempts {
			err := patch(v, a.annotations)
			// Not fatal: were one let through, the checks below show what
			// the sweeper then did to the pod.
			if !assert.Error(t, err, "%s: %s was let through", v.Name, a.name) {
				continue
			}
			assert.True(t, apierrors.IsForbidden(err), "%s: %s: a 403: %v", v.Name, a.name, err)
			assert.Contains(t, err.Error(), refused, "%s: %s", v.Name, a.name)
			assert.Contains(t, err.Error(), a.denial, "%s: %s", v.Name, a.name)
			t.Logf("%s: %s: %v", v.Name, a.name, err)
		}
		// A PUT is an UPDATE too.
		pod := testenv.Get(t, suite.client, v)
		pod.Annotations = map[string]string{deadlineKey: soon}
		_, err := mallory.CoreV1().Pods(ns).Update(ctx, pod, metav1.UpdateOptions{})
		if assert.Error(t, err, "%s: a PUT giving it a deadline of its own was let through", v.Name) {
			assert.Contains(t, err.Error(), refused)
			assert.Contains(t, err.Error(), annotation(deadlineKey))
			t.Logf("%s: PUT with annotations replaced by a deadline: %v", v.Name, err)
		}
	}
	furthest = time.Now().Add(2 * time.Second)

	// Everything else an update allows still works for that user.
	for _, v := range victims {
		require.NoError(t, patch(v, map[string]any{"team": "data", "note": "edited by mallory"}), "%s: other annotations", v.Name)
		require.NoError(t, patch(v, map[string]any{"note": nil}), "%s: removing another annotation", v.Name)
		_, err := mallory.CoreV1().Pods(ns).Patch(ctx, v.Name, types.MergePatchType, []byte(`{"metadata":{"labels":{"already_checked":"True"}}}`), metav1.PatchOptions{})
		require.NoError(t, err, "%s: KPO's already_checked label", v.Name)
	}

	// The owner's own deadlines are enforced as before, and they fall after
	// every deadline the user asked for: once they have been acted on, so
	// would any of those have been.
	pendingControl := owned("owner-pending", map[string]string{timeoutKey: "3s"}, nil, corev1.PodPending)
	runningControl := owned("owner-running", map[string]string{timeoutKey: "3s"}, nil, corev1.PodRunning)
	for _, c := range []*corev1.Pod{pendingControl, runningControl} {
		at, err := time.Parse(time.RFC3339Nano, c.Annotations[deadlineKey])
		require.NoError(t, err)
		require.True(t, at.After(furthest), "the owner's deadline %s falls after the user's %s", at, furthest)
	}
	waitDeleting(t, pendingControl)
	waitEvent(t, pendingControl, sweeper.ReasonExceeded)
	// Lowered at its deadline, then deleted once the kubelet grace is over
	// (no kubelet here stops it): the backstop a started pod would meet.
	waitDeleting(t, runningControl)

	for _, v := range victims {
		if !assert.False(t, deleting(t, v), "%s was deleted", v.Name) {
			continue
		}
		got := testenv.Get(t, suite.client, v)
		assert.Equal(t, v.Spec.ActiveDeadlineSeconds, got.Spec.ActiveDeadlineSeconds, "%s: activeDeadlineSeconds", v.Name)
		for key, value := range v.Annotations {
			if strings.HasPrefix(key, deadline.DefaultPrefix+"/") {
				assert.Equal(t, value, got.Annotations[key], "%s: %s", v.Name, key)
			}
		}
		assert.Equal(t, "data", got.Annotations["team"], "%s: the allowed edit stuck", v.Name)
		for _, reason := range []string{sweeper.ReasonExceeded, sweeper.ReasonClamped} {
			assert.Empty(t, testenv.CoreEvents(t, suite.client, v, reason), "%s: %s", v.Name, reason)
		}
	}
}

// TestRBACStatusWriterAndBinderCannotSetDeadlines covers the two other ways
// to write a pod's annotations after create, which the validating webhook's
// second entry (validate-subresources) guards: the API server keeps the
// annotations an UPDATE of pods/status sends, and copies a Binding's
// annotations onto the pod it binds. A user holding only pods/status, or only
// pods/binding, cannot give a pod a deadline that way; the kubelet's and the
// scheduler's ordinary writes, which carry none of ours, never reach the
// webhook at all.
func TestRBACStatusWriterAndBinderCannotSetDeadlines(t *testing.T) {
	ctx := context.Background()
	ns := testenv.NewNamespace(t, suite.client)
	statusWriter := userWith(t, ns, "status-writer", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/status"}, Verbs: []string{"get", "update", "patch"}})
	binder := userWith(t, ns, "binder", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/binding"}, Verbs: []string{"create"}})
	const refused = `admission webhook "validate-subresources.airflow-pod-deadline.io" denied the request: `
	soon := deadline.Format(time.Now().Add(time.Second))

	owned := testenv.Create(t, suite.client, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{timeoutKey: "1h", keys.DagID: "etl"}, nil))
	plain := testenv.Create(t, suite.client, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{"team": "data"}, nil))
	statusPatch := func(pod *corev1.Pod, body string) error {
		_, err := statusWriter.CoreV1().Pods(ns).Patch(ctx, pod.Name, types.MergePatchType, []byte(body), metav1.PatchOptions{}, "status")
		return err
	}

	t.Run("pods/status adding a deadline", func(t *testing.T) {
		err := statusPatch(plain, `{"metadata":{"annotations":{"`+deadlineKey+`":"`+soon+`"}}}`)
		require.Error(t, err)
		assert.True(t, apierrors.IsForbidden(err), "a 403: %v", err)
		assert.Contains(t, err.Error(), refused+"metadata.annotations["+deadlineKey+`]: Forbidden: cannot be added by an update (new value "`+soon+`")`)
		t.Logf("%v", err)
	})
	t.Run("pods/status shortening a deadline", func(t *testing.T) {
		err := statusPatch(owned, `{"metadata":{"annotations":{"`+timeoutKey+`":"1s"}}}`)
		require.Error(t, err)
		assert.Contains(t, err.Error(), refused+"metadata.annotations["+timeoutKey+`]: Forbidden: cannot be changed from "1h" to "1s"`)
		t.Logf("%v", err)
	})
	t.Run("pods/status removing an identity", func(t *testing.T) {
		err := statusPatch(owned, `{"metadata":{"annotations":{"`+keys.DagID+`":null}}}`)
		require.Error(t, err)
		assert.Contains(t, err.Error(), refused+"metadata.annotations["+keys.DagID+`]: Forbidden: cannot be removed (value "etl")`)
		t.Logf("%v", err)
	})
	t.Run("the kubelet's status writes never reach the webhook", func(t *testing.T) {
		calls := webhookCalls(t)
		require.NoError(t, statusPatch(owned, `{"status":{"phase":"Running"}}`))
		require.NoError(t, statusPatch(owned, `{"metadata":{"annotations":{"team":"data"}},"status":{"phase":"Running"}}`))
		assert.Equal(t, calls, webhookCalls(t))
		// Kubernetes does keep metadata a status write sends: the reason
		// pods/status is guarded at all.
		assert.Equal(t, "data", testenv.Get(t, suite.client, owned).Annotations["team"])
	})
	t.Run("pods/binding carrying a deadline", func(t *testing.T) {
		err := binder.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: plain.Name, Annotations: map[string]string{timeoutKey: "1s"}},
			Target:     corev1.ObjectReference{Kind: "Node", Name: "node-1"},
		}, metav1.CreateOptions{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), refused+"metadata.annotations["+timeoutKey+`]: Forbidden: cannot be set through a binding (value "1s")`)
		t.Logf("%v", err)
		assert.Empty(t, testenv.Get(t, suite.client, plain).Spec.NodeName, "not bound")
	})
	t.Run("the scheduler's binding never reaches the webhook", func(t *testing.T) {
		calls := webhookCalls(t)
		require.NoError(t, binder.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: owned.Name, Annotations: map[string]string{"note": "bound"}},
			Target:     corev1.ObjectReference{Kind: "Node", Name: "node-1"},
		}, metav1.CreateOptions{}))
		assert.Equal(t, calls, webhookCalls(t))
		got := testenv.Get(t, suite.client, owned)
		assert.Equal(t, "node-1", got.Spec.NodeName)
		// The API server does copy a Binding's annotations onto the pod:
		// the reason pods/binding is guarded at all.
		assert.Equal(t, "bound", got.Annotations["note"])
	})
	for _, pod := range []*corev1.Pod{owned, plain} {
		got := testenv.Get(t, suite.client, pod)
		for _, key := range keys.Protected() {
			assert.Equal(t, pod.Annotations[key], got.Annotations[key], "%s: %s", pod.Name, key)
		}
		assert.Nil(t, got.DeletionTimestamp)
	}
}
