package controlplane

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// scopedQuota creates a ResourceQuota on pods with one scope, and writes the
// status the quota controller would (hard, nothing used yet): this suite runs
// no kube-controller-manager, and ResourceQuota admission refuses pods while a
// matching quota has no status. From there admission itself charges
// status.used for every pod it admits.
func scopedQuota(t *testing.T, cs kubernetes.Interface, ns, name string, scope corev1.ResourceQuotaScope, pods int64) {
	t.Helper()
	ctx := context.Background()
	hard := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(pods, resource.DecimalSI)}
	q, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard, Scopes: []corev1.ResourceQuotaScope{scope}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	q.Status = corev1.ResourceQuotaStatus{Hard: hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}
	_, err = cs.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, q, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func usedPods(t *testing.T, cs kubernetes.Interface, ns, name string) int64 {
	t.Helper()
	q, err := cs.CoreV1().ResourceQuotas(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	used := q.Status.Used[corev1.ResourcePods]
	return used.Value()
}

// A pod with spec.activeDeadlineSeconds is in the Terminating quota scope,
// one without it in NotTerminating (Kubernetes' quota semantics). The
// webhook sets activeDeadlineSeconds on every annotated pod, so a KPO pod
// that carried none moves from NotTerminating to Terminating: quotas scoped
// NotTerminating stop counting it and Terminating ones start (docs/install.md,
// "ResourceQuota scopes"). ResourceQuota admission runs after the mutating
// webhooks, so it sees the clamped pod.
func TestWebhookMovesPodsIntoTerminatingQuotaScope(t *testing.T) {
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(suite.cfg)
	require.NoError(t, err)

	t.Run("status.used", func(t *testing.T) {
		ns := testenv.NewNamespace(t, suite.client)
		scopedQuota(t, cs, ns, "not-terminating", corev1.ResourceQuotaScopeNotTerminating, 10)
		scopedQuota(t, cs, ns, "terminating", corev1.ResourceQuotaScopeTerminating, 10)

		// Without the annotation the pod is not sent to the webhook and keeps
		// no activeDeadlineSeconds: NotTerminating counts it.
		plain, err := cs.CoreV1().Pods(ns).Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, nil, nil), metav1.CreateOptions{})
		require.NoError(t, err)
		require.Nil(t, plain.Spec.ActiveDeadlineSeconds)
		assert.Equal(t, int64(1), usedPods(t, cs, ns, "not-terminating"))
		assert.Equal(t, int64(0), usedPods(t, cs, ns, "terminating"))

		// The same pod with a deadline: the webhook sets activeDeadlineSeconds,
		// and Terminating counts it instead.
		annotated, err := cs.CoreV1().Pods(ns).Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{timeoutKey: "1h"}, nil), metav1.CreateOptions{})
		require.NoError(t, err)
		require.NotNil(t, annotated.Spec.ActiveDeadlineSeconds, "the webhook set activeDeadlineSeconds")
		assert.Equal(t, int64(1), usedPods(t, cs, ns, "not-terminating"), "the annotated pod is not in NotTerminating")
		assert.Equal(t, int64(1), usedPods(t, cs, ns, "terminating"), "the annotated pod is in Terminating")
	})

	t.Run("hard limits at admission", func(t *testing.T) {
		// No pod may be NotTerminating here: an unannotated pod is refused,
		// the annotated one is admitted, because it reaches quota admission
		// with activeDeadlineSeconds set.
		ns := testenv.NewNamespace(t, suite.client)
		scopedQuota(t, cs, ns, "no-long-running", corev1.ResourceQuotaScopeNotTerminating, 0)
		_, err := cs.CoreV1().Pods(ns).Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, nil, nil), metav1.CreateOptions{})
		require.Error(t, err)
		assert.True(t, apierrors.IsForbidden(err), "%v", err)
		assert.Contains(t, err.Error(), "exceeded quota: no-long-running")
		_, err = cs.CoreV1().Pods(ns).Create(ctx, testenv.KPOPod(ns, testenv.LongSleep, map[string]string{timeoutKey: "1h"}, nil), metav1.CreateOptions{})
		require.NoError(t, err, "the annotated pod is Terminating once clamped")

		// And the reverse: no Terminating pod allowed refuses the annotated pod.
		ns2 := testenv.NewNamespace(t, suite.client)
		scopedQuota(t, cs, ns2, "no-deadline-pods", corev1.ResourceQuotaScopeTerminating, 0)
		_, err = cs.CoreV1().Pods(ns2).Create(ctx, testenv.KPOPod(ns2, testenv.LongSleep, nil, nil), metav1.CreateOptions{})
		require.NoError(t, err, "an unannotated pod without activeDeadlineSeconds is NotTerminating")
		_, err = cs.CoreV1().Pods(ns2).Create(ctx, testenv.KPOPod(ns2, testenv.LongSleep, map[string]string{timeoutKey: "1h"}, nil), metav1.CreateOptions{})
		require.Error(t, err)
		assert.True(t, apierrors.IsForbidden(err), "%v", err)
		assert.Contains(t, err.Error(), "exceeded quota: no-deadline-pods")
	})
}
