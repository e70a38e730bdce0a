// Package query reads records back from a hub (a NATS JetStream stream in
// the layout of package layout, or a Kafka topic): records a filter selects,
// from a time or the last N, following new ones; and the context around
// one record (the records before and after it from the same source), found
// by package id without scanning the stream. loglet logs is built on it.
package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/loglet/loglet/hub/layout"
)

// Record is one record as the hub holds it.
type Record struct {
	// Raw is the record's JSON, as the agent wrote it.
	Raw        []byte
	Time       string            `json:"time"`
	Body       string            `json:"body"`
	Severity   string            `json:"severity"`
	Attributes map[string]any    `json:"attributes"`
	Resource   map[string]string `json:"resource"`
	// Stored is when the hub stored the record's package (zero if the hub
	// does not tell): Stored - Time is its delivery latency.
	Stored time.Time `json:"-"`
	// Stream and Seq are the stream and message the record was read from
	// (NATS hubs): where a page of the last records ends (Cursor).
	Stream string `json:"-"`
	Seq    uint64 `json:"-"`
}

// SourceID, PackageID and Offset address the record.
func (r Record) SourceID() string { s, _ := r.Attributes["loglet.source_id"].(string); return s }

// PackageID is the record's package.
func (r Record) PackageID() uint64 {
	f, _ := r.Attributes["loglet.package_id"].(float64)
	return uint64(f)
}

// Offset is the record's index in its package.
func (r Record) Offset() int { f, _ := r.Attributes["loglet.offset"].(float64); return int(f) }

// Options say how Tail reads.
type Options struct {
	// Last, when above 0, hands only the last Last records the filter
	// selects (then, with Follow, new ones), found by reading back from the
	// stream's end rather than forward from its start.
	Last int
	// Follow keeps reading new records until the context ends.
	Follow bool
	// Skipped is told of every message that cannot be read (another
	// producer's, or damaged), which Tail then skips; nil: skip silently.
	Skipped func(Skipped)
	// OnlyNew, with Follow, hands only records stored after Tail started
	// (a live view), not what the hub already holds.
	OnlyNew bool
	// Budget, when set, bounds what Tail reads (NATS hubs): once spent,
	// Tail hands on what it found and returns ErrPartial.
	Budget *Budget
	// Before, with Last, takes the last records stored before the cursor
	// (NATS hubs): the page before one that ended there.
	Before Cursor
	// BufferBytes, when above 0, bounds the bytes of messages a read
	// holds at once (NATS hubs; else 1024 messages, which packages of a
	// MiB make a GiB): a server answering many queries keeps its memory.
	BufferBytes int
}

// Cursor is where a page of the last records ends, in each stream: the
// page holds the last Skip records the filter selects of message Seq and
// what was stored after it.
type Cursor map[string]Position

// Position is a place in a stream: message Seq, less its last Skip
// selected records.
type Position struct {
	Seq  uint64
	Skip int
}

// CursorOf is the cursor before records (read with a cursor before, which
// it carries on from when they end in the same message).
func CursorOf(recs []Record, before Cursor) Cursor {
	c := Cursor{}
	for _, r := range recs {
		if r.Stream == "" {
			continue
		}
		p, ok := c[r.Stream]
		switch {
		case !ok || r.Seq < p.Seq:
			c[r.Stream] = Position{Seq: r.Seq, Skip: 1}
		case r.Seq == p.Seq:
			p.Skip++
			c[r.Stream] = p
		}
	}
	for name, p := range c {
		if b, ok := before[name]; ok && b.Seq == p.Seq {
			p.Skip += b.Skip
			c[name] = p
		}
	}
	for name, b := range before {
		if _, ok := c[name]; !ok {
			c[name] = b
		}
	}
	return c
}

