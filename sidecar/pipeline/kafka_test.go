package pipeline

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/checkpoint"
)

// kafkaBodies reads every record of the topic with `loglet logs`' reader.
func kafkaBodies(t *testing.T, hubURL string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := query.Open(ctx, hubURL)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var bodies []string
	err = h.Tail(ctx, query.Filter{}, query.Options{}, func(r query.Record) error {
		bodies = append(bodies, r.Body)
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", hubURL, err)
	}
	return bodies
}

// TestKafkaOutage: Kafka goes away mid-stream (kfake, franz-go's
// in-process cluster, is the one stand-in these tests use: no Kafka broker
// can be installed here). Stopped then, the agent gives up after its drain
// timeout, saying the rest will be sent again, rather than waiting for a
// broker that may never answer; started again once Kafka is back (same
// port, same data), it sends the rest, and nothing is lost.
func TestKafkaOutage(t *testing.T) {
	data := t.TempDir()
	_, port, _ := net.SplitHostPort(freeport.Addr(t))
	p, _ := strconv.Atoi(port)
	startKafka := func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(p), kfake.DataDir(data), kfake.SeedTopics(3, "logs"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cluster := startKafka()
	hubURL := "kafka://" + strings.Join(cluster.ListenAddrs(), ",") + "/logs"
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir + "/*.log")
	cfg.DrainTimeout = time.Second
	state, stop := startAgent(t, cfg, hubURL)
	appendN(t, path, "a", 0, 1000)
	// Acknowledged and checkpointed: the outage starts with nothing in
	// flight, so exactly the lines written during it are sent again.
	written, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	store, err := checkpoint.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the first lines acknowledged by Kafka", func() bool {
		cps, err := store.Load()
		return err == nil && len(cps) == 1 && cps[0].Offset == written.Size()
	})

	cluster.Close()
	appendN(t, path, "a", 1000, 2000) // written while Kafka is down
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		if err == nil || !strings.Contains(err.Error(), "drain did not finish within 1s") || !strings.Contains(err.Error(), "sent again on the next start") {
			t.Fatalf("stopped with Kafka down: %v; want the drain timeout, and that the rest is sent again", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the agent still drains 30 s after it was stopped with a 1 s drain timeout: Kafka being down holds it")
	}

	cluster = startKafka()
	defer cluster.Close()
	stop = startAgentIn(t, cfg, state, hubURL)
	poll.Until(t, 30*time.Second, "every line in Kafka", func() bool { return len(kafkaBodies(t, hubURL)) >= 2000 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	wantExactly(t, kafkaBodies(t, hubURL), "a", 0, 2000)
}
