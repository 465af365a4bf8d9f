package controlplane

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/webhook"
)

// warnings collects the admission warnings the API server relays to a client.
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}

func clientsetWithWarnings(t *testing.T) (*kubernetes.Clientset, *warnings) {
	w := &warnings{}
	cfg := rest.CopyConfig(suite.cfg)
	cfg.WarningHandler = w
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cs, w
}

// webhookCalls is how many admission reviews the shared webhook server has
// answered, per path, as its own metrics count them.
func webhookCalls(t *testing.T) float64 {
	return suite.webhook.metric(t, "controller_runtime_webhook_requests_total", map[string]string{"webhook": webhook.MutatePath}) +
		suite.webhook.metric(t, "controller_runtime_webhook_requests_total", map[string]string{"webhook": webhook.ValidatePath})
}

func TestWebhookClampsKPOPod(t *testing.T) {
	ctx := context.Background()
	ns := testenv.NewNamespace(t, suite.client)
	cs, warned := clientsetWithWarnings(t)

	before := time.Now()
	created, err := cs.CoreV1().Pods(ns).Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{timeoutKey: "20s"}, ptr.To[int64](3600)), metav1.CreateOptions{})
	require.NoError(t, err)
	after := time.Now()

	require.NotNil(t, created.Spec.ActiveDeadlineSeconds)
	assert.InDelta(t, 20, *created.Spec.ActiveDeadlineSeconds, 1, "activeDeadlineSeconds clamped to the 20s budget")
	assert.Equal(t, "3600", created.Annotations[keys.ClampedFrom])
	stamped, err := time.Parse(time.RFC3339Nano, created.Annotations[deadlineKey])
	require.NoError(t, err, "the webhook stamps the absolute deadline")
	assert.Equal(t, deadline.Format(stamped), created.Annotations[deadlineKey], "stamped in RFC 3339 UTC")
	assert.False(t, stamped.Before(before.Add(20*time.Second).Truncate(time.Millisecond)))
	assert.False(t, stamped.After(after.Add(20*time.Second)))

	seen := warned.take()
	require.Len(t, seen, 1)
	assert.Contains(t, seen[0], "activeDeadlineSeconds 3600 -> ")
	assert.Contains(t, seen[0], created.Annotations[deadlineKey])

	// The object in etcd is the clamped one, not just the create response.
	stored, err := cs.CoreV1().Pods(ns).Get(ctx, created.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, created.Spec.ActiveDeadlineSeconds, stored.Spec.ActiveDeadlineSeconds)
}

func TestWebhookAnswers(t *testing.T) {
	ctx := context.Background()
	ns := testenv.NewNamespace(t, suite.client)
	cs, warned := clientsetWithWarnings(t)
	inAnHour := deadline.Format(time.Now().Add(time.Hour))

	t.Run("smaller activeDeadlineSeconds is kept", func(t *testing.T) {
		created, err := cs.CoreV1().Pods(ns).Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{deadlineKey: inAnHour}, ptr.To[int64](60)), metav1.CreateOptions{})
		require.NoError(t, err)
		assert.Equal(t, ptr.To[int64](60), created.Spec.ActiveDeadlineSeconds)
		assert.NotContains(t, created.Annotations, keys.ClampedFrom)
		assert.Equal(t, inAnHour, created.Annotations[deadlineKey], "a deadline alone keeps its form")
		assert.Empty(t, warned.take())
	})
	t.Run("unset activeDeadlineSeconds is set", func(t *testing.T) {
		created, err := cs.CoreV1().Pods(ns).Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{deadlineKey: inAnHour}, nil), metav1.CreateOptions{})
		require.NoError(t, err)
		require.NotNil(t, created.Spec.ActiveDeadlineSeconds)
		assert.InDelta(t, 3600, *created.Spec.ActiveDeadlineSeconds, 2)
		assert.Equal(t, "unset", created.Annotations[keys.ClampedFrom])
		assert.Len(t, warned.take(), 1)
	})
	t.Run("late pod is refused", func(t *testing.T) {
		late := deadline.Format(time.Now().Add(-12 * time.Second).Truncate(time.Second))
		_, err := cs.CoreV1().Pods(ns).Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{deadlineKey: late}, nil), metav1.CreateOptions{})
		require.Error(t, err)
		assert.True(t, apierrors.IsForbidden(err), "a 403: %v", err)
		assert.Contains(t, err.Error(), `admission webhook "mutate.airflow-pod-deadline.io" denied the request: execution deadline `+late+" passed 1")
		assert.Contains(t, err.Error(), "s ago; the task has exceeded its execution_timeout")
	})
	t.Run("malformed annotation is refused naming the key", func(t *testing.T) {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{timeoutKey: "half an hour"}, nil), metav1.CreateOptions{})
		require.Error(t, err)
		assert.True(t, apierrors.IsForbidden(err), "a 403: %v", err)
		assert.Contains(t, err.Error(), `metadata.annotations[airflow-pod-deadline.io/execution-timeout]: Invalid value: "half an hour"`)
		assert.Contains(t, err.Error(), "accepted forms")
	})
	t.Run("server-side dry run gets the same answer and stores nothing", func(t *testing.T) {
		pod := testenv.KPOPod(ns, testenv.LongSleep, map[string]string{timeoutKey: "PT30S"}, ptr.To[int64](3600))
		created, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		require.NoError(t, err)
		require.NotNil(t, created.Spec.ActiveDeadlineSeconds)
		assert.InDelta(t, 30, *created.Spec.ActiveDeadlineSeconds, 1)
		assert.Len(t, warned.take(), 1)
		_, err = cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err))
	})
}

