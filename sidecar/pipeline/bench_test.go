package pipeline

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/sink"
)

// BenchmarkOnce reads LOGLET_BENCH_INPUT (made by `make bench`) once into
// null:// in-process, for profiling: go test -bench Once -cpuprofile cpu.prof.
func BenchmarkOnce(b *testing.B) {
	input := os.Getenv("LOGLET_BENCH_INPUT")
	if input == "" {
		b.Skip("set LOGLET_BENCH_INPUT to a large log file (make bench writes one)")
	}
	fi, err := os.Stat(input)
	if err != nil {
		b.Fatal(err)
	}
	sinkURL := os.Getenv("LOGLET_BENCH_SINK")
	if sinkURL == "" {
		sinkURL = "null://"
	}
	b.SetBytes(fi.Size())
	for range b.N {
		store, err := checkpoint.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		sk, err := sink.Open(context.Background(), sinkURL, sink.Options{})
		if err != nil {
			b.Fatal(err)
		}
		a, err := New(Config{
			Paths: []string{input}, BatchBytes: 512 << 10, BatchWait: time.Second, MaxLineBytes: 256 << 10,
			MaxBufferBytes: 64 << 20, ScanInterval: time.Second, DrainTimeout: time.Minute, Once: true,
		}, sk, store, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		sk.Close()
	}
}
