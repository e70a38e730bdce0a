package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/sink"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
)

// reportWithin is how soon the issue asks every sink to report a hub that
// went away: a log line, loglet_send_errors_total and loglet_sink_up.
const reportWithin = 5 * time.Second

// outageHub is a real hub the test can take down and bring back on the
// same address, keeping what it stored.
type outageHub struct {
	sinkURL string
	// addr is the host:port the agent's error must name.
	addr   string
	down   func()
	up     func()
	bodies func() []string // every record body stored, in arrival order
}

// TestSinkOutageReported: for every sink, the hub goes away while the
// agent delivers. Within reportWithin the agent must have counted a failed
// attempt, set loglet_sink_up to 0 and logged an error naming the hub and
// the cause, while /readyz (Agent.Ready) stays ok: a sidecar that turned
// unready would take its pod out of its Services for a problem of the
// hub's. Once the hub is back, loglet_sink_up returns to 1 and every line
// arrives, in order.
func TestSinkOutageReported(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T) *outageHub
		// cause is what the error must say went wrong.
		cause []string
	}{
		{"kafka", startKafkaOutageHub, []string{"connection refused"}},
		{"nats", startNATSOutageHub, []string{"connection lost", "reconnect failed", "disconnected"}},
		// A request on a kept-alive connection the server closed fails
		// with EOF (or a reset); a new one is refused.
		{"http", func(t *testing.T) *outageHub { return startHTTPOutageHub(t, false) }, []string{"connection refused", "EOF", "connection reset"}},
		{"otlp", func(t *testing.T) *outageHub { return startHTTPOutageHub(t, true) }, []string{"connection refused", "EOF", "connection reset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := tt.start(t)
			glob, path := emptyAppLog(t)
			cfg := testConfig(glob)
			cfg.DrainTimeout = 2 * time.Second
			a, logs := startLoggedAgent(t, cfg, hub.sinkURL)

			appendN(t, path, "a", 0, 1000)
			poll.Until(t, 30*time.Second, "the first lines in the hub", func() bool { return len(hub.bodies()) >= 1000 })
			if v, ok := metricValue(t, a, "loglet_sink_up"); !ok || v != 1 {
				t.Fatalf("loglet_sink_up = %v (present: %v) while the hub acknowledges, want 1", v, ok)
			}
			errorsBefore, _ := metricValue(t, a, "loglet_send_errors_total")

			hub.down()
			wentDown := time.Now()
			t.Logf("hub down at %s", wentDown.Format(time.StampMilli))
			appendN(t, path, "a", 1000, 2000) // written while the hub is down
			deadline := wentDown.Add(reportWithin)
			poll.Until(t, time.Until(deadline), "loglet_send_errors_total to rise", func() bool {
				v, _ := metricValue(t, a, "loglet_send_errors_total")
				return v > errorsBefore
			})
			poll.Until(t, time.Until(deadline), "loglet_sink_up to be 0", func() bool {
				v, ok := metricValue(t, a, "loglet_sink_up")
				return ok && v == 0
			})
			var line string
			poll.Until(t, time.Until(deadline), "an error naming "+hub.addr+" and the cause", func() bool {
				line = logs.find("level=ERROR", hub.addr, tt.cause)
				return line != ""
			})
			t.Logf("reported %s after the hub went away: %s", time.Since(wentDown).Round(time.Millisecond), line)
			if !a.Ready() {
				t.Error("/readyz failed with the hub down: a sidecar's readiness must not follow its hub")
			}

			// A few more failed attempts before the hub comes back: each
			// retry must leave the sink able to deliver the same packages.
			poll.Until(t, 10*time.Second, "three failed attempts", func() bool {
				v, _ := metricValue(t, a, "loglet_send_errors_total")
				return v >= errorsBefore+3
			})
			hub.up()
			appendN(t, path, "a", 2000, 3000)
			poll.Until(t, 60*time.Second, "every line in the hub", func() bool { return len(hub.bodies()) >= 3000 })
			poll.Until(t, 5*time.Second, "loglet_sink_up back to 1", func() bool {
				v, ok := metricValue(t, a, "loglet_sink_up")
				return ok && v == 1
			})
			if logs.find("level=INFO", hub.addr, []string{"hub acknowledged again"}) == "" {
				t.Errorf("no line says the hub %s acknowledges again", hub.addr)
			}
			wantInOrder(t, hub.bodies(), "a", 0, 3000)
		})
	}
}

