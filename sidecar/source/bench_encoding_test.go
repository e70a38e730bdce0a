package source

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
)

// BenchmarkFileEncoding reads LOGLET_BENCH_FILE (a file of the benchmark's
// encoded workload, bench/encoding_test.go) with encoding
// LOGLET_BENCH_ENCODING into a sink that discards: the reader and the
// stage without the rest of the agent.
func BenchmarkFileEncoding(b *testing.B) {
	path, enc := os.Getenv("LOGLET_BENCH_FILE"), os.Getenv("LOGLET_BENCH_ENCODING")
	if path == "" {
		b.Skip("set LOGLET_BENCH_FILE (and LOGLET_BENCH_ENCODING)")
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	spec, err := parse.Compile(parse.Config{Encoding: enc, MaxLineBytes: 256 << 10})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	for range b.N {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		cfg := Config{BatchBytes: 512 << 10, BatchWait: time.Second, MaxLineBytes: 256 << 10, Poll: time.Second, Parse: spec}
		pool := record.NewPool(InitialBufferBytes, BufferBytes(cfg.BatchBytes, cfg.MaxLineBytes, false))
		emit := func(_ context.Context, p *record.Package) error { pool.Put(p); return nil }
		file := NewFile(cfg, f, path, record.NewOrigin("s", path, nil), State{}, emit, pool, &Stats{})
		file.SetOnce()
		if err := file.Run(context.Background(), context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
