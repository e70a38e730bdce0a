package query_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/pipeline"
	"github.com/loglet/loglet/sidecar/sink"
)

// ship runs the agent once over files into a hub, with small packages
// so a record's context crosses package boundaries.
func ship(t *testing.T, sinkURL, dir string) {
	t.Helper()
	store, err := checkpoint.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sk, err := sink.Open(context.Background(), sinkURL, sink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	a, err := pipeline.New(pipeline.Config{
		Paths: []string{dir + "/*.log"}, BatchBytes: 400, BatchWait: time.Second, MaxLineBytes: 1 << 10,
		MaxBufferBytes: 1 << 20, ScanInterval: time.Second, DrainTimeout: 10 * time.Second, Once: true,
	}, sk, store, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func line(tag string, i int) string { return fmt.Sprintf("%s line %04d", tag, i) }

// writeSources writes three interleaved sources of 500 numbered lines.
func writeSources(t *testing.T) string {
	dir := t.TempDir()
	for _, tag := range []string{"a", "b", "c"} {
		var b strings.Builder
		for i := range 500 {
			b.WriteString(line(tag, i) + "\n")
		}
		os.WriteFile(filepath.Join(dir, tag+".log"), []byte(b.String()), 0o644)
	}
	return dir
}

func TestContextOnNATS(t *testing.T) {
	h := startHub(t)
	ship(t, h.SinkURL(), writeSources(t))
	checkContext(t, h.SinkURL())
}

// TestContextOnKafka reads the Kafka layout from kfake, franz-go's
// in-process Kafka: no Kafka broker can be installed on this machine.
func TestContextOnKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	url := "kafka://" + strings.Join(cluster.ListenAddrs(), ",") + "/logs"
	ship(t, url, writeSources(t))
	checkContext(t, url)
}

// checkContext finds record "b line 0250" with tail, as a user would, and
// asks for its context.
func checkContext(t *testing.T, hubURL string) {
	t.Helper()
	r := openHub(t, hubURL)
	var target query.Record
	n := 0
	err := r.Tail(context.Background(), query.Filter{}, query.Options{}, func(rec query.Record) error {
		n++
		if rec.Body == line("b", 250) {
			target = rec
		}
		return nil
	})
	if err != nil || n != 1500 || target.Raw == nil {
		t.Fatalf("tail: %v, %d records (want 1500), target found %v", err, n, target.Raw != nil)
	}
	if since := time.Since(target.Stored); target.Stored.IsZero() || since < 0 || since > time.Minute {
		t.Errorf("stored at %v: want when the hub stored it, a moment ago", target.Stored)
	}
	grep := 0
	if err := r.Tail(context.Background(), query.Filter{Grep: regexp.MustCompile(`^c line 00[01]`)}, query.Options{}, func(query.Record) error { grep++; return nil }); err != nil || grep != 20 {
		t.Errorf("tail --grep: %d records, %v; want 20", grep, err)
	}
	got, at, err := r.Context(context.Background(), target.SourceID(), target.PackageID(), target.Offset(), 20, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 41 || at != 20 {
		t.Fatalf("got %d records with the target at %d, want 41 with it at 20", len(got), at)
	}
	pkgs := map[uint64]bool{}
	for i, rec := range got {
		if want := line("b", 230+i); rec.Body != want {
			t.Fatalf("context record %d = %q, want %q", i, rec.Body, want)
		}
		pkgs[rec.PackageID()] = true
	}
	if len(pkgs) < 3 {
		t.Errorf("the context spans %d packages; the test wants it to cross boundaries", len(pkgs))
	}
	// At the start of a source there is less before.
	first, at, err := r.Context(context.Background(), target.SourceID(), 0, 0, 20, 2)
	if err != nil || len(first) != 3 || at != 0 || first[0].Body != line("b", 0) {
		t.Fatalf("context at the first record: %d records, at %d, %v", len(first), at, err)
	}
	if _, _, err := r.Context(context.Background(), target.SourceID(), 9999, 0, 1, 1); err == nil || !strings.Contains(err.Error(), "package 9999") {
		t.Errorf("missing package: %v", err)
	}
	if _, _, err := r.Context(context.Background(), target.SourceID(), target.PackageID(), 999, 1, 1); err == nil || !strings.Contains(err.Error(), "offset 999 does not exist") {
		t.Errorf("missing offset: %v", err)
	}
}

func TestFilterAndUnreachableHub(t *testing.T) {
	if _, err := query.Open(context.Background(), "nats://127.0.0.1:1/LOGLET"); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("unreachable hub: %v", err)
	}
	if _, err := query.Open(context.Background(), "http://x"); err == nil || !strings.Contains(err.Error(), "nats://") {
		t.Errorf("bad URL: %v", err)
	}
}
