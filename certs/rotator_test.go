package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// cluster is a fake API server holding the two webhook configurations, and
// counts the writes to the Secret.
type cluster struct {
	client.Client
	secretWrites int
}

var secretKey = types.NamespacedName{Namespace: "airflow-pod-deadline", Name: "airflow-pod-deadline-tls"}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{}
	countSecret := func(obj client.Object) {
		if _, ok := obj.(*corev1.Secret); ok {
			c.secretWrites++
		}
	}
	c.Client = fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).
		WithObjects(
			&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "apd"},
				Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mutate.airflow-pod-deadline.io"}}},
			&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "apd"},
				Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "validate.airflow-pod-deadline.io"}}},
		).
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				countSecret(obj)
				return cl.Create(ctx, obj, opts...)
			},
			Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				countSecret(obj)
				return cl.Update(ctx, obj, opts...)
			},
		}).Build()
	return c
}

func (c *cluster) rotator(clk *testingclock.FakeClock) *Rotator {
	return &Rotator{
		Client: c, Secret: secretKey, WebhookConfig: "apd",
		DNSNames: planNames, IPs: planIPs,
		CAValidity: 3650 * day, CertValidity: 365 * day, RenewBefore: 30 * day, CheckInterval: time.Hour,
		Clock: clk,
	}
}

func (c *cluster) secret(t *testing.T) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	require.NoError(t, c.Get(context.Background(), secretKey, s))
	return s
}

// caBundles are the caBundles of the mutating and the validating webhook.
func (c *cluster) caBundles(t *testing.T) [][]byte {
	t.Helper()
	ctx := context.Background()
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, c.Get(ctx, types.NamespacedName{Name: "apd"}, m))
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	require.NoError(t, c.Get(ctx, types.NamespacedName{Name: "apd"}, v))
	return [][]byte{m.Webhooks[0].ClientConfig.CABundle, v.Webhooks[0].ClientConfig.CABundle}
}

// resetCABundles is what `helm upgrade` does to them: the chart renders the
// configurations without a caBundle.
func (c *cluster) resetCABundles(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	require.NoError(t, c.Get(ctx, types.NamespacedName{Name: "apd"}, m))
	m.Webhooks[0].ClientConfig.CABundle = nil
	require.NoError(t, c.Update(ctx, m))
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	require.NoError(t, c.Get(ctx, types.NamespacedName{Name: "apd"}, v))
	v.Webhooks[0].ClientConfig.CABundle = nil
	require.NoError(t, c.Update(ctx, v))
}

// served is the certificate the rotator serves now.
func served(t *testing.T, r *Rotator) *x509.Certificate {
	t.Helper()
	c, err := r.GetCertificate(nil)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	require.NoError(t, err)
	return leaf
}

// requireVerifiable is the invariant of the whole rotation: the API server,
// trusting each webhook's caBundle, accepts the certificate we serve.
func requireVerifiable(t *testing.T, c *cluster, r *Rotator, at time.Time) {
	t.Helper()
	leaf := served(t, r)
	for i, bundle := range c.caBundles(t) {
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(bundle), "webhook %d has no caBundle", i)
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: planNames[0], Roots: pool, CurrentTime: at,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		require.NoError(t, err, "webhook %d does not trust the served certificate at %s", i, at)
	}
}

func TestRotatorFirstCheck(t *testing.T) {
	c, clk := newCluster(t), testingclock.NewFakeClock(planNow)
	r := c.rotator(clk)
	_, err := r.GetCertificate(nil)
	require.Error(t, err, "no certificate before the first check: /readyz stays false")

	require.NoError(t, r.Check(context.Background()))
	s := c.secret(t)
	for _, k := range []string{CAFile, CAKeyFile, CertFile, KeyFile} {
		assert.NotEmpty(t, s.Data[k], k)
	}
	for _, b := range c.caBundles(t) {
		assert.Equal(t, s.Data[CAFile], b)
	}
	requireVerifiable(t, c, r, planNow)
	assert.Equal(t, 1, c.secretWrites)

	// A second check, and one by a restarted replica, change nothing.
	require.NoError(t, r.Check(context.Background()))
	restarted := c.rotator(clk)
	require.NoError(t, restarted.Check(context.Background()))
	assert.Equal(t, 1, c.secretWrites)
	assert.True(t, served(t, restarted).Equal(served(t, r)))
}

