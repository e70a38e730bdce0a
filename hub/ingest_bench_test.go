package hub

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkIngest measures the ingest ceiling of JetStream streams on this
// machine: publishers sending 256 KiB messages (an agent's package after
// compression is of this order) asynchronously with up to `pending`
// unacknowledged (the agent's sink allows 256), into one or more file-backed streams, R1 on one
// hub or R3 on a cluster of three hubs in this process. MB/s is stored
// payload; an R3 stream writes each byte on three members.
func BenchmarkIngest(b *testing.B) {
	for _, bc := range []struct {
		members, replicas, streams, pending int
	}{
		// 256 unacknowledged is what the sink allows; 8 checks that an
		// R3 stream is not slowed by so many large messages in flight.
		{1, 1, 1, 256}, {1, 1, 2, 256}, {3, 3, 1, 256}, {3, 3, 1, 8}, {3, 3, 3, 8}, {3, 1, 3, 256},
	} {
		pending := bc.pending
		b.Run(fmt.Sprintf("members=%d/R%d/streams=%d/pending=%d", bc.members, bc.replicas, bc.streams, pending), func(b *testing.B) {
			hubs := startBenchHubs(b, bc.members)
			urls := make([]string, len(hubs))
			for i, h := range hubs {
				urls[i] = h.ServerURL()
			}
			nc, err := nats.Connect(urls[0])
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			ctx := context.Background()
			for s := range bc.streams {
				if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: fmt.Sprintf("BENCH%d", s), Subjects: []string{fmt.Sprintf("bench.%d.>", s)},
					Storage: jetstream.FileStorage, Replicas: bc.replicas, Duplicates: 2 * time.Minute}); err != nil {
					b.Fatal(err)
				}
			}
			payload := make([]byte, 256<<10)
			for i := range payload {
				payload[i] = byte(rand.Uint32())
			}
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + bc.streams - 1) / bc.streams
			errs := make(chan error, bc.streams)
			for s := range bc.streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Each publisher connects to another member, as agents
					// spread over the members of the URL.
					pc, err := nats.Connect(urls[s%len(urls)])
					if err != nil {
						errs <- err
						return
					}
					defer pc.Close()
					pjs, _ := jetstream.New(pc, jetstream.WithPublishAsyncMaxPending(pending))
					subject := fmt.Sprintf("bench.%d.src", s)
					for i := range per {
						m := nats.NewMsg(subject)
						m.Data = payload
						m.Header.Set(jetstream.MsgIDHeader, strconv.Itoa(i))
						if _, err := pjs.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
							errs <- err
							return
						}
					}
					select {
					case <-pjs.PublishAsyncComplete():
					case <-time.After(time.Minute):
						errs <- fmt.Errorf("stream %d: acks missing after a minute", s)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		})
	}
}

// startBenchHubs starts n hubs, a cluster when n > 1.
func startBenchHubs(b *testing.B, n int) []*Hub {
	b.Helper()
	if n == 1 {
		h, err := Start(context.Background(), Options{Listen: "127.0.0.1:0", DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(h.Shutdown)
		return []*Hub{h}
	}
	var routes []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		routes = append(routes, "nats://"+ln.Addr().String())
		ln.Close()
	}
	hubs := make([]*Hub, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			hubs[i], errs[i] = Start(ctx, Options{Listen: "127.0.0.1:0", DataDir: b.TempDir(), Name: "bench-" + strconv.Itoa(i),
				Cluster: Cluster{Name: "bench", Listen: routes[i][len("nats://"):], Routes: routes}})
		}()
	}
	wg.Wait()
	for i, h := range hubs {
		if errs[i] != nil {
			b.Fatal(errs[i])
		}
		b.Cleanup(h.Shutdown)
	}
	return hubs
}
