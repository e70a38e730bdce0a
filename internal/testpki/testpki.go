// Package testpki writes the certificates test clusters need: one CA that
// signs serving certificates (for DNS names and IPs) and client
// certificates (a subject: CN and groups), as PEM files in a folder.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a CA and the certificates it issued, in a folder: <name>.crt and
// <name>.key, the CA's as ca.crt and ca.key.
type PKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

// New makes the CA in dir.
func New(dir string) (*PKI, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loglet test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(der)
	p := &PKI{dir: dir, ca: ca, caKey: key, serial: 1}
	return p, p.write("ca", der, key)
}

// Path is the file of a certificate ("<name>.crt") or key ("<name>.key").
func (p *PKI) Path(name string) string { return filepath.Join(p.dir, name) }

// Issue writes <name>.crt and <name>.key: a certificate for the subject,
// for serving hosts (DNS names or IPs) when given, else for clients.
func (p *PKI) Issue(name string, subject pkix.Name, hosts ...string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	p.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if len(hosts) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", name, err)
	}
	return p.write(name, der, key)
}

func (p *PKI) write(name string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.Path(name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(p.Path(name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// ServiceAccountKey writes the key pair service-account tokens are signed
// with (sa.key, sa.pub).
func (p *PKI) ServiceAccountKey() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.Path("sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(p.Path("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

// Pool holds the CA, for a server that verifies client certificates.
func (p *PKI) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

// ClientCAs makes what a test of client certificates needs, failing t if
// it cannot: ca signed a serving certificate for 127.0.0.1 ("server")
// and a client certificate ("client"); other, another CA, signed a
// "client" of its own, which a server trusting ca must refuse.
func ClientCAs(t testing.TB) (ca, other *PKI) {
	t.Helper()
	ca, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err = New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		ca.Issue("server", pkix.Name{CommonName: "loglet"}, "127.0.0.1"),
		ca.Issue("client", pkix.Name{CommonName: "client"}),
		other.Issue("client", pkix.Name{CommonName: "client"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ca, other
}

// KeyPair loads the certificate and key name, failing t if it cannot.
func (p *PKI) KeyPair(t testing.TB, name string) *tls.Certificate {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.Path(name+".crt"), p.Path(name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return &cert
}
