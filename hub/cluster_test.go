package hub

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
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
			if _, err := nc.Request("$JS.API.STREAM.INFO.LOGLET", nil, 5e9); err != nil {
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
