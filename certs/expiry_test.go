package certs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestFileExpiryReportsTheServingCertificate(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("test-ca", now, 48*time.Hour)
	require.NoError(t, err)
	serving, err := ca.IssueServing([]string{"apd.example.svc"}, nil, now, 24*time.Hour)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, WriteDir(dir, serving, ca.CertPEM))

	clk := clocktesting.NewFakeClock(now)
	f := &FileExpiry{Dir: dir, Interval: time.Hour, Clock: clk}
	require.NoError(t, f.Report())
	assert.Equal(t, float64(serving.Cert.NotAfter.Unix()), testutil.ToFloat64(servingNotAfter))

	// A renewal (cert-manager rewrites the files) is picked up by Start at
	// its next tick, an Interval after the first read, not before.
	renewed, err := ca.IssueServing([]string{"apd.example.svc"}, nil, now.Add(time.Hour), 24*time.Hour)
	require.NoError(t, err)
	require.NotEqual(t, serving.Cert.NotAfter.Unix(), renewed.Cert.NotAfter.Unix())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Start(ctx) }()
	require.Eventually(t, clk.HasWaiters, 5*time.Second, time.Millisecond, "Start waits on the clock")
	require.NoError(t, WriteDir(dir, renewed, ca.CertPEM))
	clk.Step(time.Hour - time.Second)
	assert.Equal(t, float64(serving.Cert.NotAfter.Unix()), testutil.ToFloat64(servingNotAfter), "read again before Interval")
	clk.Step(time.Second)
	assert.Eventually(t, func() bool {
		return testutil.ToFloat64(servingNotAfter) == float64(renewed.Cert.NotAfter.Unix())
	}, 5*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

func TestFileExpiryRejectsGarbage(t *testing.T) {
	dir := t.TempDir()
	f := &FileExpiry{Dir: dir}
	assert.Error(t, f.Report(), "no tls.crt")
	require.NoError(t, os.WriteFile(filepath.Join(dir, CertFile), []byte("not a certificate"), 0o644))
	assert.Error(t, f.Report())
}
