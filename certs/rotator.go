package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// CAKeyFile is where the Secret keeps the CA's private key, next to ca.crt
// (the trust bundle), tls.crt and tls.key.
const CAKeyFile = "ca.key"

var servingNotAfter = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "airflow_pod_deadline_serving_certificate_expiry_timestamp_seconds",
	Help: "When the webhook's serving certificate expires, as a Unix timestamp (self-managed: the Rotator's; files mode: tls.crt in --cert-dir, read every minute).",
})

func init() {
	metrics.Registry.MustRegister(servingNotAfter)
}

// Rotator is the self-managed TLS mode. It keeps a CA and a serving
// certificate in one Secret, keeps the caBundle of the Mutating and the
// Validating webhook configurations current, and serves the certificate
// straight from memory (GetCertificate), so a rotation takes effect without a
// restart and without waiting for the kubelet to refresh a mounted volume.
//
// Every replica runs it. Writes carry the resourceVersion they read, so
// replicas racing to rotate converge on whichever write lands first. It reads
// and writes its three objects by name only, which is all the RBAC the chart
// grants it (resourceNames).
//
// A CA rotation never breaks a handshake: the new CA is first added to the
// bundle next to the old one, and the serving certificate is only reissued
// from it once both webhook configurations trust it.
type Rotator struct {
	// Client must not be a caching client: a cache would list and watch every
	// Secret and webhook configuration in scope.
	Client        client.Client
	Secret        types.NamespacedName
	WebhookConfig string
	DNSNames      []string
	IPs           []net.IP
	CAValidity    time.Duration
	CertValidity  time.Duration
	RenewBefore   time.Duration
	CheckInterval time.Duration
	// Clock times the checks and is now for certificates (required).
	Clock clock.Clock

	serving atomic.Pointer[tls.Certificate]
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica
// serves, so every replica keeps its certificate.
func (r *Rotator) NeedLeaderElection() bool { return false }

// GetCertificate is the webhook server's tls.Config.GetCertificate. Until a
// certificate is loaded every handshake fails, which keeps /readyz false.
func (r *Rotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := r.serving.Load(); c != nil {
		return c, nil
	}
	return nil, errors.New("no serving certificate yet")
}

// Start runs a check every CheckInterval until ctx ends; failed checks are
// retried sooner, with backoff.
func (r *Rotator) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("cert-rotator")
	newBackoff := func() wait.Backoff {
		return wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: math.MaxInt32, Cap: r.CheckInterval}
	}
	backoff := newBackoff()
	for {
		next := r.CheckInterval
		if err := r.Check(ctx); err != nil {
			next = backoff.Step()
			log.Error(err, "certificate check failed; retrying", "retryIn", next.String())
		} else {
			backoff = newBackoff()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.Clock.After(next):
		}
	}
}

// Check is one pass: bring the Secret, both caBundles and the served
// certificate up to date. It reads, plans (plan.go) and applies the plan.
func (r *Rotator) Check(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("cert-rotator")
	now := r.Clock.Now()
	secret := &corev1.Secret{}
	err := r.Client.Get(ctx, r.Secret, secret)
	missing := apierrors.IsNotFound(err)
	if err != nil && !missing {
		return fmt.Errorf("reading Secret %s: %w", r.Secret, err)
	}
	st := parseState(secret.Data)
	configs, err := r.webhookConfigs(ctx)
	if err != nil {
		return err
	}
	var bundles [][]byte
	for _, obj := range configs {
		for _, cc := range clientConfigs(obj) {
			bundles = append(bundles, cc.CABundle)
		}
	}

	s := plan(st, bundles, now, policy{renewBefore: r.RenewBefore, dnsNames: r.DNSNames, ips: r.IPs})
	written := s.writes(st)
	st.bundle = s.bundle
	if s.newCA {
		ca, err := NewCA("airflow-pod-deadline-ca", now, r.CAValidity)
		if err != nil {
			return err
		}
		log.Info("created a new CA", "notAfter", ca.Cert.NotAfter, "replacing", st.ca != nil)
		st.ca, st.bundle = ca, append([]*x509.Certificate{ca.Cert}, st.bundle...)
	}
	if s.issue {
		serving, err := st.ca.IssueServing(r.DNSNames, r.IPs, now, r.CertValidity)
		if err != nil {
			return err
		}
		log.Info("issued a serving certificate", "notAfter", serving.Cert.NotAfter, "dnsNames", r.DNSNames)
		st.serving = serving
	}
	if written {
		if err := r.writeSecret(ctx, secret, missing, st); err != nil {
			return err
		}
	}
	if err := r.inject(ctx, configs, encodeBundle(st.bundle)); err != nil {
		return err
	}
	return r.load(st.serving)
}