// Twelve years of monthly checks: serving certificates renewed every year, the
// CA once, and at no check a certificate the webhooks would refuse.
func TestRotatorOverTheYears(t *testing.T) {
	c, clk := newCluster(t), testingclock.NewFakeClock(planNow)
	r := c.rotator(clk)
	ctx := context.Background()
	cas, certs := map[string]bool{}, map[string]bool{}
	for clk.Now().Before(planNow.Add(12 * 365 * day)) {
		require.NoError(t, r.Check(ctx))
		requireVerifiable(t, c, r, clk.Now())
		st := parseState(c.secret(t).Data)
		cas[string(st.ca.Cert.Raw)] = true
		certs[string(served(t, r).Raw)] = true
		assert.LessOrEqual(t, len(st.bundle), 2, "at most the current and the previous CA")
		clk.Step(30 * day)
	}
	assert.Len(t, cas, 2, "one CA rotation in twelve years of a ten-year CA")
	assert.GreaterOrEqual(t, len(certs), 12)
	assert.LessOrEqual(t, len(certs), 15)
}

func TestRotatorCARotationOverlap(t *testing.T) {
	c, clk := newCluster(t), testingclock.NewFakeClock(planNow)
	r := c.rotator(clk)
	ctx := context.Background()
	require.NoError(t, r.Check(ctx))
	oldCA := parseState(c.secret(t).Data).ca

	// Monthly checks into the CA's renewal window. By then the serving
	// certificate, capped at the CA's expiry, is due as well.
	var before *x509.Certificate
	var st state
	for len(st.bundle) < 2 {
		require.Less(t, clk.Now(), oldCA.Cert.NotAfter, "no CA rotation")
		clk.Step(30 * day)
		before = served(t, r)
		require.NoError(t, r.Check(ctx))
		st = parseState(c.secret(t).Data)
	}
	require.Len(t, st.bundle, 2, "the new CA next to the old one")
	assert.True(t, st.bundle[1].Equal(oldCA.Cert))
	assert.True(t, served(t, r).Equal(before), "the certificate stays on the old CA until the new one is trusted")
	requireVerifiable(t, c, r, clk.Now())

	// A helm upgrade resets the caBundles before the next check: that check
	// only injects again, the certificate still on the old CA.
	c.resetCABundles(t)
	require.NoError(t, r.Check(ctx))
	requireVerifiable(t, c, r, clk.Now())
	assert.True(t, served(t, r).Equal(before))
	// The next one finds the new CA trusted and moves the certificate to it.
	require.NoError(t, r.Check(ctx))
	requireVerifiable(t, c, r, clk.Now())
	assert.NoError(t, served(t, r).CheckSignatureFrom(st.ca.Cert), "now issued by the new CA")
	assert.True(t, parseState(c.secret(t).Data).bundle[1].Equal(oldCA.Cert), "the old CA stays trusted until it expires")
}

func TestRotatorCABundleResetByHelmUpgrade(t *testing.T) {
	c, clk := newCluster(t), testingclock.NewFakeClock(planNow)
	r := c.rotator(clk)
	ctx := context.Background()
	require.NoError(t, r.Check(ctx))
	cert, writes := served(t, r), c.secretWrites

	c.resetCABundles(t)
	require.NoError(t, r.Check(ctx))
	requireVerifiable(t, c, r, clk.Now())
	assert.True(t, served(t, r).Equal(cert), "same certificate")
	assert.Equal(t, writes, c.secretWrites, "the Secret is not touched")
}

