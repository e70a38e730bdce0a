package query

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loglet/loglet/sidecar/sink"
)

// kafkaHub reads the Kafka layout the agent's Kafka sink writes: one Kafka
// record per log record, keyed by source id (so a source lives in one
// partition, in order), its package id in a header.
type kafkaHub struct {
	brokers []string
	topic   string
	adm     *kadm.Client
	cl      *kgo.Client
}

func openKafka(ctx context.Context, rest string) (*kafkaHub, error) {
	hosts, topic, ok := strings.Cut(rest, "/")
	if !ok || hosts == "" || topic == "" {
		return nil, fmt.Errorf("hub kafka://%s: want kafka://broker1:9092,broker2:9092/topic", rest)
	}
	h := &kafkaHub{brokers: strings.Split(hosts, ","), topic: topic}
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...))
	if err != nil {
		return nil, err
	}
	h.cl, h.adm = cl, kadm.NewClient(cl)
	if _, err := h.offsets(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return h, nil
}

func (h *kafkaHub) Close() { h.cl.Close() }

// bounds are a partition's first and next offsets.
type bounds struct{ start, end int64 }

func (h *kafkaHub) offsets(ctx context.Context) (map[int32]bounds, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	starts, err := h.adm.ListStartOffsets(ctx, h.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("hub kafka topic %s is unreachable or missing: %w", h.topic, err)
	}
	ends, err := h.adm.ListEndOffsets(ctx, h.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("hub kafka topic %s: %w", h.topic, err)
	}
	out := map[int32]bounds{}
	starts.Each(func(o kadm.ListedOffset) { out[o.Partition] = bounds{start: o.Offset} })
	ends.Each(func(o kadm.ListedOffset) { b := out[o.Partition]; b.end = o.Offset; out[o.Partition] = b })
	return out, nil
}

// consume reads partition p from offset from, calling fn for each record
// until fn returns false or the partition's end (at the start) is reached;
// with follow it goes on.
func (h *kafkaHub) consume(ctx context.Context, p int32, from, end int64, follow bool, fn func(*kgo.Record) bool) error {
	if from >= end && !follow {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{h.topic: {p: kgo.NewOffset().At(from)}}))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := fetches.Err(); err != nil {
			return fmt.Errorf("kafka topic %s partition %d: %w", h.topic, p, err)
		}
		stop := false
		fetches.EachRecord(func(r *kgo.Record) {
			if stop {
				return
			}
			if !fn(r) || (!follow && r.Offset+1 >= end) {
				stop = true
			}
		})
		if stop {
			return nil
		}
	}
}

func (h *kafkaHub) Tail(ctx context.Context, f Filter, follow bool, emit func(Record) error) error {
	parts, err := h.offsets(ctx)
	if err != nil {
		return err
	}
	var emitErr error
	for p, b := range parts {
		err := h.consume(ctx, p, b.start, b.end, follow, func(r *kgo.Record) bool {
			recs, err := parseRecords(r.Value)
			if err != nil {
				emitErr = err
				return false
			}
			for _, rec := range recs {
				rec.Stored = r.Timestamp
				if f.match(rec) {
					if emitErr = emit(rec); emitErr != nil {
						return false
					}
				}
			}
			return true
		})
		if err != nil || emitErr != nil {
			return errors.Join(err, emitErr)
		}
	}
	return nil
}

// Context finds the source's partition from its key, and the package by
// binary search over the partition's offsets (a source's package ids rise
// along its partition), then reads on from there.
func (h *kafkaHub) Context(ctx context.Context, sourceID string, packageID uint64, offset, before, after int) ([]Record, int, error) {
	parts, err := h.offsets(ctx)
	if err != nil {
		return nil, 0, err
	}
	p := int32(sink.KafkaPartitioner().ForTopic(h.topic).Partition(&kgo.Record{Key: []byte(sourceID)}, len(parts)))
	b := parts[p]
	pkg, err := h.readPackage(ctx, p, b, sourceID, packageID)
	if err != nil {
		return nil, 0, err
	}
	if offset < 0 || offset >= len(pkg.recs) {
		return nil, 0, fmt.Errorf("package %d of source %s has %d records; offset %d does not exist", packageID, sourceID, len(pkg.recs), offset)
	}
	recs, at := pkg.recs, offset
	for pid := packageID; at < before && pid > 0; {
		pid--
		prev, err := h.readPackage(ctx, p, b, sourceID, pid)
		if errors.Is(err, errNoPackage) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		recs = append(prev.recs, recs...)
		at += len(prev.recs)
	}
	if need := after - (len(recs) - at - 1); need > 0 {
		err := h.consume(ctx, p, pkg.next, b.end, false, func(r *kgo.Record) bool {
			if string(r.Key) == sourceID {
				more, _ := parseRecords(r.Value)
				recs = append(recs, more...)
				need -= len(more)
			}
			return need > 0
		})
		if err != nil {
			return nil, 0, err
		}
	}
	lo, hi := max(0, at-before), min(len(recs), at+after+1)
	return recs[lo:hi], at - lo, nil
}

type kafkaPackage struct {
	recs []Record
	next int64 // the partition offset after the package's last record
}

// readPackage finds the first record of a source's package by binary
// search over the partition, then reads the package's records.
func (h *kafkaHub) readPackage(ctx context.Context, p int32, b bounds, sourceID string, packageID uint64) (kafkaPackage, error) {
	// first returns the first record of the source at or after offset at.
	first := func(at int64) (*kgo.Record, error) {
		var found *kgo.Record
		err := h.consume(ctx, p, at, b.end, false, func(r *kgo.Record) bool {
			if string(r.Key) == sourceID {
				found = r
				return false
			}
			return true
		})
		return found, err
	}
	lo, hi := b.start, b.end-1
	start := int64(-1)
	for lo <= hi {
		mid := lo + (hi-lo)/2
		r, err := first(mid)
		if err != nil {
			return kafkaPackage{}, err
		}
		if r == nil {
			hi = mid - 1
			continue
		}
		if pid := packageOf(r); pid >= packageID {
			start = r.Offset
			hi = mid - 1
		} else {
			lo = r.Offset + 1
		}
	}
	notFound := fmt.Errorf("%w: package %d of source %s is not in kafka topic %s", errNoPackage, packageID, sourceID, h.topic)
	if start < 0 {
		return kafkaPackage{}, notFound
	}
	var pkg kafkaPackage
	err := h.consume(ctx, p, start, b.end, false, func(r *kgo.Record) bool {
		if string(r.Key) != sourceID {
			return true
		}
		if packageOf(r) != packageID {
			return false
		}
		recs, _ := parseRecords(r.Value)
		pkg.recs = append(pkg.recs, recs...)
		pkg.next = r.Offset + 1
		return true
	})
	if err == nil && len(pkg.recs) == 0 {
		err = notFound
	}
	return pkg, err
}

func packageOf(r *kgo.Record) uint64 {
	for _, h := range r.Headers {
		if h.Key == "loglet.package_id" {
			pid, _ := strconv.ParseUint(string(h.Value), 10, 64)
			return pid
		}
	}
	return 0
}
