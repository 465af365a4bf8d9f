package certs

import (
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	planNow   = time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC)
	planNames = []string{"airflow-pod-deadline.airflow-pod-deadline.svc"}
	planIPs   = []net.IP{net.ParseIP("127.0.0.1")}
	// The chart's defaults: a 10-year CA, 1-year serving certificates,
	// renewed 30 days before they expire.
	planPolicy = policy{renewBefore: 30 * 24 * time.Hour, dnsNames: planNames, ips: planIPs}
)

const day = 24 * time.Hour

func mustCA(t *testing.T, issued time.Time, validity time.Duration) *KeyPair {
	t.Helper()
	ca, err := NewCA("airflow-pod-deadline-ca", issued, validity)
	require.NoError(t, err)
	return ca
}

func mustServing(t *testing.T, ca *KeyPair, names []string, issued time.Time, validity time.Duration) *KeyPair {
	t.Helper()
	s, err := ca.IssueServing(names, planIPs, issued, validity)
	require.NoError(t, err)
	return s
}

func TestPlan(t *testing.T) {
	ca := mustCA(t, planNow.Add(-100*day), 3650*day)
	expiringCA := mustCA(t, planNow.Add(-3640*day), 3650*day) // 10 days left
	newCA := mustCA(t, planNow.Add(-day), 3650*day)
	expiredCA := mustCA(t, planNow.Add(-20*day), 10*day)
	fresh := mustServing(t, ca, planNames, planNow.Add(-day), 365*day)
	due := mustServing(t, ca, planNames, planNow.Add(-350*day), 365*day) // 15 days left
	expired := mustServing(t, ca, planNames, planNow.Add(-366*day), 365*day)
	renamed := mustServing(t, ca, []string{"old-name.airflow-pod-deadline.svc"}, planNow.Add(-day), 365*day)
	byExpiring := mustServing(t, expiringCA, planNames, planNow.Add(-day), 365*day)

	trusting := func(cas ...*KeyPair) [][]byte {
		var certs []*x509.Certificate
		for _, c := range cas {
			certs = append(certs, c.Cert)
		}
		b := encodeBundle(certs)
		return [][]byte{b, b} // the mutating and the validating webhook
	}
	tests := map[string]struct {
		st       state
		bundles  [][]byte
		now      time.Time
		want     step
		noWrites bool
	}{
		"empty Secret: a CA and a certificate": {
			st: state{}, bundles: [][]byte{nil, nil},
			want: step{newCA: true, bundle: nil, issue: true}},
		"all current: nothing": {
			st: state{bundle: []*x509.Certificate{ca.Cert}, ca: ca, serving: fresh}, bundles: trusting(ca),
			want: step{bundle: []*x509.Certificate{ca.Cert}}, noWrites: true},
		"serving due, CA trusted: reissue": {
			st: state{bundle: []*x509.Certificate{ca.Cert}, ca: ca, serving: due}, bundles: trusting(ca),
			want: step{bundle: []*x509.Certificate{ca.Cert}, issue: true}},
		"serving expired: reissue whatever the bundles say": {
			st: state{bundle: []*x509.Certificate{ca.Cert}, ca: ca, serving: expired}, bundles: [][]byte{nil, nil},
			want: step{bundle: []*x509.Certificate{ca.Cert}, issue: true}},
		"names changed: reissue": {
			st: state{bundle: []*x509.Certificate{ca.Cert}, ca: ca, serving: renamed}, bundles: trusting(ca),
			want: step{bundle: []*x509.Certificate{ca.Cert}, issue: true}},
		"caBundle reset by helm upgrade: a due certificate waits for the bundle": {
			st: state{bundle: []*x509.Certificate{ca.Cert}, ca: ca, serving: due}, bundles: [][]byte{[]byte("Cg=="), nil},
			want: step{bundle: []*x509.Certificate{ca.Cert}}, noWrites: true},
		"caBundle reset on one webhook only: still waits": {
			st: state{bundle: []*x509.Certificate{ca.Cert}, ca: ca, serving: due}, bundles: [][]byte{trusting(ca)[0], nil},
			want: step{bundle: []*x509.Certificate{ca.Cert}}, noWrites: true},
		"CA rotation, first check: new CA next to the old, certificate kept": {
			st: state{bundle: []*x509.Certificate{expiringCA.Cert}, ca: expiringCA, serving: byExpiring}, bundles: trusting(expiringCA),
			want: step{newCA: true, bundle: []*x509.Certificate{expiringCA.Cert}}},
		"CA rotation, bundle not yet injected: certificate kept": {
			st: state{bundle: []*x509.Certificate{newCA.Cert, expiringCA.Cert}, ca: newCA, serving: byExpiring}, bundles: trusting(expiringCA),
			want: step{bundle: []*x509.Certificate{newCA.Cert, expiringCA.Cert}}, noWrites: true},
		"CA rotation, both CAs trusted: certificate moves to the new CA": {
			st: state{bundle: []*x509.Certificate{newCA.Cert, expiringCA.Cert}, ca: newCA, serving: byExpiring}, bundles: trusting(newCA, expiringCA),
			want: step{bundle: []*x509.Certificate{newCA.Cert, expiringCA.Cert}, issue: true}},
		"expired CA dropped from the bundle": {
			st: state{bundle: []*x509.Certificate{ca.Cert, expiredCA.Cert}, ca: ca, serving: fresh}, bundles: trusting(ca, expiredCA),
			want: step{bundle: []*x509.Certificate{ca.Cert}}},
		"Secret edited by hand, CA key lost: start over, keep trusting the old CA": {
			st: state{bundle: []*x509.Certificate{ca.Cert}}, bundles: trusting(ca),
			want: step{newCA: true, bundle: []*x509.Certificate{ca.Cert}, issue: true}},
		"no webhooks at all: a new CA's certificate at once": {
			st: state{bundle: []*x509.Certificate{expiringCA.Cert}, ca: expiringCA, serving: byExpiring}, bundles: nil,
			want: step{newCA: true, bundle: []*x509.Certificate{expiringCA.Cert}, issue: true}},
		// Replicas' clocks differ. The certificates are backdated by an
		// hour, and only expiry is compared, so a replica behind the one
		// that issued them keeps them.
		"clock 50 minutes behind the issuer: nothing": {
			st:  state{bundle: []*x509.Certificate{ca.Cert}, ca: ca, serving: mustServing(t, ca, planNames, planNow, 365*day)},
			now: planNow.Add(-50 * time.Minute), bundles: trusting(ca),
			want: step{bundle: []*x509.Certificate{ca.Cert}}, noWrites: true},
		"clock a day ahead, outside the renewal window: nothing": {
			st: state{bundle: []*x509.Certificate{ca.Cert}, ca: ca, serving: fresh}, bundles: trusting(ca),
			now:  planNow.Add(day),
			want: step{bundle: []*x509.Certificate{ca.Cert}}, noWrites: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = planNow
			}
			got := plan(tc.st, tc.bundles, now, planPolicy)
			assert.Equal(t, tc.want.newCA, got.newCA, "newCA")
			assert.Equal(t, tc.want.issue, got.issue, "issue")
			assert.Equal(t, len(tc.want.bundle), len(got.bundle), "bundle")
			for i := range min(len(tc.want.bundle), len(got.bundle)) {
				assert.True(t, tc.want.bundle[i].Equal(got.bundle[i]), "bundle[%d]", i)
			}
			assert.Equal(t, !tc.noWrites, got.writes(tc.st), "writes the Secret")
		})
	}
}

// Whatever the state and the clock, a plan never issues from a CA the
// webhooks do not trust while the served certificate still works, which is
// what keeps every handshake verifiable through a rotation.
func TestPlanNeverReplacesAWorkingCertificateUntrusted(t *testing.T) {
	old := mustCA(t, planNow.Add(-3640*day), 3650*day)
	cur := mustCA(t, planNow.Add(-day), 3650*day)
	serving := mustServing(t, old, planNames, planNow.Add(-day), 365*day)
	st := state{bundle: []*x509.Certificate{cur.Cert, old.Cert}, ca: cur, serving: serving}
	onlyOld := encodeBundle([]*x509.Certificate{old.Cert})
	for d := time.Duration(0); d < 9*day; d += 6 * time.Hour {
		s := plan(st, [][]byte{onlyOld, onlyOld}, planNow.Add(d), planPolicy)
		assert.False(t, s.issue, "at +%s", d)
	}
}
