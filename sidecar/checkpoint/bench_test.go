package checkpoint

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loglet/loglet/sidecar/record"
)

// BenchmarkSave is what a scan that finds 10,000 new files costs the
// store: each source's checkpoint is created before its first line is read
// and updated once the hub acknowledged it, from 32 goroutines as the
// pipeline writes them (checkpointWriters).
func BenchmarkSave(b *testing.B) {
	const sources, writers = 10000, 32
	res := []record.KeyValue{{Key: "k8s.namespace.name", Value: "shop"}, {Key: "k8s.pod.name", Value: "cart-7d9f8-xk2lp"}, {Key: "k8s.container.name", Value: "app"}}
	for b.Loop() {
		b.StopTimer()
		s, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, offset := range []int64{0, 3000} { // create, then update
			var next atomic.Int64
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for i := next.Add(1) - 1; i < sources; i = next.Add(1) - 1 {
						id := fmt.Sprintf("%016x", i)
						err := s.Save(Checkpoint{SourceID: id, Path: "/var/log/pods/" + id + ".log", Offset: offset, NextPackageID: uint64(offset),
							Identity: record.Identity{Dev: 2049, Inode: uint64(i), FingerprintLen: 1024, Fingerprint: "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab"},
							Resource: res, Route: "shop-cart"})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		}
	}
	b.ReportMetric(float64(2*sources*b.N)/b.Elapsed().Seconds(), "saves/s")
}
