package pipeline

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/sink"
)

// BenchmarkOnce reads BENCH_INPUT (made by `make bench`) once into
// BENCH_SINK (null://) in-process, parsed with BENCH_FORMAT
// and BENCH_MULTILINE, for profiling:
// go test -bench Once -cpuprofile cpu.prof.
func BenchmarkOnce(b *testing.B) {
	input := os.Getenv("BENCH_INPUT")
	if input == "" {
		b.Skip("set BENCH_INPUT to a large log file (make bench writes one)")
	}
	fi, err := os.Stat(input)
	if err != nil {
		b.Fatal(err)
	}
	sinkURL := os.Getenv("BENCH_SINK")
	if sinkURL == "" {
		sinkURL = "null://"
	}
	var spec *parse.Spec
	if format, ml := os.Getenv("BENCH_FORMAT"), os.Getenv("BENCH_MULTILINE"); format != "" || ml != "" {
		if spec, err = parse.Compile(parse.Config{Format: format, MultilineStart: ml, MultilineTimeout: time.Second, MaxLineBytes: 256 << 10}); err != nil {
			b.Fatal(err)
		}
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
			MaxBufferBytes: 64 << 20, ScanInterval: time.Second, DrainTimeout: time.Minute, Once: true, Parse: spec,
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
