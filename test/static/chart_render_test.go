package static

import (
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/helmchart"
)

func TestChartLint(t *testing.T) {
	for _, c := range helmchart.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel() // renders only
			args := append([]string{"lint", "--strict", helmchart.Path, "--namespace", "ops"}, helmchart.ValuesArgs(t, c.Values)...)
			out, err := helm().Run(t, args...)
			require.NoError(t, err, out)
			assert.Contains(t, out, "1 chart(s) linted, 0 chart(s) failed")
		})
	}
}

func TestChartTemplate(t *testing.T) {
	require.Len(t, chartChecks, len(helmchart.Cases()), "a check for every case, no check without one")
	for _, c := range helmchart.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel() // renders only
			const ns = "ops"
			m := helm().Render(t, "apd", ns, c.Values)
			// Every namespaced object lands in the release namespace (or
			// the sweeper's, for its RoleBinding).
			for _, u := range m.Objs {
				switch u.GetKind() {
				case "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
					assert.Empty(t, u.GetNamespace(), "%s is cluster-scoped", u.GetKind())
				case "RoleBinding":
					assert.Contains(t, []string{ns, "default"}, u.GetNamespace())
				default:
					assert.Equal(t, ns, u.GetNamespace(), "%s/%s", u.GetKind(), u.GetName())
				}
				assert.Equal(t, "apd", u.GetLabels()["app.kubernetes.io/instance"], "%s/%s labelled", u.GetKind(), u.GetName())
			}
			check, ok := chartChecks[c.Name]
			require.True(t, ok, "chartChecks has no check for case %q", c.Name)
			check(t, m, ns)
		})
	}
	t.Run("default install keeps the plain names", func(t *testing.T) {
		t.Parallel()
		m := helm().Render(t, "airflow-pod-deadline", "airflow-pod-deadline", nil)
		mut, val := m.WebhookConfigs(t, "airflow-pod-deadline")
		assert.Equal(t, "airflow-pod-deadline", mut.Webhooks[0].ClientConfig.Service.Name)
		assert.Equal(t, "validate.airflow-pod-deadline.io", val.Webhooks[0].Name)
		assert.True(t, m.Has("Deployment", "airflow-pod-deadline"))
	})
	t.Run("kubeVersion below 1.30 is refused", func(t *testing.T) {
		t.Parallel()
		_, err := helm().Run(t, "template", "apd", helmchart.Path, "--kube-version", "1.29.9")
		require.Error(t, err)
		assert.Contains(t, err.Error(), ">=1.30.0-0")
	})
}

// TestChartCertManagerResources decodes the cert-manager objects strictly
// into cert-manager's own Go types (a misspelled field is an error) and checks
// the issuer chain the chart builds.
func TestChartCertManagerResources(t *testing.T) {
	const ns = "ops"
	svcDNS := []string{helmchart.CaseFullname + "." + ns + ".svc", helmchart.CaseFullname + "." + ns + ".svc.cluster.local"}
	t.Run("self-signed CA chain", func(t *testing.T) {
		m := helm().Render(t, "apd", ns, helmchart.Values{}.With("certificates.mode", "cert-manager"))
		for _, u := range append(m.OfKind("Issuer"), m.OfKind("Certificate")...) {
			assert.Equal(t, cmv1.SchemeGroupVersion.String(), u.GetAPIVersion())
		}
		require.Len(t, m.OfKind("Issuer"), 2)
		require.Len(t, m.OfKind("Certificate"), 2)

		selfSigned := helmchart.DecodeAs[cmv1.Issuer](t, m, "Issuer", helmchart.CaseFullname+"-selfsigned")
		assert.NotNil(t, selfSigned.Spec.SelfSigned)
		assert.Nil(t, selfSigned.Spec.CA)

		ca := helmchart.DecodeAs[cmv1.Certificate](t, m, "Certificate", helmchart.CaseFullname+"-ca")
		assert.True(t, ca.Spec.IsCA)
		assert.Equal(t, cmmeta.IssuerReference{Name: selfSigned.Name, Kind: "Issuer", Group: "cert-manager.io"}, ca.Spec.IssuerRef)
		assert.Equal(t, 87600*time.Hour, ca.Spec.Duration.Duration)

		caIssuer := helmchart.DecodeAs[cmv1.Issuer](t, m, "Issuer", helmchart.CaseFullname+"-ca")
		require.NotNil(t, caIssuer.Spec.CA)
		assert.Equal(t, ca.Spec.SecretName, caIssuer.Spec.CA.SecretName, "the CA Issuer signs with the CA Certificate's key")

		serving := helmchart.DecodeAs[cmv1.Certificate](t, m, "Certificate", helmchart.CaseFullname+"-serving")
		assert.False(t, serving.Spec.IsCA)
		assert.Equal(t, cmmeta.IssuerReference{Name: caIssuer.Name, Kind: "Issuer", Group: "cert-manager.io"}, serving.Spec.IssuerRef)
		assert.Equal(t, svcDNS, serving.Spec.DNSNames)
		assert.Contains(t, serving.Spec.Usages, cmv1.UsageServerAuth)
		assert.Less(t, serving.Spec.RenewBefore.Duration, serving.Spec.Duration.Duration)
		assert.NotEqual(t, ca.Spec.SecretName, serving.Spec.SecretName)
		checkServingWiring(t, m, ns, serving)
	})
	t.Run("given issuer", func(t *testing.T) {
		m := helm().Render(t, "apd", ns, helmchart.Values{}.With("certificates.mode", "cert-manager").
			With("certificates.certManager.issuerRef", map[string]any{"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}))
		assert.Empty(t, m.OfKind("Issuer"))
		require.Len(t, m.OfKind("Certificate"), 1)
		serving := helmchart.DecodeAs[cmv1.Certificate](t, m, "Certificate", helmchart.CaseFullname+"-serving")
		assert.Equal(t, cmmeta.IssuerReference{Name: "corp-ca", Kind: "ClusterIssuer", Group: "cert-manager.io"}, serving.Spec.IssuerRef)
		assert.Equal(t, svcDNS, serving.Spec.DNSNames)
		checkServingWiring(t, m, ns, serving)
	})
}

// checkServingWiring: the Deployment mounts the serving Certificate's Secret
// at --cert-dir, the Service is what the DNS names name, and cainjector is
// pointed at that Certificate.
func checkServingWiring(t *testing.T, m *helmchart.Manifest, ns string, serving *cmv1.Certificate) {
	t.Helper()
	svc := helmchart.DecodeAs[corev1.Service](t, m, "Service", helmchart.CaseFullname)
	assert.Equal(t, svc.Name+"."+ns+".svc", serving.Spec.DNSNames[0])
	checkCertManagerMode(t, m, ns)
	mut, val := m.WebhookConfigs(t, helmchart.CaseFullname)
	assert.Equal(t, ns+"/"+serving.Name, mut.Annotations["cert-manager.io/inject-ca-from"])
	assert.Equal(t, ns+"/"+serving.Name, val.Annotations["cert-manager.io/inject-ca-from"])
	assert.Equal(t, svc.Name, mut.Webhooks[0].ClientConfig.Service.Name)
}