func TestWebhookGuardsUpdates(t *testing.T) {
	ctx := context.Background()
	ns := testenv.NewNamespace(t, suite.client)
	cs, _ := clientsetWithWarnings(t)
	created, err := cs.CoreV1().Pods(ns).Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{timeoutKey: "1h"}, nil), metav1.CreateOptions{})
	require.NoError(t, err)
	patch := func(body string) error {
		_, err := cs.CoreV1().Pods(ns).Patch(ctx, created.Name, types.MergePatchType, []byte(body), metav1.PatchOptions{})
		return err
	}
	stamped, err := time.Parse(time.RFC3339Nano, created.Annotations[deadlineKey])
	require.NoError(t, err)

	err = patch(`{"metadata":{"annotations":{"` + deadlineKey + `":"` + deadline.Format(stamped.Add(time.Hour)) + `"}}}`)
	require.Error(t, err, "extending the deadline")
	assert.Contains(t, err.Error(), `admission webhook "validate.airflow-pod-deadline.io" denied the request: metadata.annotations[airflow-pod-deadline.io/execution-deadline]: Forbidden: cannot be changed from`)

	err = patch(`{"metadata":{"annotations":{"` + timeoutKey + `":null}}}`)
	require.Error(t, err, "removing the timeout")
	assert.Contains(t, err.Error(), "cannot be removed")

	err = patch(`{"metadata":{"annotations":{"` + deadlineKey + `":null,"` + timeoutKey + `":null}}}`)
	require.Error(t, err, "removing both: only the old object still matches the webhook")
	assert.Contains(t, err.Error(), "cannot be removed")

	// Shortening too: the deadline is the creator's (SECURITY.md).
	err = patch(`{"metadata":{"annotations":{"` + deadlineKey + `":"` + deadline.Format(stamped.Add(-time.Minute)) + `"}}}`)
	require.Error(t, err, "shortening the deadline")
	assert.Contains(t, err.Error(), "cannot be changed from")

	// What KPO does during cleanup passes.
	require.NoError(t, patch(`{"metadata":{"labels":{"already_checked":"True"}}}`))
}

func TestWebhookIsCalledOnlyForAnnotatedPods(t *testing.T) {
	ctx := context.Background()
	ns := testenv.NewNamespace(t, suite.client)

	calls := webhookCalls(t)
	clamped := map[string]string{"webhook": "mutate", "operation": "CREATE", "result": "clamped"}
	clampedBefore := suite.webhook.metric(t, "airflow_pod_deadline_admissions_total", clamped)
	require.NoError(t, suite.client.Create(ctx, plainPod(ns)))
	p := plainPod(ns)
	require.NoError(t, suite.client.Create(ctx, p))
	p.Labels["already_checked"] = "True"
	require.NoError(t, suite.client.Update(ctx, p))
	// An empty value means "no deadline": not sent either, so a webhook
	// outage cannot block a task that opted out that way.
	require.NoError(t, suite.client.Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{deadlineKey: "", timeoutKey: ""}, nil)))
	assert.Equal(t, calls, webhookCalls(t), "no admission review for pods without the annotations")

	// kube-system is never intercepted, not even a late pod.
	late := testenv.KPOPod("kube-system", testenv.LongSleep, map[string]string{deadlineKey: deadline.Format(time.Now().Add(-time.Hour))}, nil)
	require.NoError(t, suite.client.Create(ctx, late))
	t.Cleanup(func() { _ = suite.client.Delete(ctx, late) })
	assert.Equal(t, calls, webhookCalls(t), "no admission review for kube-system")

	// The counter does move for an annotated pod (so the checks above can
	// fail): one mutating review; the validating call is skipped because
	// nothing changed the pod after the mutating webhook.
	annotated := testenv.KPOPod(ns, testenv.LongSleep, map[string]string{timeoutKey: "1h"}, nil)
	require.NoError(t, suite.client.Create(ctx, annotated))
	assert.Equal(t, calls+1, webhookCalls(t), "one mutating review")
	assert.Equal(t, strconv.FormatInt(*annotated.Spec.ActiveDeadlineSeconds, 10), annotated.Annotations[keys.Admitted])
	// An update is validated.
	annotated.Labels["already_checked"] = "True"
	require.NoError(t, suite.client.Update(ctx, annotated))
	assert.Equal(t, calls+2, webhookCalls(t), "one validating review of the update")
	assert.Equal(t, clampedBefore+1, suite.webhook.metric(t, "airflow_pod_deadline_admissions_total", clamped))
}

