// Package certs gives the webhook its serving certificate: made and
// rotated by the webhook itself (self mode, kept in a Secret and published
// as the caBundle of the MutatingWebhookConfiguration), or read from files
// another tool such as cert-manager writes (files mode).
package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// clockSkew backdates certificates so a peer whose clock is a little behind
// accepts them at once.
const clockSkew = time.Minute

// authority is a CA that signs serving certificates.
type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
	key     *ecdsa.PrivateKey
}

// newAuthority makes a self-signed ECDSA P-256 CA valid for lifetime.
func newAuthority(name string, now time.Time, lifetime time.Duration) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl, err := template(now, lifetime)
	if err != nil {
		return nil, err
	}
	tmpl.Subject = pkix.Name{CommonName: name + " CA " + now.UTC().Format(time.RFC3339)}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	return authorityFromDER(der, key)
}

func authorityFromDER(der []byte, key *ecdsa.PrivateKey) (*authority, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &authority{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// parseAuthority reads a CA back from its PEM certificate and key.
func parseAuthority(certPEM, keyPEM []byte) (*authority, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("CA certificate or key is not PEM")
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	a, err := authorityFromDER(cb.Bytes, key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !a.cert.IsCA || !key.PublicKey.Equal(a.cert.PublicKey) {
		return nil, errors.New("CA certificate and key do not belong together")
	}
	return a, nil
}

// issue signs a serving certificate for hosts (DNS names or IP addresses),
// valid for lifetime but never beyond the CA.
func (a *authority) issue(hosts []string, now time.Time, lifetime time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := template(now, lifetime)
	if err != nil {
		return nil, nil, err
	}
	tmpl.Subject = pkix.Name{CommonName: hosts[0]}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if tmpl.NotAfter.After(a.cert.NotAfter) {
		tmpl.NotAfter = a.cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

func template(now time.Time, lifetime time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now.Add(-min(clockSkew, lifetime)),
		NotAfter:     now.Add(lifetime),
	}, nil
}

// leaf is a parsed serving certificate.
type leaf struct {
	tls  tls.Certificate
	cert *x509.Certificate
}

func parseLeaf(certPEM, keyPEM []byte) (*leaf, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &leaf{tls: pair, cert: pair.Leaf}, nil
}

// covers tells whether the certificate names exactly hosts.
func (l *leaf) covers(hosts []string) bool {
	names := slices.Clone(l.cert.DNSNames)
	for _, ip := range l.cert.IPAddresses {
		names = append(names, ip.String())
	}
	want := slices.Clone(hosts)
	slices.Sort(names)
	slices.Sort(want)
	return slices.Equal(names, want)
}

// signedBy tells whether the certificate was issued by a.
func (l *leaf) signedBy(a *authority) bool {
	return bytes.Equal(l.cert.RawIssuer, a.cert.RawSubject) && l.cert.CheckSignatureFrom(a.cert) == nil
}

// parseBundle reads the certificates of a PEM bundle; blocks that do not
// parse are left out.
func parseBundle(b []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return out
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

func encodeBundle(certs []*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}