func TestRotatorSecretEditedByHand(t *testing.T) {
	ctx := context.Background()
	edits := map[string]struct {
		edit func(data map[string][]byte)
		// newCA: the CA could not be kept.
		newCA bool
	}{
		"serving key replaced": {edit: func(d map[string][]byte) {
			other := mustServing(t, mustCA(t, planNow, day), planNames, planNow, day)
			d[KeyFile] = other.KeyPEM
		}},
		"serving certificate removed": {edit: func(d map[string][]byte) { delete(d, CertFile) }},
		"garbage in tls.crt":          {edit: func(d map[string][]byte) { d[CertFile] = []byte("not a certificate") }},
		"CA key removed":              {edit: func(d map[string][]byte) { delete(d, CAKeyFile) }, newCA: true},
		"CA key of another CA":        {edit: func(d map[string][]byte) { k, _ := marshalKey(mustCA(t, planNow, day)); d[CAKeyFile] = k }, newCA: true},
		"everything removed":          {edit: func(d map[string][]byte) { clear(d) }, newCA: true},
	}
	for name, tc := range edits {
		t.Run(name, func(t *testing.T) {
			c, clk := newCluster(t), testingclock.NewFakeClock(planNow)
			r := c.rotator(clk)
			require.NoError(t, r.Check(ctx))
			oldCA := parseState(c.secret(t).Data).ca

			s := c.secret(t)
			tc.edit(s.Data)
			require.NoError(t, c.Update(ctx, s))
			require.NoError(t, r.Check(ctx))
			requireVerifiable(t, c, r, clk.Now())
			st := parseState(c.secret(t).Data)
			require.NotNil(t, st.ca)
			require.NotNil(t, st.serving)
			assert.Equal(t, tc.newCA, !st.ca.Cert.Equal(oldCA.Cert), "a new CA")
			assert.True(t, served(t, r).Equal(st.serving.Cert), "serves what the Secret holds")
		})
	}
}

// Two replicas whose clocks are 50 minutes apart check the same Secret over
// two years: neither undoes the other's work, and both always serve a
// certificate the webhooks trust.
func TestRotatorReplicasWithSkewedClocks(t *testing.T) {
	c := newCluster(t)
	ahead, behind := testingclock.NewFakeClock(planNow), testingclock.NewFakeClock(planNow.Add(-50*time.Minute))
	a, b := c.rotator(ahead), c.rotator(behind)
	ctx := context.Background()
	single := newCluster(t)
	alone := single.rotator(testingclock.NewFakeClock(planNow))
	for range 2 * 365 / 5 {
		require.NoError(t, a.Check(ctx))
		require.NoError(t, b.Check(ctx))
		requireVerifiable(t, c, a, ahead.Now())
		requireVerifiable(t, c, b, behind.Now())
		writes := c.secretWrites
		require.NoError(t, a.Check(ctx))
		require.NoError(t, b.Check(ctx))
		assert.Equal(t, writes, c.secretWrites, "a check right after the other replica's writes nothing")
		require.NoError(t, alone.Check(ctx))
		ahead.Step(5 * day)
		behind.Step(5 * day)
		alone.Clock.(*testingclock.FakeClock).Step(5 * day)
	}
	assert.Equal(t, single.secretWrites, c.secretWrites, "as many writes as one replica alone")
}

// Start checks every CheckInterval and retries a failed check sooner, with
// backoff that starts over after a success.
func TestRotatorStartRetriesWithBackoff(t *testing.T) {
	c, clk := newCluster(t), testingclock.NewFakeClock(planNow)
	var mu sync.Mutex
	checks, failing := 0, true
	r := c.rotator(clk)
	r.Client = interceptor.NewClient(c.Client.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.Secret); ok {
				mu.Lock()
				defer mu.Unlock()
				checks++
				if failing {
					return errors.New("API server unavailable")
				}
			}
			return cl.Get(ctx, key, obj, opts...)
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Start(ctx) }()
	count := func() int { mu.Lock(); defer mu.Unlock(); return checks }
	// wait until the rotator sleeps, then step its clock.
	next := func(d time.Duration, want int) {
		t.Helper()
		require.Eventually(t, clk.HasWaiters, 5*time.Second, time.Millisecond)
		clk.Step(d)
		require.Eventually(t, func() bool { return count() == want }, 5*time.Second, time.Millisecond, "checks at +%s", d)
	}
	require.Eventually(t, func() bool { return count() == 1 }, 5*time.Second, time.Millisecond)
	next(200*time.Millisecond, 2)
	next(400*time.Millisecond, 3)
	mu.Lock()
	failing = false
	mu.Unlock()
	next(800*time.Millisecond, 4) // succeeds
	next(time.Hour, 5)            // CheckInterval again
	cancel()
	require.NoError(t, <-done)
}
