package query

import (
	"context"
	"errors"
	"fmt"
	"sort"
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

// Tail reads every partition at once from one client, from its start,
// from the first offset stored at Since (Kafka's offsets for times), or
// from where reading back for the last records found them. Kafka has no
// subjects: the namespace, pod and container are checked on each record,
// so a selective query reads the whole time range.
func (h *kafkaHub) Tail(ctx context.Context, f Filter, o Options, emit func(Record) error) error {
	f.prepare()
	parts, err := h.offsets(ctx)
	if err != nil {
		return err
	}
	from := map[int32]int64{}
	for p, b := range parts {
		from[p] = b.start
	}
	if !f.Since.IsZero() {
		at, err := h.adm.ListOffsetsAfterMilli(ctx, f.Since.UnixMilli(), h.topic)
		if err == nil {
			err = at.Error()
		}
		if err != nil {
			return fmt.Errorf("kafka topic %s: offsets at %s: %w", h.topic, f.Since.Format(time.RFC3339), err)
		}
		at.Each(func(lo kadm.ListedOffset) {
			if b, ok := parts[lo.Partition]; ok {
				from[lo.Partition] = min(max(lo.Offset, b.start), b.end)
			}
		})
	}
	if o.Last > 0 {
		recs, err := h.last(ctx, parts, from, &f, o)
		if err != nil {
			return err
		}
		if err := emitAll(recs, emit); err != nil {
			return err
		}
		if !o.Follow {
			return nil
		}
		for p, b := range parts {
			from[p] = b.end
		}
	}
	return h.read(ctx, parts, from, o.Follow, func(r *kgo.Record) error {
		return h.records(r, &f, o.Skipped, emit)
	})
}

// records hands the records of one Kafka record the filter selects to
// emit, or reports it as skipped.
func (h *kafkaHub) records(r *kgo.Record, f *Filter, skipped func(Skipped), emit func(Record) error) error {
	return selected(nil, "", r.Value, r.Timestamp, f, false, skipped, func() string {
		return fmt.Sprintf("kafka topic %s partition %d offset %d", h.topic, r.Partition, r.Offset)
	}, emit)
}

// read consumes the partitions from the offsets in from; without follow
// it ends at each partition's end offset in parts (as it was when the
// read began).
func (h *kafkaHub) read(ctx context.Context, parts map[int32]bounds, from map[int32]int64, follow bool, fn func(*kgo.Record) error) error {
	offsets := map[int32]kgo.Offset{}
	left := 0
	for p, at := range from {
		if follow || at < parts[p].end {
			offsets[p] = kgo.NewOffset().At(at)
			left++
		}
	}
	if left == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.brokers...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{h.topic: offsets}))
	if err != nil {
		return err
	}
	defer cl.Close()
	done := map[int32]bool{}
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := fetches.Err(); err != nil {
			return fmt.Errorf("kafka topic %s: %w", h.topic, err)
		}
		var ferr error
		fetches.EachRecord(func(r *kgo.Record) {
			if ferr != nil || done[r.Partition] {
				return
			}
			if !follow && r.Offset >= parts[r.Partition].end {
				done[r.Partition] = true
				return
			}
			ferr = fn(r)
			if !follow && r.Offset+1 >= parts[r.Partition].end {
				done[r.Partition] = true
			}
		})
		if ferr != nil {
			return ferr
		}
		if !follow && len(done) == left {
			return nil
		}
	}
}

// last finds the last o.Last records the filter selects, reading back
// from each partition's end in windows that grow fourfold. Across
// partitions, records are ordered by their time.
func (h *kafkaHub) last(ctx context.Context, parts map[int32]bounds, floor map[int32]int64, f *Filter, o Options) ([]Record, error) {
	var out []Record
	hi := map[int32]int64{}
	for p, b := range parts {
		hi[p] = b.end
	}
	for w := int64(max(o.Last, 256)); ; w *= 4 {
		from, window := map[int32]int64{}, map[int32]bounds{}
		for p, end := range hi {
			from[p] = max(floor[p], end-w)
			window[p] = bounds{start: from[p], end: end}
		}
		err := h.read(ctx, window, from, false, func(r *kgo.Record) error {
			return h.records(r, f, o.Skipped, func(rec Record) error { out = append(out, rec); return nil })
		})
		if err != nil {
			return nil, err
		}
		more := false
		for p := range hi {
			hi[p] = from[p]
			more = more || from[p] > floor[p]
		}
		if len(out) >= o.Last || !more {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	return out[max(0, len(out)-o.Last):], nil
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
				more, _ := parseRecords("", r.Value)
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
		recs, _ := parseRecords("", r.Value)
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
