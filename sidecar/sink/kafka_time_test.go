package sink

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/loglet/loglet/sidecar/record"
)

// TestKafkaRecordTime: each Kafka record carries its log record's event
// time as its timestamp, or, without one, the time it was read (its
// span's), not the time it was produced: kcat -f '%T' and a consumer's
// time-based offsets (ListOffsets by time, retention.ms) then follow the
// logs' own times, also when a backlog is sent late. kfake, franz-go's
// in-process cluster, is the one stand-in (no broker installs here); it
// keeps the producer's CreateTime as Kafka does by default.
func TestKafkaRecordTime(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	// Read an hour ago, in two reads; long before the test produces.
	read1 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	read2 := read1.Add(3 * time.Second)
	event := time.Date(2026, 11, 30, 8, 15, 0, 123_000_000, time.UTC)
	// The records of p in order; the first two were read in the first
	// read (span), the others in the second.
	cases := []struct {
		name string
		time int64     // the record's event time, ns; 0: none
		want time.Time // the Kafka record's timestamp (ms)
	}{
		{"event time", event.UnixNano(), event},
		{"no event time, first read", 0, read1},
		{"event time, sub-millisecond part dropped", event.Add(999_999).UnixNano(), event},
		{"no event time, second read", 0, read2},
	}
	p := &record.Package{Origin: record.NewOrigin("src-1", "/var/log/app.log", nil), ID: 4,
		Spans: []record.Span{{First: 0, Time: read1}, {First: 2, Time: read2}}}
	for _, tc := range cases {
		start := len(p.Data)
		p.Data = append(p.Data, tc.name...)
		p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(len(p.Data)), Time: tc.time})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Open(ctx, "kafka://"+cluster.ListenAddrs()[0]+"/logs", Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.Write(ctx, []*record.Package{p}); n != 1 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}

	c, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("logs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []*kgo.Record
	for len(got) < len(cases) {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v (got %d of %d records)", err, len(got), len(cases))
		}
		got = append(got, fs.Records()...)
	}
	for i, tc := range cases {
		if i >= len(got) {
			break
		}
		if !got[i].Timestamp.Equal(tc.want) {
			t.Errorf("%s: Kafka timestamp %s, want %s", tc.name, got[i].Timestamp.UTC().Format(time.RFC3339Nano), tc.want.UTC().Format(time.RFC3339Nano))
		}
	}
}

// TestKafkaRefusedTimestamp: a topic that refuses times that far from
// now (Kafka 4's log.message.timestamp.after.max.ms is an hour, and
// before.max.ms may be set) answers INVALID_TIMESTAMP; the package is
// then produced with the produce time, not retried for ever, and the
// record's value still says its own time. kfake checks no timestamps:
// a control function answers as such a broker does.
func TestKafkaRefusedTimestamp(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cutoff := time.Now().Add(-24 * time.Hour)
	var refused atomic.Int32
	cluster.ControlKey(kmsg.Produce.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		old := false
		for _, tp := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
			for _, p := range tp.Partitions {
				var b kmsg.RecordBatch
				if err := b.ReadFrom(p.Records); err == nil && b.FirstTimestamp < cutoff.UnixMilli() {
					old = true
				}
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.InvalidTimestamp.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		if !old {
			return nil, nil, false // the cluster stores it
		}
		refused.Add(1)
		return resp, nil, true
	})

	event := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	p := &record.Package{Origin: record.NewOrigin("src-1", "/var/log/app.log", nil), ID: 1, Spans: []record.Span{{Time: time.Now()}},
		Data: []byte("from the backlog"), Records: []record.Entry{{End: 16, Time: event.UnixNano()}}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Open(ctx, "kafka://"+cluster.ListenAddrs()[0]+"/logs", Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := time.Now().Truncate(time.Millisecond)
	if n, err := s.Write(ctx, []*record.Package{p}); n != 1 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	after := time.Now()

	c, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("logs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fs := c.PollFetches(ctx)
	if err := fs.Err0(); err != nil || len(fs.Records()) != 1 {
		t.Fatalf("consume: %v, %d records; want 1", err, len(fs.Records()))
	}
	r := fs.Records()[0]
	var v struct{ Time time.Time }
	if err := json.Unmarshal(r.Value, &v); err != nil {
		t.Fatal(err)
	}
	if refused.Load() == 0 || r.Timestamp.Before(before) || r.Timestamp.After(after) || !v.Time.Equal(event) {
		t.Errorf("refused %d times; stored with timestamp %s (produced between %s and %s), value's time %s (want %s)",
			refused.Load(), r.Timestamp, before, after, v.Time, event)
	}
}

// TestKafkaDeliveryTimeout: the records' timestamps being their own
// times, the delivery timeout no longer comes from franz-go (which counts
// from them) but from the attempt: a broker that is connected but never
// answers still fails the attempt with a record timeout, for the agent
// to retry, before the caller's much longer context ends.
func TestKafkaDeliveryTimeout(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cluster.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		return nil, nil, true // never answered
	})
	p := &record.Package{Origin: record.NewOrigin("src-1", "/var/log/app.log", nil), ID: 1, Spans: []record.Span{{Time: time.Now()}},
		Data: []byte("line"), Records: []record.Entry{{End: 4, Time: time.Now().Add(-time.Hour).UnixNano()}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, "kafka://"+cluster.ListenAddrs()[0]+"/logs", Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.Write(ctx, []*record.Package{p})
	if n != 0 || !errors.Is(err, kgo.ErrRecordTimeout) || ctx.Err() != nil {
		t.Fatalf("write: %d, %v (caller's context: %v); want 0 and a record timeout", n, err, ctx.Err())
	}
}
