package controlplane

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/certs"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// TestChartArgsAcceptedByBinary feeds each rendering's args to the binary
// built for this run: flag parsing and validation must pass (exit status 2
// and "airflow-pod-deadline: --flag: ..." are how it refuses them); it then
// fails only for the missing kubeconfig.
func TestChartArgsAcceptedByBinary(t *testing.T) {
	for _, c := range helmchart.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			_, list := helm().Render(t, "apd", "ops", c.Values).Args(t)
			missing := filepath.Join(t.TempDir(), "no-kubeconfig")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, suite.binary, append(list, "--kubeconfig="+missing)...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+missing, "POD_NAMESPACE=ops")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				assert.NotEqual(t, 2, exit.ExitCode(), "the binary refused the chart's flags:\n%s", out)
			}
			assert.NotContains(t, string(out), "airflow-pod-deadline: --")
			assert.NotContains(t, string(out), "flag provided but not defined")
		})
	}
}

var installCertManagerCRDs = sync.OnceValue(func() error {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager").Output()
	if err != nil {
		return fmt.Errorf("locating the cert-manager module: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "deploy", "crds")
	_, err = envtest.InstallCRDs(suite.cfg, envtest.CRDInstallOptions{
		Paths: []string{
			filepath.Join(dir, "cert-manager.io_issuers.yaml"),
			filepath.Join(dir, "cert-manager.io_certificates.yaml"),
		},
		ErrorIfPathMissing: true,
	})
	return err
})

// TestChartObjectsDryRun creates every rendered object of every combination
// in the real API server with a server-side dry run: schema, defaulting,
// validation (CEL matchConditions compile, selectors, ports, RBAC) and
// admission all apply, nothing is stored.
//
// cert-manager's Issuer and Certificate are checked against cert-manager's
// own CRDs (the ones in the cert-manager Go module the test already depends
// on, installed into the API server once). The ServiceMonitor is skipped by
// kind: the Prometheus Operator's CRD is not available here, so the API
// server cannot know the kind; TestChartTemplate checks its shape.
func TestChartObjectsDryRun(t *testing.T) {
	require.NoError(t, installCertManagerCRDs())
	ctx := context.Background()
	for i, c := range helmchart.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			ns := testenv.NewNamespace(t, suite.client)
			// A release name per case: cluster-scoped names must not clash
			// with real objects (the shared webhook configurations are
			// named airflow-pod-deadline).
			release := fmt.Sprintf("apd-dry%d", i)
			m := helm().Render(t, release, ns, c.Values)
			applied := 0
			for _, u := range m.Objs {
				if u.GetKind() == "ServiceMonitor" {
					continue // no CRD: see above
				}
				obj := u.DeepCopy()
				if err := suite.client.Create(ctx, obj, client.DryRunAll); err != nil {
					t.Errorf("dry-run create %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
				}
				applied++
			}
			assert.Greater(t, applied, 10)
		})
	}
}

// reviewsFor is how many admission reviews the shared server answers for a
// server-side dry-run create of one annotated pod in ns.
func reviewsFor(t testing.TB, ns string) float64 {
	t.Helper()
	tt, ok := t.(*testing.T)
	require.True(t, ok)
	before := webhookCalls(tt)
	require.NoError(t, suite.client.Create(context.Background(), testenv.KPOPod(ns, testenv.LongSleep, map[string]string{timeoutKey: "1h"}, nil), client.DryRunAll))
	return webhookCalls(tt) - before
}

