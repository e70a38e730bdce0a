package certs

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The Secret's keys. tls.crt and tls.key are what a kubernetes.io/tls
// Secret holds, so other tools can read the serving pair too.
const (
	keyCACert = "ca.crt"
	keyCAKey  = "ca.key"
	// keyBundle is what the API server trusts: the current CA first, then
	// older ones until they expire, so certificates they signed still
	// verify while replicas move to the new one.
	keyBundle = "ca-bundle.crt"
	keyCert   = corev1.TLSCertKey
	keyKey    = corev1.TLSPrivateKeyKey
)

// Policy is what the serving certificate must be.
type Policy struct {
	// Name goes into the CA's common name.
	Name string
	// Hosts are the DNS names (and IP addresses) the certificate names;
	// the first is its common name.
	Hosts []string
	// Lifetime of the CA and of each serving certificate; both are renewed
	// when a third of it is left.
	Lifetime time.Duration
}

// settle is how long a new CA stays published in the webhook
// configuration before a certificate it signed is served. The API server
// learns of configuration changes through a watch, within a second or so.
func (p Policy) settle() time.Duration { return min(p.Lifetime/10, 10*time.Second) }

// renewAt is when a certificate valid until notAfter is due for renewal.
func (p Policy) renewAt(notAfter time.Time) time.Time { return notAfter.Add(-p.Lifetime / 3) }

// plan decides the Secret's next content from its current data (nil when
// there is none). published is since when the data's bundle has been the
// webhook configuration's caBundle (zero: it is not). It returns the new
// data and why, or nil and how long until something is due.
//
// A CA change takes two steps so no admission fails in between: the new CA
// joins the bundle first; only when that bundle has been published for
// settle is the serving certificate it signs put in place.
func plan(data map[string][]byte, p Policy, now, published time.Time) (map[string][]byte, string, time.Duration, error) {
	if len(p.Hosts) == 0 || p.Lifetime <= 0 {
		return nil, "", 0, fmt.Errorf("certificate policy needs hosts and a positive lifetime")
	}
	bundle := parseBundle(data[keyBundle])
	ca, err := parseAuthority(data[keyCACert], data[keyCAKey])
	if err != nil || !now.Before(ca.cert.NotAfter) {
		reason := "no CA yet"
		if err != nil && len(data) > 0 {
			reason = fmt.Sprintf("CA unreadable (%v): starting over", err)
		} else if err == nil {
			reason = "CA expired: starting over"
		}
		ca, err := newAuthority(p.Name, now, p.Lifetime)
		if err != nil {
			return nil, "", 0, err
		}
		out, err := withLeaf(ca, bundle, p, now)
		return out, reason, 0, err
	}
	if !now.Before(p.renewAt(ca.cert.NotAfter)) {
		next, err := newAuthority(p.Name, now, p.Lifetime)
		if err != nil {
			return nil, "", 0, err
		}
		out := withCA(next, bundle, now)
		out[keyCert], out[keyKey] = data[keyCert], data[keyKey]
		return out, "CA due for renewal: new CA added to the bundle", 0, nil
	}

	l, err := parseLeaf(data[keyCert], data[keyKey])
	switch {
	case err != nil || !now.Before(l.cert.NotAfter):
		// Nothing valid is served: no reason to wait for the bundle.
		out, err := withLeaf(ca, bundle, p, now)
		return out, "serving certificate missing, unreadable or expired", 0, err
	case !l.covers(p.Hosts) || !l.signedBy(ca) || !now.Before(p.renewAt(l.cert.NotAfter)):
		if published.IsZero() {
			return nil, "", p.settle(), nil
		}
		if wait := published.Add(p.settle()).Sub(now); wait > 0 {
			return nil, "", wait, nil
		}
		out, err := withLeaf(ca, bundle, p, now)
		return out, "serving certificate renewed", 0, err
	}

	if pruned := withCA(ca, bundle, now); !bytes.Equal(pruned[keyBundle], data[keyBundle]) {
		pruned[keyCert], pruned[keyKey] = data[keyCert], data[keyKey]
		return pruned, "expired CAs removed from the bundle", 0, nil
	}
	wait := min(p.renewAt(ca.cert.NotAfter).Sub(now), p.renewAt(l.cert.NotAfter).Sub(now))
	for _, c := range bundle {
		if !c.Equal(ca.cert) {
			wait = min(wait, c.NotAfter.Sub(now))
		}
	}
	return nil, "", wait, nil
}

// withCA is the data for ca as current CA: the bundle keeps the older CAs
// that have not expired.
func withCA(ca *authority, bundle []*x509.Certificate, now time.Time) map[string][]byte {
	trusted := []*x509.Certificate{ca.cert}
	for _, c := range bundle {
		if !c.Equal(ca.cert) && now.Before(c.NotAfter) {
			trusted = append(trusted, c)
		}
	}
	return map[string][]byte{keyCACert: ca.certPEM, keyCAKey: ca.keyPEM, keyBundle: encodeBundle(trusted)}
}

// withLeaf is withCA with a new serving certificate signed by ca.
func withLeaf(ca *authority, bundle []*x509.Certificate, p Policy, now time.Time) (map[string][]byte, error) {
	out := withCA(ca, bundle, now)
	var err error
	out[keyCert], out[keyKey], err = ca.issue(p.Hosts, now, p.Lifetime)
	return out, err
}
