package modes

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loglet/loglet/internal/testpki"
	"github.com/loglet/loglet/sidecar/config"
)

// TestServerTLS: what a push input's tls-cert-file, tls-key-file and
// client-ca-file make of its listener. With a client CA, a sender must
// show a certificate that CA signed; the receivers' tests hold the
// handshakes, this holds the files' way to them.
func TestServerTLS(t *testing.T) {
	pki, other := testpki.ClientCAs(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf := func(p *testpki.PKI) *x509.Certificate {
		c, err := x509.ParseCertificate(p.KeyPair(t, "client").Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	signed, foreign := leaf(pki), leaf(other)
	server := config.Listener{TLSCertFile: pki.Path("server.crt"), TLSKeyFile: pki.Path("server.key")}
	withCA := server
	withCA.ClientCAFile = pki.Path("ca.crt")

	for _, tc := range []struct {
		name string
		l    config.Listener
		auth tls.ClientAuthType
		err  string
	}{
		{name: "tls only", l: server, auth: tls.NoClientCert},
		{name: "client ca", l: withCA, auth: tls.RequireAndVerifyClientCert},
		{name: "key missing", l: config.Listener{TLSCertFile: server.TLSCertFile, TLSKeyFile: filepath.Join(t.TempDir(), "none.key")}, err: "tls-cert-file, tls-key-file"},
		{name: "ca missing", l: config.Listener{TLSCertFile: server.TLSCertFile, TLSKeyFile: server.TLSKeyFile, ClientCAFile: filepath.Join(t.TempDir(), "none.crt")}, err: "client-ca-file"},
		{name: "ca not pem", l: config.Listener{TLSCertFile: server.TLSCertFile, TLSKeyFile: server.TLSKeyFile, ClientCAFile: notPEM}, err: "holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := serverTLS(&tc.l)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Certificates) != 1 || cfg.MinVersion < tls.VersionTLS12 || cfg.ClientAuth != tc.auth {
				t.Fatalf("%d certificates, min version %#x, client auth %v; want 1, TLS 1.2 or later, %v", len(cfg.Certificates), cfg.MinVersion, cfg.ClientAuth, tc.auth)
			}
			if tc.auth != tls.RequireAndVerifyClientCert {
				return
			}
			opts := x509.VerifyOptions{Roots: cfg.ClientCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if _, err := signed.Verify(opts); err != nil {
				t.Errorf("a sender the client CA signed is refused: %v", err)
			}
			if _, err := foreign.Verify(opts); err == nil {
				t.Errorf("a sender another CA signed is taken")
			}
		})
	}
}