// String is the cursor as STREAM:seq:skip, comma separated, sorted.
func (c Cursor) String() string {
	var parts []string
	for name, p := range c {
		parts = append(parts, fmt.Sprintf("%s:%d:%d", name, p.Seq, p.Skip))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// ParseCursor reads what Cursor.String writes.
func ParseCursor(s string) (Cursor, error) {
	c := Cursor{}
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(part, ":")
		if len(f) != 3 || f[0] == "" {
			return nil, fmt.Errorf("cursor %q: want STREAM:SEQ:SKIP, as a page's next gives it", s)
		}
		seq, err1 := strconv.ParseUint(f[1], 10, 64)
		skip, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || seq == 0 || skip < 0 {
			return nil, fmt.Errorf("cursor %q: want STREAM:SEQ:SKIP with numbers, as a page's next gives it", s)
		}
		c[f[0]] = Position{Seq: seq, Skip: skip}
	}
	return c, nil
}

// ErrPartial is returned by a Tail that stopped at its Budget: what it
// handed on is a part of what the query selects.
var ErrPartial = errors.New("the query stopped at its budget: the result is partial")

// Budget bounds a query in bytes read and time, so a query over a huge
// range answers with part of the result instead of holding a server's
// memory or time: a console's request must not take down the hub.
type Budget struct {
	// MaxBytes is how many bytes of packages (as stored, compressed) Tail
	// may read;
	// 0: no bound.
	MaxBytes int64
	// Deadline is when Tail stops reading; zero: no deadline.
	Deadline time.Time

	read atomic.Int64
}

// spend counts n bytes read and tells whether the budget is spent. A nil
// budget is never spent.
func (b *Budget) spend(n int) bool {
	if b == nil {
		return false
	}
	total := b.read.Add(int64(n))
	return (b.MaxBytes > 0 && total > b.MaxBytes) || (!b.Deadline.IsZero() && time.Now().After(b.Deadline))
}

// Read is how many bytes the query read.
func (b *Budget) Read() int64 {
	if b == nil {
		return 0
	}
	return b.read.Load()
}

// Skipped is a message Tail could not read.
type Skipped struct {
	// Where names it: subject and stream sequence, or topic, partition
	// and offset.
	Where  string
	Reason string
}

func (s Skipped) String() string { return s.Where + ": " + s.Reason }

// Hub is a hub to read: the NATS JetStream layout or the Kafka layout.
type Hub interface {
	// Tail hands every record the filter selects to emit, oldest first.
	// Without Follow it returns once it has read what the hub held when
	// it started.
	Tail(ctx context.Context, f Filter, o Options, emit func(Record) error) error
	// Context returns the record at (sourceID, packageID, offset) with up
	// to before records before it and after records after it from the same
	// source, in order, and the target's index in what it returns.
	Context(ctx context.Context, sourceID string, packageID uint64, offset, before, after int) ([]Record, int, error)
	// Close disconnects.
	Close()
}

// Open connects to a hub: nats://host:4222[/STREAM] or kafka://b1,b2/topic;
// natsOptions are added to a NATS connection's (a reader in the hub's
// process connects in process: hub.Hub.Local).
func Open(ctx context.Context, hubURL string, natsOptions ...nats.Option) (Hub, error) {
	if rest, ok := strings.CutPrefix(hubURL, "kafka://"); ok {
		return openKafka(ctx, rest)
	}
	return openNATS(ctx, hubURL, natsOptions)
}

// records decodes a message body (given its Content-Encoding) and hands
// each record the filter may select to fn. A body that cannot be decoded
// is an error; so is a line that is not a record, after the lines before
// it were handed on.
func records(dec *layout.Decoder, encoding string, data []byte, f *Filter, fn func(Record) error) error {
	return decodeLines(dec, encoding, data, f, false, fn)
}

// decodeLines is records; quick reads only the time and severity of the
// lines of the agent's shape (quickFields), and decodes the others whole.
func decodeLines(dec *layout.Decoder, encoding string, data []byte, f *Filter, quick bool, fn func(Record) error) error {
	ndjson, err := dec.Decode(encoding, data)
	if err != nil {
		return err
	}
	for len(ndjson) > 0 {
		if f != nil && f.lit != nil {
			// Only a line holding the literal can match: look for it over
			// the whole package at once, not line by line.
			i := bytes.Index(ndjson, f.lit)
			if i < 0 {
				return nil
			}
			ndjson = ndjson[bytes.LastIndexByte(ndjson[:i], '\n')+1:]
		}
		line := ndjson
		if i := bytes.IndexByte(ndjson, '\n'); i >= 0 {
			line, ndjson = ndjson[:i], ndjson[i+1:]
		} else {
			ndjson = nil
		}
		if len(line) == 0 {
			continue
		}
		if quick {
			if tm, sev, ok := quickFields(line); ok {
				if err := fn(Record{Time: tm, Severity: sev}); err != nil {
					return err
				}
				continue
			}
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return fmt.Errorf("%w: a line is not a loglet record: %v", layout.ErrUndecodable, err)
		}
		rec.Raw = bytes.Clone(line) // line is the decoder's, reused
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// Keys of a record line as the agent writes it: time first, severity (if
// any) before attributes.
var (
	keyTime       = []byte(`{"time":"`)
	keySeverity   = []byte(`"severity":"`)
	keyAttributes = []byte(`"attributes":`)
)

// quickFields reads the time and severity of a record line without
// decoding it, which counting records over a day (the console's volume
// chart) spends most of its time on. It relies on JSON escaping every
// quote inside a string: a key and its colon written "key":" occur
// unescaped only as keys, and the agent writes the record's own keys
// (time first, severity before attributes) before any attribute's. A
// line of any other shape (time not first, a severity only after the
// attributes, an escape in either value) is not ok, and is decoded whole.
func quickFields(line []byte) (tm, sev string, ok bool) {
	rest, found := bytes.CutPrefix(line, keyTime)
	if !found {
		return "", "", false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", "", false
	}
	tm = string(rest[:end])
	rest = rest[end+1:]
	s := bytes.Index(rest, keySeverity)
	if s < 0 {
		return tm, "", true
	}
	if a := bytes.Index(rest, keyAttributes); a >= 0 && a < s {
		return "", "", false // "severity" only inside the attributes, or after them: ambiguous
	}
	v := rest[s+len(keySeverity):]
	end = bytes.IndexByte(v, '"')
	if end < 0 || bytes.IndexByte(v[:end], '\\') >= 0 {
		return "", "", false
	}
	return tm, string(v[:end]), true
}

// selected hands the records of a message body the filter selects to
// emit, stamped with when the hub stored them. A body that cannot be read
// is reported to skipped (named by where) and skipped. quick: the filter
// needs only the records' time and severity (Filter.TimeAndSeverity).
func selected(dec *layout.Decoder, encoding string, data []byte, stored time.Time, f *Filter, quick bool, skipped func(Skipped), where func() string, emit func(Record) error) error {
	var emitErr error
	err := decodeLines(dec, encoding, data, f, quick, func(rec Record) error {
		rec.Stored = stored
		if (quick && rec.Raw == nil && f.matchTimeSeverity(rec)) || ((!quick || rec.Raw != nil) && f.match(rec)) {
			emitErr = emit(rec)
		}
		return emitErr
	})
	if emitErr != nil {
		return emitErr
	}
	if err != nil && skipped != nil {
		skipped(Skipped{Where: where(), Reason: err.Error()})
	}
	return nil
}

// emitAll hands recs to emit in order.
func emitAll(recs []Record, emit func(Record) error) error {
	for _, rec := range recs {
		if err := emit(rec); err != nil {
			return err
		}
	}
	return nil
}

// parseRecords returns every record of a message body.
func parseRecords(encoding string, data []byte) ([]Record, error) {
	var out []Record
	err := records(&layout.Decoder{}, encoding, data, nil, func(r Record) error { out = append(out, r); return nil })
	return out, err
}
