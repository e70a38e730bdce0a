package sink

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loglet/loglet/sidecar/record"
)

// Kafka produces one Kafka record per log record, keyed by source id so a
// source stays ordered in one partition. The producer is idempotent with
// acks=all: a package is acknowledged when every broker in sync has it.
type Kafka struct {
	client *kgo.Client
	topic  string
	buf    []byte
	recs   []*kgo.Record
}

// OpenKafka parses `b1:9092,b2:9092/topic[?compression=zstd|lz4|snappy|gzip|none]`
// (the part after kafka://) and connects lazily.
func OpenKafka(_ context.Context, rest string, opts Options) (*Kafka, error) {
	hosts, topicQuery, ok := strings.Cut(rest, "/")
	topic, query, _ := strings.Cut(topicQuery, "?")
	if !ok || hosts == "" || topic == "" {
		return nil, fmt.Errorf("sink kafka://%s: want kafka://broker1:9092,broker2:9092/topic", rest)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("sink kafka://%s: %w", rest, err)
	}
	codec := kgo.ZstdCompression()
	switch c := q.Get("compression"); c {
	case "", "zstd":
	case "lz4":
		codec = kgo.Lz4Compression()
	case "snappy":
		codec = kgo.SnappyCompression()
	case "gzip":
		codec = kgo.GzipCompression()
	case "none":
		codec = kgo.NoCompression()
	default:
		return nil, fmt.Errorf("sink kafka://%s: compression %q: want zstd, lz4, snappy, gzip or none", rest, c)
	}
	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(hosts, ",")...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProduceRequestTimeout(opts.Timeout),
		// Fail a delivery after this long so the agent's own retry loop
		// (backoff, metrics, logs) sees an outage instead of a silent stall.
		kgo.RecordDeliveryTimeout(2*opts.Timeout),
		// Without this, franz-go never fails a record already sent to a
		// broker that went away (it cannot know whether the broker stored
		// it), neither at the delivery timeout nor when the drain's
		// context ends: SIGTERM with Kafka down would wait for SIGKILL.
		// The price is what the delivery promise allows: a record may be
		// stored twice.
		kgo.AllowIdempotentProduceCancellation(),
		kgo.RecordPartitioner(KafkaPartitioner()),
	)
	if err != nil {
		return nil, fmt.Errorf("sink kafka://%s: %w", rest, err)
	}
	return &Kafka{client: client, topic: topic}, nil
}

// KafkaPartitioner picks a record's partition from its key (the source
// id), so a source stays ordered in one partition; `loglet logs` uses it to
// find a source's partition.
func KafkaPartitioner() kgo.Partitioner { return kgo.StickyKeyPartitioner(nil) }

// Write produces the records of each package in turn and waits for their
// acknowledgements; franz-go batches them underneath. A failure retries from
// the failed package: duplicates are allowed, loss is not.
func (s *Kafka) Write(ctx context.Context, pkgs []*record.Package) (int, error) {
	for i, p := range pkgs {
		if err := s.produce(ctx, p); err != nil {
			return i, err
		}
	}
	return len(pkgs), nil
}

func (s *Kafka) produce(ctx context.Context, p *record.Package) error {
	if p.Len() == 0 {
		return nil
	}
	s.buf = p.AppendNDJSON(s.buf[:0])
	s.recs = s.recs[:0]
	key := []byte(p.Origin.SourceID)
	pid := []byte(strconv.FormatUint(p.ID, 10))
	for lines := s.buf; len(lines) > 0; {
		// Every record ends in a newline and none holds one unescaped.
		i := bytes.IndexByte(lines, '\n')
		s.recs = append(s.recs, &kgo.Record{
			Topic:   p.Origin.Route, // empty: the sink's topic
			Key:     key,
			Value:   lines[:i],
			Headers: []kgo.RecordHeader{{Key: "loglet.package_id", Value: pid}},
		})
		lines = lines[i+1:]
	}
	if err := s.client.ProduceSync(ctx, s.recs...).FirstErr(); err != nil {
		if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
			return &RejectedError{Reason: fmt.Sprintf("kafka topic %s: %v", cmp.Or(p.Origin.Route, s.topic), err)}
		}
		return fmt.Errorf("kafka topic %s: %w", cmp.Or(p.Origin.Route, s.topic), err)
	}
	return nil
}

// Close flushes nothing (Write waits) and closes the client.
func (s *Kafka) Close() error {
	s.client.Close()
	return nil
}
