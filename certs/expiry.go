package certs

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"time"

	"k8s.io/utils/clock"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// FileExpiry reports the expiry of the serving certificate in a directory
// (files mode: cert-manager's Secret mounted at --cert-dir) on the same gauge
// as the self-managed Rotator, so one alert covers both modes. It only reads:
// renewal is cert-manager's job, and controller-runtime's watcher reloads.
type FileExpiry struct {
	Dir      string
	Interval time.Duration // how often tls.crt is read again; 0: every minute
	// Clock times the re-reads (required), as the Rotator's times its checks.
	Clock clock.Clock
}

// NeedLeaderElection: every replica serves, so every replica reports.
func (f *FileExpiry) NeedLeaderElection() bool { return false }

// Start reports at once, then an Interval (on Clock) after each report,
// until ctx ends.
func (f *FileExpiry) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("cert-expiry")
	interval := f.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	for {
		if err := f.Report(); err != nil {
			log.Error(err, "reading the serving certificate", "dir", f.Dir)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-f.Clock.After(interval):
		}
	}
}

// Report sets the gauge to the NotAfter of the first certificate in
// tls.crt (the leaf; any chain follows it).
func (f *FileExpiry) Report() error {
	data, err := os.ReadFile(filepath.Join(f.Dir, CertFile))
	if err != nil {
		return err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return errors.New(CertFile + ": no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	servingNotAfter.Set(float64(cert.NotAfter.Unix()))
	return nil
}
