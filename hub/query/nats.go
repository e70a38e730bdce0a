package query

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/internal/redact"
)

// natsHub reads the JetStream layout: the stream the URL names and its
// routes' streams (layout.StreamFor).
type natsHub struct {
	nc      *nats.Conn
	base    string
	streams []*natsStream
}

// natsStream reads one stream.
type natsStream struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	name   string
}

func openNATS(ctx context.Context, hubURL string, extra []nats.Option) (*natsHub, error) {
	u, err := url.Parse(hubURL)
	if err != nil || u.Scheme != "nats" || u.Host == "" {
		return nil, fmt.Errorf("hub %q: want nats://host:4222/STREAM or kafka://broker:9092/topic", hubURL)
	}
	name := strings.Trim(u.Path, "/")
	if name == "" {
		name = layout.DefaultStream
	}
	servers, auth := layout.Servers(u)
	nc, err := nats.Connect(servers, slices.Concat(auth, []nats.Option{nats.Name("loglet-logs"), nats.Timeout(5 * time.Second)}, extra)...)
	if err != nil {
		return nil, fmt.Errorf("hub %s is unreachable: %w (is `loglet hub` running there?)", redact.URL(u), err)
	}
	if !nc.HeadersSupported() {
		nc.Close()
		return nil, fmt.Errorf("hub %s: the NATS server there takes no message headers (older than NATS 2.2, or headers turned off); loglet needs NATS 2.10 or later with JetStream", redact.URL(u))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	h := &natsHub{nc: nc, base: name}
	names := js.StreamNames(ctx)
	for n := range names.Name() {
		if !layout.InFamily(name, n) {
			continue
		}
		st, err := js.Stream(ctx, n)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("hub %s: stream %s: %w", redact.URL(u), n, err)
		}
		h.streams = append(h.streams, &natsStream{js: js, stream: st, name: n})
	}
	if err := names.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		nc.Close()
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) || errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("hub %s: the NATS server there has no JetStream (start nats-server with -js, or run loglet hub): %w", redact.URL(u), err)
		}
		return nil, fmt.Errorf("hub %s: %w", redact.URL(u), err)
	}
	if len(h.streams) == 0 {
		nc.Close()
		return nil, fmt.Errorf("hub %s has no stream %s: is this a loglet hub, and is the stream name right?", redact.URL(u), name)
	}
	// The URL's own stream first: Context looks there first.
	slices.SortFunc(h.streams, func(a, b *natsStream) int {
		if (a.name == name) != (b.name == name) {
			if a.name == name {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.name, b.name)
	})
	return h, nil
}

// Tail reads each stream of the selection; several are merged by when the
// hub stored their records (without follow), or as records come (with).
func (r *natsHub) Tail(ctx context.Context, f Filter, o Options, emit func(Record) error) error {
	f.prepare()
	streams := r.streamsOf(f.Route)
	if len(streams) == 1 {
		return streams[0].tail(ctx, f, o, emit)
	}
	if o.Last > 0 || (o.Follow && o.OnlyNew) {
		var (
			all     []Record
			partial error
		)
		ends := make([]uint64, len(streams))
		for i, st := range streams {
			info, err := st.stream.Info(ctx)
			if err != nil {
				return fmt.Errorf("tail %s: %w", st.name, err)
			}
			ends[i] = info.State.LastSeq
			if o.Last == 0 {
				continue
			}
			recs, err := st.last(ctx, f.filters(st.name), &f, o, info.State.FirstSeq, info.State.LastSeq)
			if errors.Is(err, ErrPartial) {
				partial = err
			} else if err != nil {
				return err
			}
			all = append(all, recs...)
		}
		slices.SortStableFunc(all, func(a, b Record) int { return a.Stored.Compare(b.Stored) })
		if err := emitAll(all[max(0, len(all)-o.Last):], emit); err != nil {
			return err
		}
		if partial != nil {
			return partial
		}
		if !o.Follow {
			return nil
		}
		tails := make([]func(context.Context, func(Record) error) error, len(streams))
		for i, st := range streams {
			tails[i] = func(ctx context.Context, emit func(Record) error) error { return st.follow(ctx, f, o, ends[i]+1, emit) }
		}
		return merge(ctx, tails, false, emit)
	}
	tails := make([]func(context.Context, func(Record) error) error, len(streams))
	for i, st := range streams {
		tails[i] = func(ctx context.Context, emit func(Record) error) error { return st.tail(ctx, f, o, emit) }
	}
	return merge(ctx, tails, !o.Follow, emit)
}

