package certs

import (
	"crypto/x509"
	"net"
	"time"
)

// state is what the Secret holds.
type state struct {
	bundle  []*x509.Certificate // trusted CAs, current first
	ca      *KeyPair            // current CA with its key
	serving *KeyPair
}

// policy is what a plan depends on besides the state and the clock.
type policy struct {
	renewBefore time.Duration
	dnsNames    []string
	ips         []net.IP
}

// step is what one check does to the Secret, in this order. The webhook
// configurations are then made to trust the Secret's bundle, and the serving
// certificate in it is the one served.
type step struct {
	// newCA: create a CA and put it first in the bundle, because the Secret
	// has no usable CA or it expires within renewBefore.
	newCA bool
	// bundle is the trust bundle kept from the Secret: its CAs that have not
	// expired, current first (the new CA, if any, goes before them).
	bundle []*x509.Certificate
	// issue: (re)issue the serving certificate from the current CA.
	issue bool
}

// writes reports whether the step changes the Secret.
func (s step) writes(st state) bool {
	return s.newCA || s.issue || len(s.bundle) != len(st.bundle)
}

// plan decides one check from what the Secret holds (st), the caBundle of
// every webhook as the configurations hold it now, and the clock. It is pure:
// Check reads, plans and applies.
//
// A usable serving certificate is replaced (it is due, its names changed, or
// an older CA signed it) only once every webhook trusts the current CA: until
// then the API server could not verify the new one. That is the overlap of a
// CA rotation: the new CA is added to the bundle next to the old one in one
// check, and the serving certificate moves to it in a later one.
func plan(st state, caBundles [][]byte, now time.Time, p policy) step {
	s := step{bundle: unexpired(st.bundle, now)}
	s.newCA = st.ca == nil || st.ca.Cert.NotAfter.Before(now.Add(p.renewBefore))
	usable := st.serving != nil && now.Before(st.serving.Cert.NotAfter)
	if s.newCA {
		// Nothing trusts a CA made in this check, and nothing it signed
		// exists yet: a usable certificate stays until the bundle carries
		// the new CA (vacuously at once when there is no webhook at all).
		s.issue = !usable || len(caBundles) == 0
		return s
	}
	if !usable {
		s.issue = true
		return s
	}
	c := st.serving.Cert
	due := !c.NotAfter.After(now.Add(p.renewBefore)) || !sameNames(c, p.dnsNames, p.ips) ||
		c.CheckSignatureFrom(st.ca.Cert) != nil
	s.issue = due && trusted(st.ca.Cert, caBundles)
	return s
}

// trusted reports whether every caBundle holds ca.
func trusted(ca *x509.Certificate, caBundles [][]byte) bool {
	for _, bundle := range caBundles {
		found := false
		for _, c := range parseCerts(bundle) {
			found = found || c.Equal(ca)
		}
		if !found {
			return false
		}
	}
	return true
}

func unexpired(certs []*x509.Certificate, now time.Time) []*x509.Certificate {
	out := certs[:0:0]
	for _, c := range certs {
		if now.Before(c.NotAfter) {
			out = append(out, c)
		}
	}
	return out
}

func sameNames(c *x509.Certificate, dnsNames []string, ips []net.IP) bool {
	if len(c.DNSNames) != len(dnsNames) || len(c.IPAddresses) != len(ips) {
		return false
	}
	for i := range dnsNames {
		if c.DNSNames[i] != dnsNames[i] {
			return false
		}
	}
	for i := range ips {
		if !c.IPAddresses[i].Equal(ips[i]) {
			return false
		}
	}
	return true
}
