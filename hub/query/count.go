package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/hub/layout"
)

// Count hands what the filter selects to a count by time and severity
// (the console's volume chart), oldest first, reading as little as it
// can. Where a message's headers say enough (layout.Tally: the agent
// writes its records' severities and the earliest and latest of their
// times) and tally takes it, the message's body is not decompressed, and
// mostly not even sent (see natsStream.count); the records of any other
// message (written by an agent older than the
// headers, or through Kafka; one whose records straddle the range's
// bounds; one tally refuses, as its records fall in more than one of the
// caller's buckets) go to emit as Tail would hand them.
//
// tally is handed tallies of records that all lie in the filter's time
// range, with the severities below MinSeverity zeroed; it returns false
// to have the message's records instead. The result is exact: a count
// from tallies equals one from the records. Count ignores o.Last and
// o.Follow: it counts what the hub holds. Several streams are counted one
// after the other, so a count stopped at its budget may lack a later
// stream's records rather than only the newest.
func Count(ctx context.Context, h Hub, f Filter, o Options, tally func(layout.Tally) bool, emit func(Record) error) error {
	f.TimeAndSeverity = true
	o.Last, o.Follow = 0, false
	if n, ok := h.(*natsHub); ok && len(f.Where) == 0 && f.Grep == nil {
		return n.count(ctx, f, o, tally, emit)
	}
	return h.Tail(ctx, f, o, emit)
}

// count counts each stream of the selection.
func (r *natsHub) count(ctx context.Context, f Filter, o Options, tally func(layout.Tally) bool, emit func(Record) error) error {
	f.prepare()
	for _, st := range r.streamsOf(f.Route) {
		if err := st.count(ctx, f, o, tally, emit); err != nil {
			return err
		}
	}
	return nil
}

// switchAt stops a scan at message seq, for a scan of the other kind
// from there: headers only, or bodies.
type switchAt struct{ seq uint64 }

func (e *switchAt) Error() string { return fmt.Sprintf("read on from message %d another way", e.seq) }

// Thresholds of going from headers to bodies and back: a scan of the
// bodies costs less than fetching more than a quarter of the messages one
// by one (after the first 64: a few older agents' messages, or packages
// across a bucket's edge, are fetched alone), and headers only are read
// again after a run of 256 messages they count (an agent upgraded: its
// newer messages are counted from their headers again).
const (
	minFetched = 64
	headersRun = 256
)

// count reads the stream's headers only (a headers-only consumer: the
// server sends no body) while they say enough, fetching alone the body of
// a message they do not (an older agent's, or one whose records straddle a
// bucket or the range). Where that is more than a quarter of the messages
// (an older agents' stretch of the stream, or buckets as short as the
// packages), it reads the bodies, as Tail does, still counting from the
// headers the messages they count, until a run of those.
func (r *natsStream) count(ctx context.Context, f Filter, o Options, tally func(layout.Tally) bool, emit func(Record) error) error {
	info, err := r.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("count %s: %w", r.name, err)
	}
	end := scanEnd{seq: info.State.LastSeq, buffer: o.BufferBytes}
	if end.seq == 0 {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: f.filters(r.name)}
	if !f.Since.IsZero() {
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	var dec layout.Decoder
	counted := func(m jetstream.Msg) bool {
		t, ok := countable(m.Subject(), m.Headers(), &f)
		return ok && (t.Total() == 0 || tally(t))
	}
	for headersOnly := true; ; headersOnly = !headersOnly {
		cfg.HeadersOnly = headersOnly
		var seen, fetched, run int
		err := r.scan(ctx, cfg, end, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
			seq := md.Sequence.Stream
			if !headersOnly {
				if o.Budget.spend(len(m.Data())) {
					return ErrPartial
				}
				if !counted(m) {
					run = 0
					return r.read(&dec, delivered(m, md), &f, o.Skipped, emit)
				}
				if run++; run >= headersRun {
					return &switchAt{seq: seq + 1}
				}
				return nil // read, but not decompressed
			}
			seen++
			if o.Budget.spend(headerBytes(m.Headers())) {
				return ErrPartial
			}
			if counted(m) {
				return nil
			}
			if fetched++; fetched > minFetched && fetched*4 > seen {
				return &switchAt{seq: seq}
			}
			got, err := r.stream.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil // aged out since it was listed
			}
			if err != nil {
				return fmt.Errorf("read %s message %d: %w", r.name, seq, err)
			}
			if o.Budget.spend(len(got.Data)) {
				return ErrPartial
			}
			return r.read(&dec, message{subject: got.Subject, seq: got.Sequence, stored: got.Time, header: got.Header, data: got.Data}, &f, o.Skipped, emit)
		})
		var sw *switchAt
		if !errors.As(err, &sw) {
			return err
		}
		if sw.seq > end.seq {
			return nil
		}
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = jetstream.DeliverByStartSequencePolicy, sw.seq, nil
	}
}

// countable is what a message's headers say of the records the filter
// selects in it: ok when they say all a count needs (the tally, with what
// the filter leaves of it).
func countable(subject string, h nats.Header, f *Filter) (t layout.Tally, ok bool) {
	t, err := layout.TallyFrom(h)
	if err != nil || !f.quick(subject) || !t.Timed {
		// Without a tally (an older agent's message), with one that does
		// not parse (another producer's), one without times, or a filter
		// the subject did not apply: the records tell.
		return layout.Tally{}, false
	}
	if (!f.Since.IsZero() && t.Last.Before(f.Since)) || (!f.Until.IsZero() && t.First.After(f.Until)) {
		return layout.Tally{}, true // every record is outside the range
	}
	if (!f.Since.IsZero() && t.First.Before(f.Since)) || (!f.Until.IsZero() && t.Last.After(f.Until)) {
		return layout.Tally{}, false // some are in the range, some not: the records tell which
	}
	if f.MinSeverity != 0 {
		for i := range t.Counts {
			if severityAt(i) < f.MinSeverity {
				t.Counts[i] = 0
			}
		}
	}
	return t, true
}

// severityAt is the severity of place i of layout.Tally.Counts: FATAL
// first, records without one (0) last.
func severityAt(i int) Severity {
	return Severity(max(0, int(SeverityFatal)-i))
}

// headerBytes is about how many bytes a message's headers take: what a
// count from headers reads.
func headerBytes(h nats.Header) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}
