package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/hub"
	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
)

// streamRecords reads every record in the hub's stream, by subject.
func streamRecords(t *testing.T, serverURL string) map[string][]sinktest.Record {
	return streamRecordsOf(t, serverURL, layout.DefaultStream)
}

// streamRecordsOf is streamRecords of one stream.
func streamRecordsOf(t *testing.T, serverURL, stream string) map[string][]sinktest.Record {
	t.Helper()
	nc, err := nats.Connect(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]sinktest.Record{}
	for n := info.NumPending; n > 0; n-- {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ndjson, err := layout.Decode(m.Headers().Get(layout.HeaderEncoding), m.Data())
		if err != nil {
			t.Fatal(err)
		}
		recs, torn, err := sinktest.Parse(strings.NewReader(string(ndjson)))
		if err != nil || torn > 0 {
			t.Fatalf("message on %s: %v, %d torn records", m.Subject(), err, torn)
		}
		out[m.Subject()] = append(out[m.Subject()], recs...)
	}
	return out
}

func startHub(t *testing.T, listen, dir string) *hub.Hub {
	t.Helper()
	h, err := hub.Start(context.Background(), hub.Options{Listen: listen, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestNATSSinkSubjectPerSource: each source's records land on its own
// subject of the embedded hub, in order.
func TestNATSSinkSubjectPerSource(t *testing.T) {
	h := startHub(t, "127.0.0.1:0", t.TempDir())
	defer h.Shutdown()
	dir := t.TempDir()
	for _, name := range []string{"a", "b"} {
		appendN(t, filepath.Join(dir, name+".log"), name, 0, 3000)
	}
	cfg := testConfig(dir + "/*.log")
	cfg.Once = true
	if err := runAgent(t, cfg, t.TempDir(), h.SinkURL()+"?route=shop"); err != nil {
		t.Fatal(err)
	}
	// Route shop has a stream of its own.
	bySubject := streamRecordsOf(t, h.ServerURL(), "LOGLET_shop")
	if len(bySubject) != 2 {
		t.Fatalf("got subjects %v, want one per file", keys(bySubject))
	}
	for subject, recs := range bySubject {
		// A file with no pod: "_" for namespace, pod and container.
		if want := "loglet_shop.shop._._._." + recs[0].Attributes.SourceID; subject != want {
			t.Errorf("subject %s, want %s", subject, want)
		}
		tag := recs[0].Body[:1]
		var bodies []string
		for _, r := range recs {
			bodies = append(bodies, r.Body)
		}
		wantExactly(t, bodies, tag, 0, 3000)
		for i, r := range recs {
			if want := fmt.Sprintf("%s %04d %s", tag, i, strings.Repeat("-", 40)); r.Body != want {
				t.Fatalf("%s record %d = %q, want %q (in order)", subject, i, r.Body, want)
			}
		}
	}
}

// TestNATSRestartLosesNothing: the hub goes away mid-stream and comes back
// on the same port and data; the agent retries and everything arrives.
func TestNATSRestartLosesNothing(t *testing.T) {
	data := t.TempDir()
	h := startHub(t, "127.0.0.1:0", data)
	listen := strings.TrimPrefix(h.ServerURL(), "nats://")
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stop := startAgent(t, testConfig(dir+"/*.log"), h.SinkURL())
	appendN(t, path, "a", 0, 1000)
	poll.Until(t, 10*time.Second, "the first lines in the hub", func() bool { return len(streamRecords(t, h.ServerURL())) == 1 })
	h.Shutdown()
	appendN(t, path, "a", 1000, 2000) // written while the hub is down
	h = startHub(t, listen, data)
	defer h.Shutdown()
	appendN(t, path, "a", 2000, 3000)
	poll.Until(t, 30*time.Second, "every line in the hub", func() bool {
		n := 0
		for _, recs := range streamRecords(t, h.ServerURL()) {
			n += len(recs)
		}
		return n >= 3000
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, recs := range streamRecords(t, h.ServerURL()) {
		for _, r := range recs {
			bodies = append(bodies, r.Body)
		}
	}
	wantExactly(t, bodies, "a", 0, 3000)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