// wantInOrder checks that bodies hold every tag line from..to, first seen
// in order. At-least-once allows a line sent again after a failed attempt
// the hub had in fact stored; it does not allow one lost or overtaken.
func wantInOrder(t *testing.T, bodies []string, tag string, from, to int) {
	t.Helper()
	seen := map[string]bool{}
	next, dups := from, 0
	for _, b := range bodies {
		if !strings.HasPrefix(b, tag+" ") {
			continue
		}
		if seen[b] {
			dups++
			continue
		}
		seen[b] = true
		if want := lineOf(tag, next); b != want {
			t.Fatalf("line %q arrived where %q was due: lost or out of order", b, want)
		}
		next++
	}
	if next != to {
		t.Fatalf("%d of %d lines arrived; %q is missing", next-from, to-from, lineOf(tag, next))
	}
	if dups > 0 {
		t.Logf("%d lines arrived twice (at-least-once)", dups)
	}
}

// lineOf is line i of appendN.
func lineOf(tag string, i int) string {
	return fmt.Sprintf("%s %04d %s", tag, i, strings.Repeat("-", 40))
}

// metricValue reads a counter or gauge of the agent (summed over labels)
// and whether the agent has it.
func metricValue(t *testing.T, a *Agent, name string) (float64, bool) {
	t.Helper()
	for _, f := range a.Metrics().Registry.Gather() {
		if f.Name != name {
			continue
		}
		var sum float64
		for _, s := range f.Samples {
			sum += s.Value
		}
		return sum, true
	}
	return 0, false
}

// logBuffer keeps the agent's log lines for the test to search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// find returns the first line holding level and addr and one of causes.
func (b *logBuffer) find(level, addr string, causes []string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for line := range strings.Lines(b.buf.String()) {
		if !strings.Contains(line, level) || !strings.Contains(line, addr) {
			continue
		}
		for _, c := range causes {
			if strings.Contains(line, c) {
				return strings.TrimSpace(line)
			}
		}
	}
	return ""
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLoggedAgent runs an agent until the test ends, its log kept (and
// shown if the test fails).
func startLoggedAgent(t *testing.T, cfg Config, sinkURL string, opts ...func(*Agent)) (*Agent, *logBuffer) {
	t.Helper()
	store, err := checkpoint.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	sk, err := sink.Open(context.Background(), sinkURL, sink.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, sk, store, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx); sk.Close() }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("agent log:\n%s", logs)
		}
	})
	return a, logs
}

// TestDeliveryResumesWhenHubBack: when the NATS client connects to the hub
// again, delivery resumes at once, not when the backoff ends (after a
// minute's outage, 15 to 45 s later: found by the 60 s outage,
// whose volume filled meanwhile). The agent's backoff is an hour here, so
// only the reconnection can resume it within the test.
func TestDeliveryResumesWhenHubBack(t *testing.T) {
	hub := startNATSOutageHub(t)
	glob, path := emptyAppLog(t)
	cfg := testConfig(glob)
	cfg.DrainTimeout = 2 * time.Second
	a, _ := startLoggedAgent(t, cfg, hub.sinkURL, func(a *Agent) { a.retry = retryBounds{first: time.Hour, max: time.Hour} })

	appendN(t, path, "a", 0, 100)
	poll.Until(t, 30*time.Second, "the first lines in the hub", func() bool { return len(hub.bodies()) >= 100 })
	hub.down()
	appendN(t, path, "a", 100, 200) // written while the hub is down
	poll.Until(t, 30*time.Second, "a failed delivery", func() bool {
		v, _ := metricValue(t, a, "loglet_send_errors_total")
		return v > 0
	})
	hub.up()
	poll.Until(t, 30*time.Second, "the lines written during the outage in the hub", func() bool { return len(hub.bodies()) >= 200 })
	wantExactly(t, hub.bodies(), "a", 0, 200)
}

