package controlplane

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// TestSweeperActsOnlyWhereTheWebhooksServe: the chart derives the sweeper's
// exclusions and the webhooks' namespaceSelector from one value
// (webhook.excludeNamespaces), and the binary adds kube-system and its own
// namespace whatever its flags say. Run with only the user's list and
// $POD_NAMESPACE set, as a hand-written Deployment would, the sweeper ends a
// pod past its deadline in a served namespace and leaves the same pod alone
// in the excluded namespace, its own namespace and kube-system.
func TestSweeperActsOnlyWhereTheWebhooksServe(t *testing.T) {
	ctx := context.Background()
	release, excluded, served := testenv.NewNamespace(t, suite.client), testenv.NewNamespace(t, suite.client), testenv.NewNamespace(t, suite.client)

	// The chart: one value, the same list on both sides.
	m := helm().Render(t, "apd-scope", release, helmchart.Values{}.With("webhook.excludeNamespaces", []any{excluded}))
	_, val := m.WebhookConfigs(t, "apd-scope-airflow-pod-deadline")
	args, _ := m.Args(t)
	want := []string{"kube-system", release, excluded}
	for _, w := range val.Webhooks {
		assert.Equal(t, want, helmchart.ExcludedNamespaces(t, w.NamespaceSelector), w.Name)
	}
	assert.Equal(t, "kube-system,"+release+","+excluded, args["exclude-namespaces"])

	// The binary, given only the user's list; a prefix of its own keeps
	// every other test's pods (and the shared webhook) out of it.
	prefix := "scope-test.airflow-pod-deadline.io"
	keys := deadline.NewKeys(prefix)
	t.Setenv("POD_NAMESPACE", release)
	startTestProc(t, "--enable-webhook=false", "--annotation-prefix="+prefix, "--exclude-namespaces="+excluded)

	due := deadline.Format(time.Now().Add(2 * time.Second))
	podIn := func(ns string) *corev1.Pod {
		pod := testenv.KPOPod(ns, testenv.LongSleep, map[string]string{keys.Deadline: due}, nil)
		pod.Name = "scope-" + pod.Name
		testenv.Create(t, suite.client, pod)
		t.Cleanup(func() { _ = suite.client.Delete(ctx, pod) })
		return pod
	}
	spared := []*corev1.Pod{podIn(excluded), podIn(release), podIn("kube-system")}
	ended := podIn(served)

	waitDeleting(t, ended) // after the deadline of every pod above
	waitEvent(t, ended, sweeper.ReasonExceeded)
	for _, pod := range spared {
		got := &corev1.Pod{}
		err := suite.client.Get(ctx, client.ObjectKeyFromObject(pod), got)
		require.False(t, apierrors.IsNotFound(err), "%s/%s was deleted", pod.Namespace, pod.Name)
		require.NoError(t, err)
		assert.Nil(t, got.DeletionTimestamp, "%s/%s was deleted", pod.Namespace, pod.Name)
		assert.Empty(t, testenv.CoreEvents(t, suite.client, pod, sweeper.ReasonExceeded), "%s", pod.Namespace)
	}
}
