package parse

import (
	"bytes"

	"github.com/loglet/loglet/sidecar/record"
)

// Stage turns one source's lines into records.
type Stage struct {
	spec      *Spec
	container string // "auto" until the source's first line decides
	parser    parser
	// parts counts the parts of a record cut at the size limit that were
	// already emitted; the record goes on in the next package.
	parts uint16

	out     []record.Entry
	spans   []record.Span
	pending []logical
	// pendingLen and quotes keep the size and the csv quote count of the
	// pending lines as they come, rather than summing them per line.
	pendingLen, quotes int
	spanAt             int // cursor into the raw spans
	// entry and fields are reused for every record: handed to a parser
	// through an interface, locals would escape to the heap.
	entry  record.Entry
	fields fields
	times  secondCache
	// lastSpan is the raw span of the latest record, to start a new output
	// span only when it changes.
	lastSpan int
}

// logical is one line after container decoding: a CRI line with its
// partial lines joined, a Docker line unwrapped, or a plain line.
type logical struct {
	first, next int // the raw lines it came from
	body        record.Ref
	time        int64
	flags       record.Flag // log.iostream
	split       bool        // a part of an over-long raw line: passed on as it is
	rawFlags    record.Flag
	part        uint16
	errMsg      int // index of a decoding error in Strings, 0 if none
}

// Process replaces the raw lines of p (one record each, as the reader
// indexed them) with finished records. With flush, unfinished records are
// finished too (timeout, shutdown, end of a file). It returns the index in
// p.Data from which lines were not used yet (len(p.Data)-wise: -1 when all
// were): the reader keeps those bytes for the next package.
func (st *Stage) Process(p *record.Package, flush bool) (keep int) {
	p.Strings = st.spec.strings
	if st.spec.plain() {
		for i := range p.Records {
			if p.Records[i].Flags&record.FlagSplit == 0 {
				p.Records[i].Severity = leadingLevel(p.Body(i))
			}
		}
		return -1
	}
	raw := p.Records
	st.out, st.spans, st.spanAt, st.lastSpan = st.out[:0], st.spans[:0], 0, -1
	st.clearPending()
	p.Extra, p.Attrs = p.Extra[:0], p.Attrs[:0]
	consumed := 0
	i := 0
	for i < len(raw) {
		l, ok := st.decode(p, raw, i, flush)
		if !ok {
			break
		}
		i = l.next
		if l.split {
			// Parts of a line over the limit are not joined or parsed.
			st.endPending(p, true)
			st.emit(p, l, l.body, l.rawFlags, l.part, false)
			consumed = i
			continue
		}
		if st.spec.multiline == nil && st.spec.format != "csv" {
			// One line, one record: the common case, kept short.
			st.emitBody(p, l, l.body, true)
			consumed = i
			continue
		}
		if !st.joins(p, l) {
			st.endPending(p, true)
		}
		st.push(p, l)
		if len(st.pending) > 1 && st.pendingLen > st.spec.cfg.MaxLineBytes {
			st.endPending(p, false) // a part of a record that goes on
			consumed = i
		}
		if len(st.pending) > 0 && st.spec.multiline == nil && !st.openQuote() {
			st.endPending(p, true)
		}
		if len(st.pending) == 0 {
			consumed = i
		} else {
			consumed = st.pending[0].first
		}
	}
	if flush && i == len(raw) {
		st.endPending(p, true)
		consumed = len(raw)
	}
	p.Records, st.out = st.out, raw[:0]
	p.Spans, st.spans = st.spans, p.Spans[:0]
	if consumed < len(raw) {
		return int(raw[consumed].Start)
	}
	return -1
}

// joins reports whether l continues the pending record.
func (st *Stage) joins(p *record.Package, l logical) bool {
	if len(st.pending) == 0 {
		// A continuation at the very start of what we have: it belongs to
		// a record whose earlier parts were already sent.
		return st.parts > 0 && st.spec.multiline != nil && !st.isStart(p, l)
	}
	if st.spec.multiline != nil {
		return !st.isStart(p, l)
	}
	return st.openQuote()
}

func (st *Stage) isStart(p *record.Package, l logical) bool {
	body := p.Bytes(l.body)
	if st.spec.mlChain != nil {
		return st.spec.mlChain.matches(body)
	}
	if st.spec.mlPrefix != "" && (len(body) < len(st.spec.mlPrefix) || string(body[:len(st.spec.mlPrefix)]) != st.spec.mlPrefix) {
		return false
	}
	return st.spec.multiline.Match(body)
}

// push adds l to the pending record.
func (st *Stage) push(p *record.Package, l logical) {
	st.pending = append(st.pending, l)
	st.pendingLen += int(l.body.Len) + 1
	if st.spec.format == "csv" {
		st.quotes += bytes.Count(p.Bytes(l.body), []byte{'"'})
	}
}