func (r *Rotator) writeSecret(ctx context.Context, secret *corev1.Secret, missing bool, st state) error {
	caKey, err := marshalKey(st.ca)
	if err != nil {
		return err
	}
	data := map[string][]byte{
		CAFile:    encodeBundle(st.bundle),
		CAKeyFile: caKey,
		CertFile:  st.serving.CertPEM,
		KeyFile:   st.serving.KeyPEM,
	}
	if missing {
		secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: r.Secret.Name, Namespace: r.Secret.Namespace}, Data: data}
		if err := r.Client.Create(ctx, secret); err != nil {
			return fmt.Errorf("creating Secret %s: %w", r.Secret, err)
		}
		return nil
	}
	secret.Data = data
	if err := r.Client.Update(ctx, secret); err != nil {
		return fmt.Errorf("updating Secret %s: %w", r.Secret, err)
	}
	return nil
}

func (r *Rotator) webhookConfigs(ctx context.Context) ([]client.Object, error) {
	key := types.NamespacedName{Name: r.WebhookConfig}
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := r.Client.Get(ctx, key, m); err != nil {
		return nil, fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", r.WebhookConfig, err)
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := r.Client.Get(ctx, key, v); err != nil {
		return nil, fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", r.WebhookConfig, err)
	}
	return []client.Object{m, v}, nil
}

// inject sets every webhook's caBundle to bundle where it differs.
func (r *Rotator) inject(ctx context.Context, configs []client.Object, bundle []byte) error {
	for _, obj := range configs {
		stale := false
		for _, cc := range clientConfigs(obj) {
			if !bytes.Equal(cc.CABundle, bundle) {
				cc.CABundle, stale = bundle, true
			}
		}
		if !stale {
			continue
		}
		if err := r.Client.Update(ctx, obj); err != nil {
			return fmt.Errorf("injecting caBundle into %T %s: %w", obj, obj.GetName(), err)
		}
		logf.FromContext(ctx).WithName("cert-rotator").Info("injected caBundle", "configuration", obj.GetName(), "kind", fmt.Sprintf("%T", obj))
	}
	return nil
}

// clientConfigs are the client configurations of every webhook in a Mutating
// or Validating webhook configuration, to read and set in place.
func clientConfigs(obj client.Object) []*admissionregistrationv1.WebhookClientConfig {
	var out []*admissionregistrationv1.WebhookClientConfig
	switch c := obj.(type) {
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for i := range c.Webhooks {
			out = append(out, &c.Webhooks[i].ClientConfig)
		}
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for i := range c.Webhooks {
			out = append(out, &c.Webhooks[i].ClientConfig)
		}
	}
	return out
}

func (r *Rotator) load(s *KeyPair) error {
	if cur := r.serving.Load(); cur != nil && bytes.Equal(cur.Certificate[0], s.Cert.Raw) {
		return nil
	}
	c, err := tls.X509KeyPair(s.CertPEM, s.KeyPEM)
	if err != nil {
		return fmt.Errorf("loading the serving certificate: %w", err)
	}
	r.serving.Store(&c)
	servingNotAfter.Set(float64(s.Cert.NotAfter.Unix()))
	return nil
}

// parseState reads what it can of the Secret; anything missing, unparsable or
// inconsistent comes back nil and is regenerated.
func parseState(data map[string][]byte) state {
	var st state
	st.bundle = parseCerts(data[CAFile])
	if len(st.bundle) > 0 {
		if ca, err := ParseKeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: st.bundle[0].Raw}), data[CAKeyFile]); err == nil && ca.Cert.IsCA && keyMatches(ca) {
			st.ca = ca
		}
	}
	if s, err := ParseKeyPair(data[CertFile], data[KeyFile]); err == nil && keyMatches(s) {
		if _, err := tls.X509KeyPair(data[CertFile], data[KeyFile]); err == nil {
			st.serving = s
		}
	}
	if st.ca == nil {
		// Without the CA's key nothing can be issued: start over, but keep
		// trusting what is still valid until the new chain is in place.
		st.serving = nil
	}
	return st
}

func keyMatches(kp *KeyPair) bool {
	pub, ok := kp.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(kp.Cert.PublicKey)
}

func parseCerts(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for len(data) > 0 {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func encodeBundle(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func marshalKey(kp *KeyPair) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(kp.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