// streamsOf are the streams that may hold a route's records ("": every
// route's).
func (r *natsHub) streamsOf(route string) []*natsStream {
	var streams []*natsStream
	for _, st := range r.streams {
		// A route's records are in its own stream, and in the URL's stream
		// (written with streams=one, or before streams per route).
		if route == "" || st.name == r.base || st.name == layout.StreamFor(r.base, route, true) {
			streams = append(streams, st)
		}
	}
	return streams
}

// Context finds the source's package in the URL's stream, then in the
// routes' streams.
func (r *natsHub) Context(ctx context.Context, sourceID string, packageID uint64, offset, before, after int) ([]Record, int, error) {
	for _, st := range r.streams {
		recs, at, err := st.context(ctx, sourceID, packageID, offset, before, after)
		if !errors.Is(err, errNoPackage) {
			return recs, at, err
		}
	}
	return nil, 0, fmt.Errorf("package %d of source %s is not in stream %s or its routes' streams (aged out, or a wrong id?)", packageID, sourceID, r.base)
}

func (r *natsHub) Close() { r.nc.Close() }

// tail reads forward from the stream's start, from Since by the time the
// hub stored packages, or from where reading back for the last records
// found them; the server filters by subject.
func (r *natsStream) tail(ctx context.Context, f Filter, o Options, emit func(Record) error) error {
	filters := f.filters(r.name)
	info, err := r.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("tail %s: %w", r.name, err)
	}
	end := info.State.LastSeq
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filters}
	switch {
	case o.Follow && o.OnlyNew && o.Last == 0:
		return r.follow(ctx, f, o, end+1, emit)
	case o.Last > 0:
		recs, err := r.last(ctx, filters, &f, o, info.State.FirstSeq, end)
		if err != nil && !errors.Is(err, ErrPartial) {
			return err
		}
		if err := emitAll(recs, emit); err != nil {
			return err
		}
		if err != nil {
			return err
		}
		if !o.Follow {
			return nil
		}
		return r.follow(ctx, f, o, end+1, emit)
	case !f.Since.IsZero():
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	if !o.Follow && end == 0 {
		return nil
	}
	var dec layout.Decoder
	return r.scan(ctx, cfg, scanEnd{seq: end, follow: o.Follow, buffer: o.BufferBytes}, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		if o.Budget.spend(len(m.Data())) {
			return ErrPartial
		}
		return r.read(&dec, delivered(m, md), &f, o.Skipped, emit)
	})
}

// follow reads on from the stream sequence from, until ctx ends.
func (r *natsStream) follow(ctx context.Context, f Filter, o Options, from uint64, emit func(Record) error) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: f.filters(r.name), DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from}
	var dec layout.Decoder
	return r.scan(ctx, cfg, scanEnd{follow: true, buffer: o.BufferBytes}, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		return r.read(&dec, delivered(m, md), &f, o.Skipped, emit)
	})
}

// read hands the records of one message the filter selects to emit, or
// reports the message as skipped.
func (r *natsStream) read(dec *layout.Decoder, m message, f *Filter, skipped func(Skipped), emit func(Record) error) error {
	return selected(dec, m.header.Get(layout.HeaderEncoding), m.data, m.stored, f, f.quick(m.subject), skipped, func() string {
		return fmt.Sprintf("%s message %d on %s", r.name, m.seq, m.subject)
	}, func(rec Record) error {
		rec.Stream, rec.Seq = r.name, m.seq
		return emit(rec)
	})
}

// message is what read needs of a message, delivered by a consumer or
// got by sequence.
type message struct {
	subject string
	seq     uint64
	stored  time.Time
	header  nats.Header
	data    []byte
}

func delivered(m jetstream.Msg, md *jetstream.MsgMetadata) message {
	return message{subject: m.Subject(), seq: md.Sequence.Stream, stored: md.Timestamp, header: m.Headers(), data: m.Data()}
}

// scanEnd says where a scan stops: without follow, at the stream sequence
// seq; and, when buffer is above 0, how many bytes of messages the scan
// may hold at once (else 1024 messages).
type scanEnd struct {
	seq    uint64
	follow bool
	buffer int
}

func (e scanEnd) after(md *jetstream.MsgMetadata) bool {
	return !e.follow && md.Sequence.Stream > e.seq
}