func (st *Stage) clearPending() {
	st.pending, st.pendingLen, st.quotes = st.pending[:0], 0, 0
}

// openQuote reports whether the pending csv record has a quoted field that
// is still open (a newline inside quotes).
func (st *Stage) openQuote() bool { return st.quotes%2 == 1 }

// endPending emits the pending record (last: it is complete; else it is a
// part of a record that goes on, and keeps its line's newline so that the
// parts put together give the record back).
func (st *Stage) endPending(p *record.Package, last bool) {
	if len(st.pending) == 0 {
		if st.parts > 0 && last {
			// The record's parts ended exactly at the limit: close it.
			st.emitBody(p, logical{}, record.Ref{}, true)
		}
		return
	}
	body := st.join(p, st.pending)
	if !last {
		body = withNewline(p, body)
	}
	st.emitBody(p, st.pending[0], body, last)
	st.clearPending()
}

// withNewline returns body followed by a newline, in Extra.
func withNewline(p *record.Package, body record.Ref) record.Ref {
	if start, end := body.Bounds(); body.InExtra() && end == len(p.Extra) {
		p.Extra = append(p.Extra, '\n')
		return record.ExtraRef(start, end+1)
	}
	start := len(p.Extra)
	p.Extra = append(p.Extra, p.Bytes(body)...)
	p.Extra = append(p.Extra, '\n')
	return record.ExtraRef(start, len(p.Extra))
}

// join returns the pending lines as one body: the lines themselves when
// they lie together in Data, else a copy in Extra joined by newlines.
func (st *Stage) join(p *record.Package, ls []logical) record.Ref {
	if len(ls) == 1 {
		return ls[0].body
	}
	if st.container == "none" {
		first, _ := ls[0].body.Bounds()
		_, last := ls[len(ls)-1].body.Bounds()
		return record.DataRef(first, last)
	}
	start := len(p.Extra)
	for i, l := range ls {
		if i > 0 {
			p.Extra = append(p.Extra, '\n')
		}
		p.Extra = append(p.Extra, p.Bytes(l.body)...)
	}
	return record.ExtraRef(start, len(p.Extra))
}

// emitBody emits a record (or, with a body over the limit, its parts).
// A record that is whole (last, and no parts before) is parsed.
func (st *Stage) emitBody(p *record.Package, l logical, body record.Ref, last bool) {
	max := st.spec.cfg.MaxLineBytes
	whole := last && st.parts == 0 && int(body.Len) <= max
	if whole {
		st.emit(p, l, body, 0, 0, true)
		return
	}
	for {
		n := int(body.Len)
		if n > max {
			n = record.RuneCut(p.Bytes(body), max)
		}
		st.parts++
		final := last && n == int(body.Len)
		flags := record.FlagSplit
		if final {
			flags |= record.FlagLastPart
		}
		st.emit(p, l, body.Sub(0, n), flags, st.parts, false)
		body = body.Sub(n, int(body.Len))
		if final {
			st.parts = 0
			return
		}
		if body.Len == 0 {
			return
		}
	}
}

// emit appends one record; parse says whether to run the parser on it.
func (st *Stage) emit(p *record.Package, l logical, body record.Ref, flags record.Flag, part uint16, parse bool) {
	st.entry = record.Entry{Flags: flags | l.flags, Part: part, Time: l.time, AttrStart: uint32(len(p.Attrs))}
	e := &st.entry
	if l.errMsg != 0 {
		p.Attrs = append(p.Attrs, record.Attr{Key: record.StringRef(strParseError), Value: record.StringRef(l.errMsg)})
	} else if parse && st.spec.format == "raw" {
		e.Severity = leadingLevel(p.Bytes(body))
	} else if parse {
		f := &st.fields
		*f = fields{p: p, orig: body, body: body, entry: e, spec: st.spec}
		st.parser.parse(f, p.Bytes(body))
		body = f.body
		if e.Severity == record.SeverityNone && !f.levelField {
			e.Severity = leadingLevel(p.Bytes(body))
		}
	}
	e.AttrEnd = uint32(len(p.Attrs))
	start, end := body.Bounds()
	e.Start, e.End = uint32(start), uint32(end)
	if body.InExtra() {
		e.Flags |= record.FlagExtra
	}
	if span := st.observed(p, l.first); span != st.lastSpan && span < len(p.Spans) {
		st.lastSpan = span
		st.spans = append(st.spans, record.Span{First: len(st.out), Time: p.Spans[span].Time})
	}
	st.out = append(st.out, *e)
}

// observed returns the raw span saying when raw line i was read; calls
// come in rising i.
func (st *Stage) observed(p *record.Package, i int) int {
	for st.spanAt+1 < len(p.Spans) && p.Spans[st.spanAt+1].First <= i {
		st.spanAt++
	}
	return st.spanAt
}
