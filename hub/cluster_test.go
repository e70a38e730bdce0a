package hub

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/internal/testpki"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStartRefusesBadOptions: each mistake is named, with the fix.
func TestStartRefusesBadOptions(t *testing.T) {
	pw := writeFile(t, "pw", "secret\n")
	empty := writeFile(t, "empty", "\n")
	badKeys := writeFile(t, "keys", "# users\nSUAM-not-a-public-key\n")
	badSum := writeFile(t, "keys", "U"+strings.Repeat("A", 55)+"\n")
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"replicas without a cluster", Options{Replicas: 3}, "needs a cluster (--cluster-name"},
		{"too many replicas", Options{Replicas: 7}, "want 1 to 5"},
		{"routes without a name", Options{Cluster: Cluster{Routes: []string{"nats://h:6222"}}}, "need a cluster name"},
		{"cluster without listen", Options{Cluster: Cluster{Name: "c"}}, "--cluster-listen"},
		{"bad cluster listen", Options{Cluster: Cluster{Name: "c", Listen: "6222"}}, `cluster listen "6222": want host:port`},
		{"bad route", Options{Cluster: Cluster{Name: "c", Listen: "127.0.0.1:0", Routes: []string{"http://h:6222"}}}, `route "http://h:6222": want nats://host:6222`},
		{"route password missing", Options{Cluster: Cluster{Name: "c", Listen: "127.0.0.1:0", User: "r", PasswordFile: "/nonexistent/pw"}}, "cluster password file: open /nonexistent/pw"},
		{"route password empty", Options{Cluster: Cluster{Name: "c", Listen: "127.0.0.1:0", User: "r", PasswordFile: empty}}, "is empty: write the password into it"},
		{"route password without user", Options{Cluster: Cluster{Name: "c", Listen: "127.0.0.1:0", PasswordFile: pw}}, "without a cluster user (--cluster-user)"},
		{"password without user", Options{Auth: Auth{PasswordFile: pw}}, "without a user (--user)"},
		{"user without password", Options{Auth: Auth{User: "agent"}}, "password file: open"},
		{"bad nkey", Options{Auth: Auth{NkeysFile: badKeys}}, "line 2"},
		{"nkey with a bad checksum", Options{Auth: Auth{NkeysFile: badSum}}, "line 1"},
		{"cert without key", Options{TLS: TLS{CertFile: pw}}, "--tls-cert and --tls-key"},
		{"CA without cert", Options{TLS: TLS{CAFile: pw}}, "needs the member's own certificate"},
		{"cert not PEM", Options{TLS: TLS{CertFile: pw, KeyFile: pw}}, "tls:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Listen, tc.o.DataDir = "127.0.0.1:0", t.TempDir()
			h, err := Start(context.Background(), tc.o)
			if err == nil {
				h.Shutdown()
				t.Fatalf("started; want an error saying %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestClientAuth: with a user and an nkey configured, a client without
// either is refused; with the password or by signing with the seed it
// connects and finds the stream.
func TestClientAuth(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	h, err := Start(context.Background(), Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(),
		Auth: Auth{User: "agent", PasswordFile: writeFile(t, "pw", "s3cret\n"), NkeysFile: writeFile(t, "keys", "# the agents\n"+pub+"\n")}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown()
	seedFile := writeFile(t, "seed", string(seed))
	nkeyOpt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []nats.Option
		ok   bool
	}{
		{"anonymous", nil, false},
		{"wrong password", []nats.Option{nats.UserInfo("agent", "guess")}, false},
		{"password", []nats.Option{nats.UserInfo("agent", "s3cret")}, true},
		{"nkey", []nats.Option{nkeyOpt}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(h.ServerURL(), tc.opts...)
			if !tc.ok {
				if err == nil {
					nc.Close()
					t.Fatal("connected; want the hub to refuse")
				}
				if !strings.Contains(err.Error(), "Authorization Violation") {
					t.Errorf("refused with %v, want an authorization violation", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Request("$JS.API.STREAM.INFO.LOGLET", nil, 5*time.Second); err != nil {
				t.Errorf("stream info: %v", err)
			}
		})
	}
}

func FuzzParseNkeys(f *testing.F) {
	f.Add([]byte("# agents\nUDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4\n\n"))
	f.Add([]byte("SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY\n"))
	f.Add([]byte("U\r\nU" + strings.Repeat("A", 55)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		users, err := parseNkeys("keys", b)
		if err == nil && len(users) == 0 {
			t.Fatal("no error and no key")
		}
		for _, u := range users {
			if !strings.HasPrefix(u.Nkey, "U") || len(u.Nkey) != 56 {
				t.Fatalf("accepted %q", u.Nkey)
			}
		}
	})
}

// TestClientTLS: a hub with a certificate serves clients over TLS only; a
// client that trusts the CA reads the stream, one that does not is refused.
func TestClientTLS(t *testing.T) {
	dir := t.TempDir()
	pki, err := testpki.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.Issue("hub", pkix.Name{CommonName: "hub"}, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	h, err := Start(context.Background(), Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(),
		TLS: TLS{CertFile: pki.Path("hub.crt"), KeyFile: pki.Path("hub.key")}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown()
	nc, err := nats.Connect(h.ServerURL(), nats.RootCAs(pki.Path("ca.crt")))
	if err != nil {
		t.Fatalf("a client trusting the CA: %v", err)
	}
	defer nc.Close()
	if !nc.TLSRequired() {
		t.Error("the connection is not TLS")
	}
	if _, err := nc.Request("$JS.API.STREAM.INFO.LOGLET", nil, 5*time.Second); err != nil {
		t.Errorf("stream info over TLS: %v", err)
	}
	if nc, err := nats.Connect(h.ServerURL()); err == nil {
		nc.Close()
		t.Error("a client that does not trust the CA connected")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("refused with %v; want a certificate error", err)
	}
}

// syncLog collects a hub's log lines.
type syncLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *syncLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *syncLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// TestRoutePassword: a member with the cluster's route password joins;
// one with another password is refused and forms no route.
func TestRoutePassword(t *testing.T) {
	good, bad := writeFile(t, "good", "route-secret\n"), writeFile(t, "bad", "guess\n")
	for _, tc := range []struct {
		name   string
		second string // the second member's password file
		joins  bool
	}{
		{"same password", good, true},
		{"other password", bad, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln1, _ := net.Listen("tcp", "127.0.0.1:0")
			ln2, _ := net.Listen("tcp", "127.0.0.1:0")
			a1, a2 := ln1.Addr().String(), ln2.Addr().String()
			ln1.Close()
			ln2.Close()
			routes := []string{"nats://" + a1, "nats://" + a2}
			log := &syncLog{}
			// Neither member can place the stream until the two elect a
			// meta leader: start both at once. Refused, they wait until
			// the test, having seen the refusal, cancels them.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := func(name, listen, pw string, logf func(string, ...any)) (*Hub, error) {
				return Start(ctx, Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Name: name, Logf: logf,
					Cluster: Cluster{Name: "c", Listen: listen, Routes: routes, User: "route", PasswordFile: pw}})
			}
			type result struct {
				h   *Hub
				err error
			}
			first, second := make(chan result, 1), make(chan result, 1)
			go func() { h, err := start("one", a1, good, log.logf); first <- result{h, err} }()
			go func() { h, err := start("two", a2, tc.second, nil); second <- result{h, err} }()
			if tc.joins {
				for _, c := range []chan result{first, second} {
					r := <-c
					if r.err != nil {
						t.Fatalf("member: %v", r.err)
					}
					defer r.h.Shutdown()
					if r.h.ns.NumRoutes() == 0 {
						t.Errorf("member %s with the same password has no route", r.h.Name())
					}
				}
				return
			}
			poll.Until(t, 20*time.Second, "the first member to refuse the second's route", func() bool { return log.contains("Authorization Violation") })
			cancel()
			for _, c := range []chan result{first, second} {
				if r := <-c; r.err == nil {
					r.h.Shutdown()
					t.Errorf("member %s placed the stream with a stranger", r.h.Name())
				}
			}
		})
	}
}

// memberCerts writes a CA and, per member, a certificate for 127.0.0.1
// usable both ways (a member dials the others' routes and takes theirs);
// stranger is signed by another CA.
func memberCerts(t *testing.T, members ...string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	newCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		ca, _ := x509.ParseCertificate(der)
		os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
		return ca, key
	}
	ca, caKey := newCA("ca")
	other, otherKey := newCA("other-ca")
	for i, m := range append(members, "stranger") {
		signer, signerKey := ca, caKey
		if m == "stranger" {
			signer, signerKey = other, otherKey
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: m}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		os.WriteFile(filepath.Join(dir, m+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
		os.WriteFile(filepath.Join(dir, m+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	}
	return dir
}

// TestRouteTLS: with --tls-ca, members speak TLS on their routes and check
// each other's certificate: two members with certificates from the CA
// form the cluster; one with a certificate from another CA cannot join.
func TestRouteTLS(t *testing.T) {
	certs := memberCerts(t, "one", "two")
	for _, tc := range []struct {
		name   string
		second string
		joins  bool
	}{
		{"certificate from the CA", "two", true},
		{"certificate from another CA", "stranger", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln1, _ := net.Listen("tcp", "127.0.0.1:0")
			ln2, _ := net.Listen("tcp", "127.0.0.1:0")
			a1, a2 := ln1.Addr().String(), ln2.Addr().String()
			ln1.Close()
			ln2.Close()
			routes := []string{"nats://" + a1, "nats://" + a2}
			log := &syncLog{}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := func(name, cert, listen string, logf func(string, ...any)) (*Hub, error) {
				return Start(ctx, Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Name: name, Logf: logf,
					Cluster: Cluster{Name: "c", Listen: listen, Routes: routes},
					TLS:     TLS{CertFile: filepath.Join(certs, cert+".crt"), KeyFile: filepath.Join(certs, cert+".key"), CAFile: filepath.Join(certs, "ca.crt")}})
			}
			type result struct {
				h   *Hub
				err error
			}
			first, second := make(chan result, 1), make(chan result, 1)
			go func() { h, err := start("one", "one", a1, log.logf); first <- result{h, err} }()
			go func() { h, err := start("two", tc.second, a2, nil); second <- result{h, err} }()
			if tc.joins {
				for _, c := range []chan result{first, second} {
					r := <-c
					if r.err != nil {
						t.Fatalf("member: %v\n%s", r.err, strings.Join(log.lines, "\n"))
					}
					defer r.h.Shutdown()
					if r.h.ns.NumRoutes() == 0 {
						t.Errorf("member %s has no route", r.h.Name())
					}
				}
				return
			}
			poll.Until(t, 20*time.Second, "the first member to refuse the stranger's certificate", func() bool { return log.contains("certificate signed by unknown authority") })
			cancel()
			for _, c := range []chan result{first, second} {
				if r := <-c; r.err == nil {
					r.h.Shutdown()
					t.Errorf("member %s placed the stream with a stranger", r.h.Name())
				}
			}
		})
	}
}
