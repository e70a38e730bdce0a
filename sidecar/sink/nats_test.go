package sink

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/sidecar/record"
)

func startNATS(t *testing.T, jetStream bool) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: jetStream, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	return ns
}

// TestNATSSaysWhatTheServerLacks: a server without JetStream, and a
// stream of the URL's name that holds other subjects, are named as what
// is wrong, with how to fix it, in the error of every write.
func TestNATSSaysWhatTheServerLacks(t *testing.T) {
	plain := startNATS(t, false)
	js := startNATS(t, true)
	nc, err := nats.Connect(js.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	jsc, _ := jetstream.New(nc)
	if _, err := jsc.CreateStream(context.Background(), jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"loglet.>"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url, want string
	}{
		{plain.ClientURL() + "/LOGLET", "the NATS server has no JetStream: start it with -js (or run loglet hub)"},
		{js.ClientURL() + "/AUDIT", "stream AUDIT holds subjects [loglet.>], not audit.>, which this loglet publishes to: add it (nats stream edit AUDIT --subjects 'audit.>')"},
	} {
		s, err := Open(context.Background(), tc.url, Options{Timeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err = s.Write(ctx, []*record.Package{testPackage("src", 0, "line")})
		cancel()
		s.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("write to %s: %v\nwant an error saying %q", tc.url, err, tc.want)
		}
	}
}

// TestNATSPasswordReachesEveryServer: with user:password and several
// servers in the URL, a server after the first (the first is down) gets
// the password too: an agent failing over is not refused.
func TestNATSPasswordReachesEveryServer(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		Username: "agent", Password: "s3cret", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	up := strings.TrimPrefix(ns.ClientURL(), "nats://")
	s, err := Open(context.Background(), "nats://agent:s3cret@"+freeport.Addr(t)+","+up+"/LOGLET", Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if n, err := s.Write(ctx, []*record.Package{testPackage("src", 0, "line")}); n != 1 || err != nil {
		t.Fatalf("write through the second server: %d acknowledged, %v", n, err)
	}
}
