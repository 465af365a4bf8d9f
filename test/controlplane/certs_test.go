package controlplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/airflow-pod-deadline/airflow-pod-deadline/certs"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/deadline"
	"github.com/airflow-pod-deadline/airflow-pod-deadline/test/testenv"
)

// selfManagedPrefix keeps the pods of these tests away from the shared
// webhook: only the configurations installed here match it.
const selfManagedPrefix = "self-managed.airflow-pod-deadline.io"

// startSelfManaged starts the binary in self-managed mode, its webhook
// configurations (named name, for selfManagedPrefix) installed with an empty
// caBundle before it starts: the binary must inject it.
func startSelfManaged(t *testing.T, ns, name string, args ...string) *testenv.Enforcer {
	e, _ := startEnforcer(t, testenv.EnforcerOptions{
		InstallYAML: installYAML(), Name: name, Prefix: selfManagedPrefix, SelfManaged: true,
		Args: append([]string{
			"--enable-sweeper=false",
			"--cert-mode=self-managed",
			"--cert-secret-namespace=" + ns,
			"--cert-secret-name=webhook-tls",
			"--cert-dns-names=127.0.0.1",
			"--webhook-configuration-name=" + name,
		}, args...),
	})
	return e
}

func servedSerial(port int) (string, error) {
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func TestSelfManagedCertificatesEndToEnd(t *testing.T) {
	ctx := context.Background()
	ns := testenv.NewNamespace(t, suite.client)
	name := "apd-self-managed-" + ns
	port := startSelfManaged(t, ns, name).WebhookPort

	// The Secret holds the CA (with its key) and the serving pair.
	secret := &corev1.Secret{}
	require.NoError(t, suite.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "webhook-tls"}, secret))
	for _, k := range []string{certs.CAFile, certs.CAKeyFile, certs.CertFile, certs.KeyFile} {
		assert.NotEmpty(t, secret.Data[k], k)
	}
	// Both configurations trust it.
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, suite.client.Get(ctx, types.NamespacedName{Name: name}, m))
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	require.NoError(t, suite.client.Get(ctx, types.NamespacedName{Name: name}, v))
	assert.Equal(t, secret.Data[certs.CAFile], m.Webhooks[0].ClientConfig.CABundle)
	for _, w := range v.Webhooks {
		assert.Equal(t, secret.Data[certs.CAFile], w.ClientConfig.CABundle, w.Name)
	}

	// And the API server calls the webhook over that TLS.
	keys := deadline.NewKeys(selfManagedPrefix)
	require.Eventually(t, func() bool {
		pod := testenv.KPOPod(ns, testenv.LongSleep, map[string]string{keys.Timeout: "30s"}, ptr.To[int64](3600))
		if err := suite.client.Create(ctx, pod, client.DryRunAll); err != nil {
			t.Logf("create: %v", err)
			return false
		}
		return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds <= 31 // counted from the admission second
	}, 30*time.Second, 200*time.Millisecond)

	// HTTP/2 is off unless --enable-http2 (Rapid Reset, CVE-2023-44487).
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
	require.NoError(t, err)
	assert.Equal(t, "http/1.1", conn.ConnectionState().NegotiatedProtocol)
	conn.Close()

	// A caBundle reset (what a helm upgrade without lookup would do) is repaired.
	m.Webhooks[0].ClientConfig.CABundle = nil
	require.NoError(t, suite.client.Update(ctx, m))
	require.Eventually(t, func() bool {
		require.NoError(t, suite.client.Get(ctx, types.NamespacedName{Name: name}, m))
		return len(m.Webhooks[0].ClientConfig.CABundle) > 0
	}, 30*time.Second, 200*time.Millisecond)
}

func TestSelfManagedRotationUnderLoadLosesNoAdmission(t *testing.T) {
	ctx := context.Background()
	ns := testenv.NewNamespace(t, suite.client)
	name := "apd-rotation-" + ns
	// Serving certificates live 6s and are renewed 4s before expiry, the CA
	// lives 12s: a serving rotation about every 2s, a CA rotation about every 8s.
	port := startSelfManaged(t, ns, name,
		"--ca-validity=12s", "--cert-validity=6s", "--cert-renew-before=4s", "--cert-check-interval=250ms").WebhookPort

	secretKey := types.NamespacedName{Namespace: ns, Name: "webhook-tls"}
	caOf := func() string {
		s := &corev1.Secret{}
		require.NoError(t, suite.client.Get(ctx, secretKey, s))
		return string(s.Data[certs.CAKeyFile])
	}
	firstCA := caOf()

	keys := deadline.NewKeys(selfManagedPrefix)
	var created, failed atomic.Int64
	var failures sync.Map
	serials := map[string]bool{}
	stop := time.Now().Add(20 * time.Second)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && created.Load()+failed.Load() < 2000 {
				pod := testenv.KPOPod(ns, testenv.LongSleep, map[string]string{keys.Timeout: "1h"}, ptr.To[int64](7200))
				if err := suite.client.Create(ctx, pod, client.DryRunAll); err != nil {
					failed.Add(1)
					failures.Store(err.Error(), true)
					continue
				}
				if pod.Spec.ActiveDeadlineSeconds == nil || *pod.Spec.ActiveDeadlineSeconds > 3601 {
					failed.Add(1)
					failures.Store("not clamped", true)
					continue
				}
				created.Add(1)
			}
		}()
	}
	for time.Now().Before(stop) {
		if s, err := servedSerial(port); err == nil {
			serials[s] = true
		}
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()

	failures.Range(func(k, _ any) bool { t.Logf("failure: %v", k); return true })
	t.Logf("admissions: %d ok, %d failed; serving certificates seen: %d", created.Load(), failed.Load(), len(serials))
	assert.Zero(t, failed.Load(), "admissions failed during rotation")
	assert.Greater(t, created.Load(), int64(50))
	assert.GreaterOrEqual(t, len(serials), 5, "serving certificate rotated")
	assert.NotEqual(t, firstCA, caOf(), "CA rotated")
}
