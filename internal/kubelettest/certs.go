package kubelettest

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	"github.com/loglet/loglet/internal/testpki"
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
	p, err := testpki.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Issue("kubelet", pkix.Name{CommonName: "kubelet"}, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Issue("apiserver-kubelet-client", pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}}); err != nil {
		t.Fatal(err)
	}
	return &Certs{Dir: dir, CA: p.Path("ca.crt"), ServerCert: p.Path("kubelet.crt"), ServerKey: p.Path("kubelet.key"),
		ClientCert: p.Path("apiserver-kubelet-client.crt"), ClientKey: p.Path("apiserver-kubelet-client.key"), pool: p.Pool()}
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
