package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
)

// TestFrequentWritesAreReadAFewTimesASecond: an application that writes a
// line every 10 ms (as a logger flushing per line does) gets its file read
// a few times a second, not once per write, and every line is delivered.
// Each read that finds bytes counts in loglet_reads_total.
func TestFrequentWritesAreReadAFewTimesASecond(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), "out.ndjson")
	cfg := testConfig(filepath.Join(dir, "*.log"))
	cfg.BatchWait, cfg.ScanInterval = time.Second, time.Second
	a, sk := newAgent(t, cfg, t.TempDir(), "file://"+out)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx); sk.Close() }()
	defer func() { cancel(); <-done }()
	delivered := func(n int) func() bool {
		return func() bool { recs, _, _ := sinktest.ReadFile(out); return len(recs) == n }
	}
	fmt.Fprintln(f, "first line: the agent has the file open once it is delivered")
	poll.Until(t, 10*time.Second, "the first line delivered", delivered(1))
	before := a.stats.Reads.Load()

	const writes = 200 // 2 s at 100 writes a second
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := range writes {
		<-tick.C
		if _, err := fmt.Fprintf(f, "line %03d of a logger that flushes every line\n", i); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 10*time.Second, "every line delivered", delivered(1+writes))
	// 2 s of writes: about 8 reads at 4 a second; before the events were
	// coalesced, one read per write (≈ 200).
	if reads := a.stats.Reads.Load() - before; reads > 30 {
		t.Errorf("%d writes were read in %d reads; want a few a second (≤ 30 in 2 s)", writes, reads)
	} else {
		t.Logf("%d writes in 2 s: %d reads", writes, reads)
	}
}