// TestChartWebhooksLive installs the chart's rendered webhook configurations
// for real (release apd-chart) with their Service reference turned into the
// shared local server's URL, and shows the API server calls the webhooks
// through them: with both the shared and these configurations installed an
// annotated pod costs two reviews more, except in the namespaces the chart
// excludes.
func TestChartWebhooksLive(t *testing.T) {
	ctx := context.Background()
	releaseNS := testenv.NewNamespace(t, suite.client)
	excluded := testenv.NewNamespace(t, suite.client)
	ns := testenv.NewNamespace(t, suite.client)

	m := helm().Render(t, "apd-chart", releaseNS, helmchart.Values{}.With("webhook.excludeNamespaces", []any{excluded}))
	mut, val := m.WebhookConfigs(t, "apd-chart-airflow-pod-deadline")
	testenv.PointAt(&mut.Webhooks[0].ClientConfig, suite.webhookAt, suite.webhookCA)
	for i := range val.Webhooks {
		testenv.PointAt(&val.Webhooks[i].ClientConfig, suite.webhookAt, suite.webhookCA)
	}

	// One review per pod and configuration pair: the validating call is
	// skipped when nothing changed the pod after the mutating one.
	require.Equal(t, 1.0, reviewsFor(t, ns), "before: the shared configurations only")
	require.NoError(t, suite.client.Create(ctx, mut))
	require.NoError(t, suite.client.Create(ctx, val))
	// Registered after the namespaces, so it runs before their deletion.
	// The configurations must be gone (and the API server must have noticed)
	// before other tests count the shared server's calls.
	t.Cleanup(func() {
		for _, obj := range []client.Object{mut, val} {
			if err := suite.client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %s: %v", obj.GetName(), err)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for reviewsFor(t, ns) != 1 {
			if time.Now().After(deadline) {
				t.Errorf("the API server still calls the removed configurations")
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	require.Eventually(t, func() bool { return reviewsFor(t, ns) >= 2 }, 30*time.Second, 100*time.Millisecond,
		"the API server never called the webhook through the chart's configurations")

	assert.GreaterOrEqual(t, reviewsFor(t, ns), 2.0, "a mutation through each configuration")
	assert.Equal(t, 1.0, reviewsFor(t, excluded), "webhook.excludeNamespaces")
	assert.Equal(t, 1.0, reviewsFor(t, releaseNS), "the release namespace is never intercepted")

	// A pod is clamped through them, and a late one refused.
	created := testenv.KPOPod(ns, testenv.LongSleep, map[string]string{timeoutKey: "20s"}, ptr.To[int64](3600))
	require.NoError(t, suite.client.Create(ctx, created))
	require.NotNil(t, created.Spec.ActiveDeadlineSeconds)
	assert.InDelta(t, 20, *created.Spec.ActiveDeadlineSeconds, 1)
	assert.Equal(t, "3600", created.Annotations[keys.ClampedFrom])
	late := testenv.KPOPod(ns, testenv.LongSleep, map[string]string{deadlineKey: deadline.Format(time.Now().Add(-time.Minute))}, nil)
	err := suite.client.Create(ctx, late)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `admission webhook "mutate.airflow-pod-deadline.io" denied the request`)
}

// TestChartPodPassesRestrictedPodSecurity has the API server's PodSecurity
// admission judge the Deployment's pod template, in both TLS modes, in a
// namespace that enforces the restricted standard.
func TestChartPodPassesRestrictedPodSecurity(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []string{"self-managed", "cert-manager"} {
		t.Run(mode, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "restricted-", Labels: map[string]string{
				"pod-security.kubernetes.io/enforce":         "restricted",
				"pod-security.kubernetes.io/enforce-version": "latest",
			}}}
			require.NoError(t, suite.client.Create(ctx, ns))
			t.Cleanup(func() { _ = suite.client.Delete(ctx, ns) })

			m := helm().Render(t, "apd", ns.Name, helmchart.Values{}.With("certificates.mode", mode))
			sa := helmchart.DecodeAs[corev1.ServiceAccount](t, m, "ServiceAccount", helmchart.CaseFullname)
			require.NoError(t, suite.client.Create(ctx, sa), "the pod's ServiceAccount must exist")
			tmpl := m.Deployment(t).Spec.Template
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "apd-pod", Namespace: ns.Name, Labels: tmpl.Labels, Annotations: tmpl.Annotations},
				Spec:       tmpl.Spec,
			}
			require.NoError(t, suite.client.Create(ctx, pod.DeepCopy(), client.DryRunAll))

			// The same pod without the container's hardening is refused
			// here, so the acceptance above means something.
			weak := pod.DeepCopy()
			weak.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
			weak.Spec.Containers[0].SecurityContext.Capabilities = nil
			err := suite.client.Create(ctx, weak, client.DryRunAll)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `violates PodSecurity "restricted:latest"`)
		})
	}
}

