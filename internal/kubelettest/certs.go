package kubelettest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs are the TLS files kube-apiserver and the fixture trust each other
// with: a CA, the kubelet's serving certificate (for 127.0.0.1) and the
// client certificate kube-apiserver presents (group system:masters).
type Certs struct {
	Dir                                              string
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	pool                                             *x509.CertPool
}

// NewCerts writes a fresh set into a temporary folder of t.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	dir := t.TempDir()
	c := &Certs{Dir: dir,
		CA: filepath.Join(dir, "ca.crt"), ServerCert: filepath.Join(dir, "kubelet.crt"), ServerKey: filepath.Join(dir, "kubelet.key"),
		ClientCert: filepath.Join(dir, "apiserver-kubelet-client.crt"), ClientKey: filepath.Join(dir, "apiserver-kubelet-client.key")}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubelettest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	c.pool = x509.NewCertPool()
	c.pool.AddCert(ca)
	writePEM(t, c.CA, "CERTIFICATE", caDER)
	issue := func(serial int64, name pkix.Name, usage x509.ExtKeyUsage, certPath, keyPath string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: name,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		writePEM(t, certPath, "CERTIFICATE", der)
		writePEM(t, keyPath, "EC PRIVATE KEY", keyDER)
	}
	issue(2, pkix.Name{CommonName: "kubelet"}, x509.ExtKeyUsageServerAuth, c.ServerCert, c.ServerKey)
	issue(3, pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		x509.ExtKeyUsageClientAuth, c.ClientCert, c.ClientKey)
	return c
}

// APIServerFlags make kube-apiserver reach the fixture's kubelet API by
// the node's InternalIP, verify it, and authenticate to it.
func (c *Certs) APIServerFlags() map[string]string {
	return map[string]string{
		"kubelet-client-certificate":      c.ClientCert,
		"kubelet-client-key":              c.ClientKey,
		"kubelet-certificate-authority":   c.CA,
		"kubelet-preferred-address-types": "InternalIP",
	}
}

func (c *Certs) serverTLS(t testing.TB) *tls.Config {
	cert, err := tls.LoadX509KeyPair(c.ServerCert, c.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: c.pool, ClientAuth: tls.RequireAndVerifyClientCert}
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
