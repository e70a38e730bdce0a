package pipeline

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/loglet/loglet/internal/poll"
)

// TestKafkaSlowBrokerNotReported: a broker that is up but answers every
// produce request only after longer than reportWithin (acks=all under
// load, big packages) is a working hub. The agent must wait for it: no
// failed attempt, loglet_sink_up stays 1, no error logged, and every line
// arrives once. A sink that failed attempts after a fixed few seconds
// would resend each package whole and never get one through.
func TestKafkaSlowBrokerNotReported(t *testing.T) {
	const slowAck = reportWithin + time.Second
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	var delayed atomic.Int64
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		delayed.Add(1)
		cluster.SleepControl(func() { <-time.After(slowAck) })
		return nil, nil, false // then answered as usual
	})
	hubURL := "kafka://" + strings.Join(cluster.ListenAddrs(), ",") + "/logs"

	glob, path := emptyAppLog(t)
	cfg := testConfig(glob)
	cfg.BatchBytes = 512 << 10 // the default: big packages
	cfg.BatchWait = time.Second
	a, logs := startLoggedAgent(t, cfg, hubURL)
	appendN(t, path, "a", 0, 5000)

	// Poll for the records in Kafka, not for the agent's checkpoints: the
	// reader goes through the same slow broker only for fetches, which
	// are not delayed.
	poll.Until(t, 90*time.Second, "every line in Kafka", func() bool { return len(kafkaBodies(t, hubURL)) >= 5000 })
	if delayed.Load() == 0 {
		t.Fatal("no produce request was delayed: the test did not make the broker slow")
	}
	if v, _ := metricValue(t, a, "loglet_send_errors_total"); v != 0 {
		t.Errorf("loglet_send_errors_total = %v with a slow but working broker, want 0", v)
	}
	if v, ok := metricValue(t, a, "loglet_sink_up"); !ok || v != 1 {
		t.Errorf("loglet_sink_up = %v (present: %v) with a slow but working broker, want 1", v, ok)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged with a slow but working broker:\n%s", logs)
	}
	wantExactly(t, kafkaBodies(t, hubURL), "a", 0, 5000)
	t.Logf("%d produce requests answered %s late each", delayed.Load(), slowAck)
}