// TestChartHelmUpgradeKeepsSelfManagedCA installs the chart for real with
// helm into the API server (self-managed mode), plays the binary's part
// (fills the Secret, injects the caBundle), and shows that `helm upgrade`,
// even with --force (replace), keeps both, and what `helm uninstall` removes.
// Its annotation prefix is one no test pod carries, so its webhook
// configurations (whose Service has no pods here) never intercept anything.
func TestChartHelmUpgradeKeepsSelfManagedCA(t *testing.T) {
	ctx := context.Background()
	ns := testenv.NewNamespace(t, suite.client)
	const release = "apd-upgrade"
	const fullname = "apd-upgrade-airflow-pod-deadline"
	base := []string{"--namespace", ns, "--set", "annotationPrefix=upgrade-test.invalid"}

	out, err := helm().Run(t, append([]string{"install", release, helmchart.Path}, base...)...)
	require.NoError(t, err)
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			_, _ = helm().Run(t, "uninstall", release, "--namespace", ns)
		}
	})
	// NOTES.txt: the Airflow template reaches the user verbatim.
	assert.Contains(t, out, `"upgrade-test.invalid/execution-deadline":`)
	assert.Contains(t, out, `"{{ (ti.start_date + task.execution_timeout).isoformat() }}"`)
	assert.Contains(t, out, "kubectl get events -A --field-selector reason=ExecutionDeadlineExceeded")

	secretKey := client.ObjectKey{Namespace: ns, Name: fullname + "-tls"}
	secret := &corev1.Secret{}
	require.NoError(t, suite.client.Get(ctx, secretKey, secret))
	assert.Empty(t, secret.Data, "created empty; the binary fills it")

	// The binary's part: a CA and serving certificate in the Secret, the CA
	// in both caBundles.
	now := time.Now()
	ca, err := certs.NewCA("apd-upgrade-ca", now, time.Hour)
	require.NoError(t, err)
	serving, err := ca.IssueServing([]string{fullname + "." + ns + ".svc"}, nil, now, time.Hour)
	require.NoError(t, err)
	secret.Data = map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": ca.KeyPEM, "tls.crt": serving.CertPEM, "tls.key": serving.KeyPEM}
	require.NoError(t, suite.client.Update(ctx, secret))
	mutKey := client.ObjectKey{Name: fullname}
	mut := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, suite.client.Get(ctx, mutKey, mut))
	mut.Webhooks[0].ClientConfig.CABundle = ca.CertPEM
	require.NoError(t, suite.client.Update(ctx, mut))
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	require.NoError(t, suite.client.Get(ctx, mutKey, val))
	for i := range val.Webhooks {
		val.Webhooks[i].ClientConfig.CABundle = ca.CertPEM
	}
	require.NoError(t, suite.client.Update(ctx, val))
	want := secret.Data

	for _, upgrade := range []struct {
		name  string
		extra []string
	}{
		{"helm upgrade", []string{"--set", "logLevel=debug"}},
		{"helm upgrade --force", []string{"--set", "logLevel=error", "--force"}},
	} {
		_, err := helm().Run(t, append(append([]string{"upgrade", release, helmchart.Path}, base...), upgrade.extra...)...)
		require.NoError(t, err, upgrade.name)
		dep := &appsv1.Deployment{}
		require.NoError(t, suite.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: fullname}, dep))
		level := strings.TrimPrefix(upgrade.extra[1], "logLevel=")
		assert.Contains(t, dep.Spec.Template.Spec.Containers[0].Args, "--zap-log-level="+level, "%s applied", upgrade.name)

		got := &corev1.Secret{}
		require.NoError(t, suite.client.Get(ctx, secretKey, got))
		assert.Equal(t, want, got.Data, "%s keeps the CA and serving certificate", upgrade.name)
		require.NoError(t, suite.client.Get(ctx, mutKey, mut))
		require.NoError(t, suite.client.Get(ctx, mutKey, val))
		assert.Equal(t, ca.CertPEM, mut.Webhooks[0].ClientConfig.CABundle, "%s keeps the mutating caBundle", upgrade.name)
		for _, w := range val.Webhooks {
			assert.Equal(t, ca.CertPEM, w.ClientConfig.CABundle, "%s keeps the validating caBundle of %s", upgrade.name, w.Name)
		}
	}

	// What the rendered caBundle is made of: the Secret's ca.crt, looked up.
	rendered, err := helm().Run(t, append([]string{"template", release, helmchart.Path, "--dry-run=server", "--show-only", "templates/webhooks.yaml"}, base...)...)
	require.NoError(t, err)
	assert.Contains(t, rendered, "caBundle: "+base64.StdEncoding.EncodeToString(ca.CertPEM))

	// helm uninstall removes everything it installed, the Secret (and its CA
	// key) included; the namespace and helm's own release Secrets aside,
	// nothing is left.
	_, err = helm().Run(t, "uninstall", release, "--namespace", ns)
	require.NoError(t, err)
	uninstalled = true
	assert.True(t, apierrors.IsNotFound(suite.client.Get(ctx, secretKey, &corev1.Secret{})), "Secret removed")
	assert.True(t, apierrors.IsNotFound(suite.client.Get(ctx, mutKey, &admissionregistrationv1.MutatingWebhookConfiguration{})))
	assert.True(t, apierrors.IsNotFound(suite.client.Get(ctx, mutKey, &admissionregistrationv1.ValidatingWebhookConfiguration{})))
	assert.True(t, apierrors.IsNotFound(suite.client.Get(ctx, client.ObjectKey{Name: fullname}, &rbacv1.ClusterRole{})))
	left := &corev1.SecretList{}
	require.NoError(t, suite.client.List(ctx, left, client.InNamespace(ns)))
	var names []string
	for _, s := range left.Items {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	assert.Empty(t, names, "no Secret left behind")
}