// emptyAppLog makes an empty app.log in a folder of its own, for an agent
// started before the app writes; it returns the glob that reads it and
// its path.
func emptyAppLog(t *testing.T) (glob, path string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "app.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir + "/*.log", path
}

// startKafkaOutageHub runs kfake (franz-go's in-process Kafka, the one
// stand-in: no broker can be installed here); down closes it, up starts it
// again on the same port and data.
func startKafkaOutageHub(t *testing.T) *outageHub {
	data := t.TempDir()
	addr := freeport.Addr(t)
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	var cluster *kfake.Cluster
	start := func() {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(p), kfake.DataDir(data), kfake.SeedTopics(3, "logs"))
		if err != nil {
			t.Fatal(err)
		}
		cluster = c
	}
	start()
	t.Cleanup(func() { cluster.Close() })
	url := "kafka://" + addr + "/logs"
	return &outageHub{
		sinkURL: url, addr: addr,
		down:   func() { cluster.Close() },
		up:     start,
		bodies: func() []string { return kafkaBodies(t, url) },
	}
}

// startNATSOutageHub runs the embedded hub (a real nats-server); down
// shuts it down, up starts it again on the same port and data.
func startNATSOutageHub(t *testing.T) *outageHub {
	data := t.TempDir()
	h := startHub(t, "127.0.0.1:0", data)
	addr := strings.TrimPrefix(h.ServerURL(), "nats://")
	t.Cleanup(func() { h.Shutdown() })
	return &outageHub{
		sinkURL: h.SinkURL(), addr: addr,
		down: func() { h.Shutdown() },
		up:   func() { h = startHub(t, addr, data) },
		bodies: func() []string {
			var out []string
			for _, recs := range streamRecords(t, h.ServerURL()) {
				for _, r := range recs {
					out = append(out, r.Body)
				}
			}
			return out
		},
	}
}

// httpReceiver is a real HTTP hub: gzip NDJSON (the http sink) or gzip
// OTLP protobuf (the otlp sink), bodies kept in arrival order.
type httpReceiver struct {
	otlp   bool
	mu     sync.Mutex
	bodies []string
}

func (h *httpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []string
	if h.otlp {
		var req collogspb.ExportLogsServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					got = append(got, lr.Body.GetStringValue())
				}
			}
		}
	} else {
		recs, torn, err := sinktest.Parse(bytes.NewReader(body))
		if err != nil || torn > 0 {
			http.Error(w, "bad NDJSON", http.StatusBadRequest)
			return
		}
		for _, rec := range recs {
			got = append(got, rec.Body)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bodies = append(h.bodies, got...)
}

// startHTTPOutageHub serves httpReceiver on a real listener; down closes
// the server (listener and connections), up listens again on the address.
func startHTTPOutageHub(t *testing.T, otlp bool) *outageHub {
	addr := freeport.Addr(t)
	rcv := &httpReceiver{otlp: otlp}
	var srv *http.Server
	serve := func() {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv = &http.Server{Handler: rcv, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
	}
	serve()
	t.Cleanup(func() { srv.Close() })
	url := "http://" + addr + "/ingest"
	if otlp {
		url = "otlp+http://" + addr
	}
	return &outageHub{
		sinkURL: url, addr: addr,
		down: func() { srv.Close() },
		up:   serve,
		bodies: func() []string {
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			return append([]string(nil), rcv.bodies...)
		},
	}
}