func (e scanEnd) last(md *jetstream.MsgMetadata) bool {
	return !e.follow && (md.NumPending == 0 || md.Sequence.Stream >= e.seq)
}

// scan reads the messages an ordered consumer delivers, until end.
//
// A stream takes 1,000 consumers by default, and an ordered consumer
// otherwise outlives its reader by five minutes: a reader polling the hub
// (a test waiting for a line, a console refreshing) would use them all up
// ("maximum consumers limit reached"). So the consumer is deleted when the
// scan ends, and expires 30 s after a reader that could not delete it
// stopped pulling.
func (r *natsStream) scan(ctx context.Context, cfg jetstream.OrderedConsumerConfig, end scanEnd, fn func(jetstream.Msg, *jetstream.MsgMetadata) error) error {
	cfg.InactiveThreshold = 30 * time.Second
	cons, err := r.js.OrderedConsumer(ctx, r.name, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", r.name, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		r.js.DeleteConsumer(ctx, r.name, cons.CachedInfo().Name) // best effort: it expires anyway
	}()
	if !end.follow && cons.CachedInfo().NumPending == 0 {
		return nil
	}
	var pull jetstream.PullMessagesOpt = jetstream.PullMaxMessages(1024)
	if end.buffer > 0 {
		pull = jetstream.PullMaxBytes(end.buffer)
	}
	it, err := cons.Messages(pull)
	if err != nil {
		return fmt.Errorf("read %s: %w", r.name, err)
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read %s: %w", r.name, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", r.name, err)
		}
		if end.after(md) {
			return nil
		}
		if err := fn(m, md); err != nil {
			return err
		}
		if end.last(md) {
			return nil
		}
	}
}

// last finds the last o.Last records the filter selects among the
// messages up to end. It lists the messages the subject filters select in
// a window before end (headers only), then reads them back from the
// newest, one by one, until it has enough; if the window held too few, it
// goes on with a window four times larger before it. A selective query
// over a long stream reads its end only, and decodes only the packages
// that hold what it prints.
func (r *natsStream) last(ctx context.Context, filters []string, f *Filter, o Options, first, end uint64) ([]Record, error) {
	var (
		out []Record // newest first
		dec layout.Decoder
	)
	// A page before another starts in the message where that one ended,
	// less the records that one took of it.
	pos, paging := o.Before[r.name]
	if paging {
		end = min(end, pos.Seq)
	}
	for hi, w := end, uint64(64); hi >= first && hi > 0; w *= 4 {
		lo := first
		if hi-first >= w {
			lo = hi - w + 1
		}
		var (
			seqs   []uint64
			before bool // the window holds packages stored before Since
		)
		cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: lo, HeadersOnly: true}
		err := r.scan(ctx, cfg, scanEnd{seq: hi}, func(_ jetstream.Msg, md *jetstream.MsgMetadata) error {
			seqs = append(seqs, md.Sequence.Stream)
			before = before || md.Timestamp.Before(f.Since)
			return nil
		})
		if err != nil {
			return nil, err
		}
		for i := len(seqs) - 1; i >= 0 && len(out) < o.Last; i-- {
			m, err := r.stream.GetMsg(ctx, seqs[i])
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue // aged out since it was listed
			}
			if err != nil {
				return nil, fmt.Errorf("read %s message %d: %w", r.name, seqs[i], err)
			}
			if o.Budget.spend(len(m.Data)) {
				// What was found so far is the newest part of the answer.
				slices.Reverse(out)
				return out, ErrPartial
			}
			var recs []Record
			err = r.read(&dec, message{subject: m.Subject, seq: m.Sequence, stored: m.Time, header: m.Header, data: m.Data}, f, o.Skipped,
				func(rec Record) error { recs = append(recs, rec); return nil })
			if err != nil {
				return nil, err
			}
			if paging && m.Sequence == pos.Seq {
				recs = recs[:max(0, len(recs)-pos.Skip)]
			}
			for j := len(recs) - 1; j >= 0 && len(out) < o.Last; j-- {
				out = append(out, recs[j])
			}
		}
		if len(out) >= o.Last || lo == first || before {
			break
		}
		hi = lo - 1
	}
	slices.Reverse(out)
	return out, nil
}

