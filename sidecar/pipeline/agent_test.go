package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/sink"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
	"github.com/loglet/loglet/sidecar/source"
)

func testConfig(paths ...string) Config {
	return Config{
		Paths: paths, BatchBytes: 4 << 10, BatchWait: 20 * time.Millisecond, MaxLineBytes: 256 << 10,
		MaxBufferBytes: 8 << 20, ScanInterval: 20 * time.Millisecond, DrainTimeout: 10 * time.Second,
		Resource: []record.KeyValue{{Key: "host.name", Value: "test-host"}},
	}
}

func newAgent(t *testing.T, cfg Config, state, sinkURL string) (*Agent, sink.Sink) {
	t.Helper()
	store, err := checkpoint.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := sink.Open(context.Background(), sinkURL, sink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, sk, store, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	return a, sk
}

// runAgent runs one agent life to its end (cfg.Once) over state.
func runAgent(t *testing.T, cfg Config, state, sinkURL string) error {
	t.Helper()
	a, sk := newAgent(t, cfg, state, sinkURL)
	defer sk.Close()
	return a.Run(context.Background())
}

// startAgent runs an agent in this process until the test ends (or stop is
// called) and returns the state dir and a stop func that waits for the
// drain.
func startAgent(t *testing.T, cfg Config, sinkURL string) (state string, stop func() error) {
	t.Helper()
	state = t.TempDir()
	return state, startAgentIn(t, cfg, state, sinkURL)
}

// startAgentIn is startAgent over a given state dir: a later life of an
// agent.
func startAgentIn(t *testing.T, cfg Config, state, sinkURL string) (stop func() error) {
	t.Helper()
	a, sk := newAgent(t, cfg, state, sinkURL)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx); sk.Close() }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return stop
}

func readOut(t *testing.T, path string) []sinktest.Record {
	t.Helper()
	recs, torn, err := sinktest.ReadFile(path)
	if err != nil || torn > 0 {
		t.Fatalf("read %s: %v (%d torn records)", path, err, torn)
	}
	return recs
}

// TestKafkaSinkKeysBySource produces to kfake, franz-go's in-process Kafka
// cluster: no Kafka broker can be installed on this machine, so kfake is
// the one stand-in these tests use. Records must be keyed by source id and
// in order per source.
func TestKafkaSinkKeysBySource(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	dir := t.TempDir()
	const n = 3000
	for _, name := range []string{"a", "b", "c"} {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%s %05d\n", name, i)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".log"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, stop := startAgent(t, testConfig(dir+"/*.log"), "kafka://"+strings.Join(cluster.ListenAddrs(), ",")+"/logs")

	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	type seen struct {
		next      int
		partition int32
	}
	bySource := map[string]*seen{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for total := 0; total < 3*n; {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("got %d of %d records: %v", total, 3*n, err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			total++
			var rec sinktest.Record
			recs, _, _ := sinktest.Parse(strings.NewReader(string(r.Value)))
			if len(recs) != 1 {
				t.Fatalf("record value is not one JSON record: %q", r.Value)
			}
			rec = recs[0]
			if string(r.Key) != rec.Attributes.SourceID {
				t.Fatalf("key %q, want the source id %q", r.Key, rec.Attributes.SourceID)
			}
			s := bySource[rec.Attributes.SourceID]
			if s == nil {
				s = &seen{partition: r.Partition}
				bySource[rec.Attributes.SourceID] = s
			}
			var name string
			var i int
			fmt.Sscanf(rec.Body, "%s %d", &name, &i)
			if i != s.next || r.Partition != s.partition {
				t.Fatalf("source %s: got line %d in partition %d, want line %d in partition %d", name, i, r.Partition, s.next, s.partition)
			}
			s.next++
		})
	}
	if len(bySource) != 3 {
		t.Errorf("got %d sources, want 3", len(bySource))
	}
	if err := stop(); err != nil {
		t.Errorf("drain: %v", err)
	}
}

// TestSelectSkipsAndRoutes: a source Select skips is never read (nor
// checkpointed), and one it routes lands in its route's Kafka topic while
// the others keep the sink's (kfake, as above).
func TestSelectSkipsAndRoutes(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "logs", "nginx_access_log"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	dir := t.TempDir()
	for _, name := range []string{"app", "nginx", "secret"} {
		os.WriteFile(filepath.Join(dir, name+".log"), []byte(name+" line\n"), 0o644)
	}
	cfg := testConfig(dir + "/*.log")
	cfg.Select = func(path string) source.Choice {
		c := source.Choice{Resource: cfg.Resource}
		switch filepath.Base(path) {
		case "nginx.log":
			c.Route = "nginx_access_log"
		case "secret.log":
			c.Skip = true
		}
		return c
	}
	state, _ := startAgent(t, cfg, "kafka://"+strings.Join(cluster.ListenAddrs(), ",")+"/logs")

	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("logs", "nginx_access_log"))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics := map[string]string{}
	for len(topics) < 2 {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("records by topic %v: %v", topics, err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			recs, _, _ := sinktest.Parse(strings.NewReader(string(r.Value)))
			topics[recs[0].Body] = r.Topic
		})
	}
	if topics["app line"] != "logs" || topics["nginx line"] != "nginx_access_log" {
		t.Errorf("records by topic: %v", topics)
	}
	// A source's checkpoint is written once the hub acknowledged it.
	store, _ := checkpoint.Open(state)
	var cps []checkpoint.Checkpoint
	poll.Until(t, 10*time.Second, "the two read sources' checkpoints", func() bool {
		cps, _ = store.Load()
		return len(cps) >= 2
	})
	for _, cp := range cps {
		if filepath.Base(cp.Path) == "secret.log" {
			t.Errorf("a skipped source was checkpointed: %+v", cp)
		}
	}
	if len(cps) != 2 {
		t.Errorf("%d checkpoints, want 2", len(cps))
	}
}