// TestValidatingCallSkippedOnlyWhenNothingChanged installs the validating
// configuration alone (no mutating webhook: as if a pod bypassed it, or
// another mutator ran after it) for the release namespace, which the shared
// configurations leave out, and shows the API server evaluates the
// departs-from-admission condition: it calls the webhook, which refuses, for
// every pod whose activeDeadlineSeconds exceeds what the mutating webhook
// admitted or that carries no such record, and skips the call otherwise.
func TestValidatingCallSkippedOnlyWhenNothingChanged(t *testing.T) {
	ctx := context.Background()
	const ns = "airflow-pod-deadline" // excluded by the shared configurations
	if err := suite.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		require.True(t, apierrors.IsAlreadyExists(err), "%v", err)
	}
	_, val, err := testenv.WebhookConfigs(installYAML())
	require.NoError(t, err)
	val.Name = "apd-validate-only"
	val.Webhooks = val.Webhooks[:1] // the pod webhook; subresources are not this test's
	val.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	testenv.PointAt(&val.Webhooks[0].ClientConfig, suite.webhookAt, suite.webhookCA)
	require.NoError(t, suite.client.Create(ctx, val))
	t.Cleanup(func() { _ = suite.client.Delete(ctx, val) })

	inAnHour := deadline.Format(time.Now().Add(time.Hour))
	admitted := func(v string) map[string]string {
		a := map[string]string{deadlineKey: inAnHour}
		if v != "" {
			a[keys.Admitted] = v
		}
		return a
	}
	// Wait until the API server calls the new configuration.
	require.Eventually(t, func() bool {
		return suite.client.Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, admitted("5"), ptr.To[int64](7200)), client.DryRunAll) != nil
	}, 30*time.Second, 100*time.Millisecond)

	tests := map[string]struct {
		annotations map[string]string
		ads         int64
		called      bool
	}{
		"as admitted":                  {annotations: admitted("3600"), ads: 3600},
		"lowered since":                {annotations: admitted("3600"), ads: 60},
		"raised after admission":       {annotations: admitted("60"), ads: 7200, called: true},
		"never met the mutator":        {annotations: admitted(""), ads: 7200, called: true},
		"record is not a number":       {annotations: admitted("lots"), ads: 7200, called: true},
		"record longer than 10 digits": {annotations: admitted("99999999999"), ads: 7200, called: true},
		// Only activeDeadlineSeconds is compared (docs/performance.md): a
		// deadline rewritten after admission is not looked at again.
		"deadline rewritten after admission": {
			annotations: map[string]string{deadlineKey: deadline.Format(time.Now().Add(2 * time.Hour)), keys.Admitted: "3600"}, ads: 3600},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := webhookCalls(t)
			pod := testenv.KPOPod(ns, testenv.LongSleep, tc.annotations, ptr.To(tc.ads))
			err := suite.client.Create(ctx, pod, client.DryRunAll)
			assert.Equal(t, tc.called, webhookCalls(t) > before, "webhook called")
			if tc.called {
				require.Error(t, err)
				assert.Contains(t, err.Error(), `admission webhook "validate.airflow-pod-deadline.io" denied the request: spec.activeDeadlineSeconds: Invalid value: 7200: exceeds`)
			} else {
				require.NoError(t, err)
			}
		})
	}
}
