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
// times) and tally takes it, the message's body is not read at all; the
// records of any other message (written by an agent older than the
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

// switchToBodies stops a headers-only scan at a message whose headers do
// not say enough when such messages are many: a scan of the bodies from
// there costs less than fetching each.
type switchToBodies struct{ seq uint64 }

func (e *switchToBodies) Error() string { return fmt.Sprintf("read bodies from message %d", e.seq) }

// count reads the stream's headers only (a headers-only consumer: the
// server sends no body) while they say enough, fetching the body of the
// rare message whose records straddle a bucket or the range. It goes over
// to reading bodies, as Tail does, from the first message without a tally
// (an older agent's: there are likely more), or once more than a quarter
// of the messages needed their bodies (buckets as short as the packages).
func (r *natsStream) count(ctx context.Context, f Filter, o Options, tally func(layout.Tally) bool, emit func(Record) error) error {
	filters := f.filters(r.name)
	info, err := r.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("count %s: %w", r.name, err)
	}
	end := info.State.LastSeq
	if end == 0 {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filters, HeadersOnly: true}
	if !f.Since.IsZero() {
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	var (
		dec           layout.Decoder
		seen, fetched int
	)
	err = r.scan(ctx, cfg, scanEnd{seq: end, buffer: o.BufferBytes}, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		seen++
		if o.Budget.spend(headerBytes(m.Headers())) {
			return ErrPartial
		}
		t, ok, has := countable(m.Subject(), m.Headers(), &f)
		switch {
		case ok && (t.Total() == 0 || tally(t)):
			return nil
		case !has || (fetched > 64 && fetched*4 > seen):
			return &switchToBodies{seq: md.Sequence.Stream}
		}
		fetched++
		got, err := r.stream.GetMsg(ctx, md.Sequence.Stream)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil // aged out since it was listed
		}
		if err != nil {
			return fmt.Errorf("read %s message %d: %w", r.name, md.Sequence.Stream, err)
		}
		if o.Budget.spend(len(got.Data)) {
			return ErrPartial
		}
		return r.read(&dec, message{subject: got.Subject, seq: got.Sequence, stored: got.Time, header: got.Header, data: got.Data}, &f, o.Skipped, emit)
	})
	var sw *switchToBodies
	if !errors.As(err, &sw) {
		return err
	}
	cfg = jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: sw.seq}
	return r.scan(ctx, cfg, scanEnd{seq: end, buffer: o.BufferBytes}, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		if o.Budget.spend(len(m.Data())) {
			return ErrPartial
		}
		if t, ok, _ := countable(m.Subject(), m.Headers(), &f); ok && (t.Total() == 0 || tally(t)) {
			return nil // read, but not decompressed
		}
		return r.read(&dec, delivered(m, md), &f, o.Skipped, emit)
	})
}

// countable is what a message's headers say of the records the filter
// selects in it: ok when they say all a count needs (the tally, with what
// the filter leaves of it), has when the message has a tally at all.
func countable(subject string, h nats.Header, f *Filter) (t layout.Tally, ok, has bool) {
	t, err := layout.TallyFrom(h)
	if err != nil {
		// Without a tally, or with one that does not parse (another
		// producer's): the records tell.
		return layout.Tally{}, false, false
	}
	if !f.quick(subject) || !t.Timed {
		return layout.Tally{}, false, true
	}
	if (!f.Since.IsZero() && t.Last.Before(f.Since)) || (!f.Until.IsZero() && t.First.After(f.Until)) {
		return layout.Tally{}, true, true // every record is outside the range
	}
	if (!f.Since.IsZero() && t.First.Before(f.Since)) || (!f.Until.IsZero() && t.Last.After(f.Until)) {
		return layout.Tally{}, false, true // some are in the range, some not: the records tell which
	}
	if f.MinSeverity != 0 {
		for i := range t.Counts {
			if severityAt(i) < f.MinSeverity {
				t.Counts[i] = 0
			}
		}
	}
	return t, true, true
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
