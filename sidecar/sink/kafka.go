package sink

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

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
	addr   string
	dials  *dialWatch
	buf    []byte
	recs   []*kgo.Record
	// deliveryTimeout bounds one attempt at a package once its broker is
	// connected (see produceSync).
	deliveryTimeout time.Duration
}

// kafkaDialTimeout bounds one connection attempt to a broker (TCP and
// TLS). A connect on a working network takes milliseconds, across regions
// a few hundred; 4 s still allows two lost SYNs (Linux resends after 1 s
// and 3 s), and a broker whose address swallows packets is then reported
// within the 5 s an outage must be noticed in, not after franz-go's 10 s.
const kafkaDialTimeout = 4 * time.Second

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
	dials := newDialWatch()
	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(hosts, ",")...),
		kgo.WithHooks(dials),
		kgo.DialTimeout(min(kafkaDialTimeout, opts.Timeout)),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProduceRequestTimeout(opts.Timeout),
		// No RecordDeliveryTimeout: franz-go measures it from each
		// record's timestamp, which is the log's own time (an hour-old
		// backlog would time out at once); produceSync bounds delivery
		// with its context instead.
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
	return &Kafka{client: client, topic: topic, addr: "kafka://" + hosts + "/" + topic, dials: dials, deliveryTimeout: 2 * opts.Timeout}, nil
}

// Addr names the brokers and the topic.
func (s *Kafka) Addr() string { return s.addr }

// dialWatch tells a waiting produce that a connection to a broker failed.
// Left alone, franz-go keeps a dead broker's records and dials again and
// again, with metadata refreshes in between, until their delivery timeout:
// a minute in which the agent saw no error, counted none and logged
// nothing.
type dialWatch struct {
	mu      sync.Mutex
	next    int
	waiting map[int]context.CancelCauseFunc
}

var _ kgo.HookBrokerConnect = (*dialWatch)(nil)

func newDialWatch() *dialWatch { return &dialWatch{waiting: map[int]context.CancelCauseFunc{}} }

// OnBrokerConnect is franz-go's hook, called after every dial. It cancels
// the waiting produces here, before franz-go handles the failed dial: that
// is when it looks at their contexts. Canceled any later, franz-go would
// see it only at its next retry, after a metadata refresh (5 s).
func (w *dialWatch) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		return
	}
	err = fmt.Errorf("broker %s: %w", net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port))), err)
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, cancel := range w.waiting {
		cancel(err)
		delete(w.waiting, id)
	}
}

// watch has cancel called with the error of the next failed dial, until
// stop is called.
func (w *dialWatch) watch(cancel context.CancelCauseFunc) (stop func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id := w.next
	w.next++
	w.waiting[id] = cancel
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.waiting, id)
	}
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
	span := 0
	for n, lines := 0, s.buf; len(lines) > 0; n++ {
		for span+1 < len(p.Spans) && p.Spans[span+1].First <= n {
			span++
		}
		// The record's timestamp is its event time, or the time it was
		// read: the times a consumer seeks by (ListOffsets) and retention
		// counts from are then the logs' own, also for a backlog sent
		// late, rather than when it was produced.
		ts := p.Spans[span].Time
		if e := p.Records[n]; e.Time > 0 {
			ts = time.Unix(0, e.Time)
		}
		// Every record ends in a newline and none holds one unescaped.
		i := bytes.IndexByte(lines, '\n')
		s.recs = append(s.recs, &kgo.Record{
			Topic:     p.Origin.Route, // empty: the sink's topic
			Key:       key,
			Value:     lines[:i],
			Timestamp: ts,
			Headers:   []kgo.RecordHeader{{Key: "loglet.package_id", Value: pid}},
		})
		lines = lines[i+1:]
	}
	err := s.produceSync(ctx)
	if errors.Is(err, kerr.InvalidTimestamp) {
		// The topic refuses times that far from now (Kafka 4's
		// log.message.timestamp.after.max.ms is an hour; before.max.ms
		// may be set): a backlog or a clock that is off. The records go
		// with the time they are produced at, rather than never; their
		// value keeps their own time.
		for _, r := range s.recs {
			*r = kgo.Record{Topic: p.Origin.Route, Key: r.Key, Value: r.Value, Headers: r.Headers}
		}
		err = s.produceSync(ctx)
	}
	if err != nil {
		if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
			return &RejectedError{Reason: fmt.Sprintf("kafka topic %s: %v", cmp.Or(p.Origin.Route, s.topic), err)}
		}
		return fmt.Errorf("kafka topic %s: %w", cmp.Or(p.Origin.Route, s.topic), err)
	}
	return nil
}

// produceSync produces s.recs and waits for their acknowledgement, or
// until a broker cannot be reached: a failed dial while the records wait
// cancels them (franz-go fails them as it handles that dial, in-flight ones
// too: AllowIdempotentProduceCancellation), and the attempt fails with that
// dial's error, so an outage is reported within a dial (milliseconds for a
// refused connection, kafkaDialTimeout at most) instead of the delivery
// timeout. The agent retries the package; records the broker did store
// arrive twice, which at-least-once allows, and in order, since a package
// is retried from its first record and packages are produced one at a
// time. A slow broker that stays connected is waited for, up to the
// attempt's deadline.
//
// Any broker's failed dial counts, not only the leader's these records go
// to: franz-go does not say which broker a record waits on. In a cluster
// with a broker gone whose partitions already moved, that costs one
// attempt, retried at once on the new leader.
//
// The attempt's deadline bounds the rest: a broker that is connected but
// does not answer. It is long on purpose: acks=all waits for every
// replica in sync, which under load with big batches takes seconds, and an
// attempt cut short is sent again whole and takes as long again, so a
// timeout below the slowest healthy answer would not flap, it would never
// deliver. Elapsed time cannot tell slow from dead; a failed connection
// can.
func (s *Kafka) produceSync(ctx context.Context) error {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pctx, stopTimer := context.WithTimeoutCause(cctx, s.deliveryTimeout, kgo.ErrRecordTimeout)
	defer stopTimer()
	stop := s.dials.watch(cancel)
	defer stop()
	err := s.client.ProduceSync(pctx, s.recs...).FirstErr()
	if err != nil && ctx.Err() == nil {
		// franz-go fails canceled records with the error of the request
		// that failed, or with the context's: say which dial it was.
		if cause := context.Cause(pctx); cause != nil && cause != context.Canceled {
			err = cause
		}
	}
	return err
}

// Close flushes nothing (Write waits) and closes the client.
func (s *Kafka) Close() error {
	s.client.Close()
	return nil
}
