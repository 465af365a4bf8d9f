package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/certs"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/sweeper"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// rbacPrefix keeps this test's pods away from the shared webhook.
const rbacPrefix = "rbac.airflow-pod-deadline.io"

// impersonating writes a copy of the admin kubeconfig that acts as user (the
// admin may impersonate; the API server then authorizes every request as
// user alone).
func impersonating(t *testing.T, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(suite.kubeconfig)
	require.NoError(t, err)
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// TestRBACChartPermissionsSuffice runs the binary (webhook with self-managed
// TLS, and the leader-elected sweeper) with the chart's own arguments and
// nothing but the chart's ServiceAccount permissions, and plays the main
// scenarios through it; then shows what that account cannot do.
func TestRBACChartPermissionsSuffice(t *testing.T) {
	ctx := context.Background()
	release := testenv.NewNamespace(t, suite.client)
	workload := testenv.NewNamespace(t, suite.client)
	rendered, err := helm().Template(t, "apd-rbac", release, helmchart.Values{}.With("annotationPrefix", rbacPrefix))
	require.NoError(t, err)
	m := helmchart.Parse(t, []byte(rendered))
	name := m.Only(t, "Deployment").GetName() // the chart's fullname

	// Everything the chart renders for access and identity, applied for real.
	var sa string
	for _, u := range m.Objs {
		switch u.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Secret":
			obj := u.DeepCopy()
			require.NoError(t, suite.client.Create(ctx, obj), "%s %s", u.GetKind(), u.GetName())
			if strings.HasPrefix(u.GetKind(), "Cluster") {
				t.Cleanup(func() { _ = suite.client.Delete(ctx, obj) })
			}
			if u.GetKind() == "ServiceAccount" {
				sa = u.GetName()
			}
		}
	}
	require.NotEmpty(t, sa)
	user := "system:serviceaccount:" + release + ":" + sa

	// The chart's own flags, with the addresses a loopback run needs.
	_, chartArgs := m.Args(t)
	var args []string
	for _, a := range chartArgs {
		switch flag, _, _ := strings.Cut(a, "="); flag {
		case "--webhook-port", "--metrics-bind-address", "--health-probe-bind-address", "--cert-dns-names", "--cert-dir":
		default:
			args = append(args, a)
		}
	}
	args = append(args, "--cert-dns-names=127.0.0.1", "--kubelet-grace=1s")
	// The chart's own webhook configurations, reachable on loopback, caBundle
	// left to the binary; the binary as the chart's ServiceAccount.
	install := filepath.Join(t.TempDir(), "rendered.yaml")
	require.NoError(t, os.WriteFile(install, []byte(rendered), 0o600))
	_, p := startEnforcer(t, testenv.EnforcerOptions{
		Kubeconfig: impersonating(t, user), InstallYAML: install, Prefix: rbacPrefix, SelfManaged: true, Args: args,
	})

	// Self-managed TLS: the chart's Secret filled in, both caBundles injected.
	secret := &corev1.Secret{}
	require.NoError(t, suite.client.Get(ctx, client.ObjectKey{Namespace: release, Name: name + "-tls"}, secret))
	assert.NotEmpty(t, secret.Data[certs.CAFile])
	require.Eventually(t, func() bool {
		got := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		require.NoError(t, suite.client.Get(ctx, client.ObjectKey{Name: name}, got))
		return len(got.Webhooks[0].ClientConfig.CABundle) > 0
	}, 30*time.Second, 200*time.Millisecond)

	// Admission through the API server.
	keys := deadline.NewKeys(rbacPrefix)
	clamped := testenv.KPOPod(workload, testenv.LongSleep, map[string]string{keys.Timeout: "1m"}, ptr.To[int64](3600))
	require.Eventually(t, func() bool { return suite.client.Create(ctx, clamped) == nil }, 30*time.Second, 200*time.Millisecond)
	require.NotNil(t, clamped.Spec.ActiveDeadlineSeconds)
	assert.LessOrEqual(t, *clamped.Spec.ActiveDeadlineSeconds, int64(61)) // counted from the admission second

	// The sweeper, once it leads: lower at start (patch), delete when due
	// (delete), events on the pods.
	// Started over 2s after admission (startTime is kept in whole seconds), so
	// the budget from the start is at least a second below the clamp.
	time.Sleep(2100 * time.Millisecond)
	playKubelet(t, clamped, corev1.PodRunning)
	waitEvent(t, clamped, sweeper.ReasonClamped)
	due := testenv.Create(t, suite.client, testenv.KPOPod(workload, testenv.LongSleep, map[string]string{keys.Timeout: "2s"}, nil))
	waitDeleting(t, due)
	waitEvent(t, due, sweeper.ReasonExceeded)
	assert.NotContains(t, p.Tail(1000), "forbidden", "a request was refused for want of a permission")

	// And no more than that.
	cs, err := kubernetes.NewForConfig(suite.cfg)
	require.NoError(t, err)
	for _, attrs := range []authorizationv1.ResourceAttributes{
		{Verb: "list", Resource: "secrets"},
		{Verb: "get", Resource: "secrets", Namespace: release, Name: "someone-elses"},
		{Verb: "list", Resource: "secrets", Namespace: release},
		{Verb: "update", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: "other"},
		{Verb: "list", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"},
		{Verb: "update", Resource: "pods", Namespace: workload},
		{Verb: "create", Resource: "pods", Namespace: workload},
		{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: release, Name: "other"},
		{Verb: "get", Resource: "configmaps", Namespace: workload},
	} {
		review, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + release, "system:authenticated"},
				ResourceAttributes: &attrs,
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		assert.False(t, review.Status.Allowed, "the chart's ServiceAccount may %s %s/%s %q", attrs.Verb, attrs.Group, attrs.Resource, attrs.Name)
	}

}