// context pages across packages by package id.
func (r *natsStream) context(ctx context.Context, sourceID string, packageID uint64, offset, before, after int) ([]Record, int, error) {
	var (
		subject string
		first   []Record
		seq     uint64
		err     error
	)
	// The source's subject in this layout, then in the one before.
	for _, s := range (layout.Select{SourceID: sourceID}).Filters(r.name) {
		subject = s
		if first, seq, err = r.findPackage(ctx, subject, packageID); !errors.Is(err, errNoPackage) {
			break
		}
	}
	if err != nil {
		return nil, 0, err
	}
	if offset < 0 || offset >= len(first) {
		return nil, 0, fmt.Errorf("package %d of source %s has %d records; offset %d does not exist", packageID, sourceID, len(first), offset)
	}
	recs := first
	at := offset
	// Before: earlier packages, found by id.
	for pid := packageID; at < before && pid > 0; {
		pid--
		prev, _, err := r.findPackage(ctx, subject, pid)
		if errors.Is(err, errNoPackage) {
			break // aged out of the stream
		}
		if err != nil {
			return nil, 0, err
		}
		recs = append(prev, recs...)
		at += len(prev)
	}
	// After: the messages that follow on the subject.
	for next := seq + 1; len(recs)-at-1 < after; {
		m, err := r.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		next = m.Sequence + 1
		if pid, _ := strconv.ParseUint(m.Header.Get(layout.HeaderPackageID), 10, 64); pid <= packageID {
			continue
		}
		more, err := parseRecords(m.Header.Get(layout.HeaderEncoding), m.Data)
		if err != nil {
			continue // not a package of the source's: skip it, as Tail does
		}
		recs = append(recs, more...)
	}
	lo, hi := max(0, at-before), min(len(recs), at+after+1)
	return recs[lo:hi], at - lo, nil
}

var errNoPackage = errors.New("no such package")

// findPackage finds the records of one package of a source, by binary
// search over the stream's sequence numbers (a source's package ids rise
// along the stream), joining the chunks of a package sent in several
// messages. It returns the sequence of the package's last message.
func (r *natsStream) findPackage(ctx context.Context, subject string, packageID uint64) ([]Record, uint64, error) {
	info, err := r.stream.Info(ctx)
	if err != nil {
		return nil, 0, err
	}
	if info.State.Msgs == 0 {
		return nil, 0, fmt.Errorf("%w: package %d of %s is not in the stream (it is empty)", errNoPackage, packageID, subject)
	}
	lo, hi := info.State.FirstSeq, info.State.LastSeq
	pidAt := func(seq uint64) (uint64, *jetstream.RawStreamMsg, error) {
		m, err := r.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			return 0, nil, err
		}
		pid, err := strconv.ParseUint(m.Header.Get(layout.HeaderPackageID), 10, 64)
		return pid, m, err
	}
	// The first message at or after lo whose package id is ≥ packageID.
	found := uint64(0)
	for lo <= hi {
		mid := lo + (hi-lo)/2
		pid, m, err := pidAt(mid)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			hi = mid - 1
			continue
		}
		if err != nil {
			// A message without a package id (another producer's): look
			// past it.
			if m != nil {
				lo = m.Sequence + 1
				continue
			}
			return nil, 0, err
		}
		if pid >= packageID {
			found = m.Sequence
			hi = mid - 1
		} else {
			lo = m.Sequence + 1
		}
	}
	if found == 0 {
		return nil, 0, fmt.Errorf("%w: package %d of %s is not in the stream", errNoPackage, packageID, subject)
	}
	var chunks []*jetstream.RawStreamMsg
	for seq := found; ; {
		pid, m, err := pidAt(seq)
		if err != nil || pid != packageID {
			break
		}
		chunks = append(chunks, m)
		if c := m.Header.Get(layout.HeaderChunk); c == "" || strings.HasPrefix(c, chunkCount(c)+"/") {
			break // whole, or the last chunk
		}
		seq = m.Sequence + 1
	}
	if len(chunks) == 0 {
		return nil, 0, fmt.Errorf("%w: package %d of %s is not in the stream", errNoPackage, packageID, subject)
	}
	var recs []Record
	for _, m := range chunks {
		part, err := parseRecords(m.Header.Get(layout.HeaderEncoding), m.Data)
		if err != nil {
			return nil, 0, fmt.Errorf("package %d of %s, message %d: %w", packageID, subject, m.Sequence, err)
		}
		recs = append(recs, part...)
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Offset() < recs[j].Offset() })
	return recs, chunks[len(chunks)-1].Sequence, nil
}

// chunkCount returns n of "i/n".
func chunkCount(c string) string {
	_, n, _ := strings.Cut(c, "/")
	return n
}
