package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIssueServingVerifies(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("airflow-pod-deadline-ca", now, 24*time.Hour)
	require.NoError(t, err)
	serving, err := ca.IssueServing([]string{"airflow-pod-deadline.airflow-pod-deadline.svc"}, []net.IP{net.ParseIP("127.0.0.1")}, now, 48*time.Hour)
	require.NoError(t, err)

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca.CertPEM))
	for _, name := range []string{"airflow-pod-deadline.airflow-pod-deadline.svc", "127.0.0.1"} {
		_, err := serving.Cert.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		assert.NoError(t, err, name)
	}
	_, err = serving.Cert.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: pool})
	assert.Error(t, err)
	// Never outlives its CA.
	assert.Equal(t, ca.Cert.NotAfter, serving.Cert.NotAfter)
	_, err = tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	require.NoError(t, err)

	_, err = ca.IssueServing(nil, nil, now, time.Hour)
	assert.Error(t, err)
}

func TestWriteDirRoundTrip(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("ca", now, time.Hour)
	require.NoError(t, err)
	serving, err := ca.IssueServing([]string{"localhost"}, nil, now, time.Hour)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "certs")
	require.NoError(t, WriteDir(dir, serving, ca.CertPEM))

	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	require.NoError(t, err)
	keyPEM, err := os.ReadFile(filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	back, err := ParseKeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	assert.Equal(t, serving.Cert.SerialNumber, back.Cert.SerialNumber)
	info, err := os.Stat(filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 3, "no temporary files left behind")

	_, err = ParseKeyPair(certPEM, []byte("not a key"))
	assert.Error(t, err)
}
