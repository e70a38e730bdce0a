package parse

import (
	"bytes"
	"math"
	"unicode/utf8"

	"github.com/loglet/loglet/sidecar/decode"
	"github.com/loglet/loglet/sidecar/record"
)

// Stage turns one source's lines into records.
//
// A container writes stdout and stderr into one file, so the pieces of a
// line split by the runtime (CRI P lines, Docker json-file pieces) and the
// lines of a multiline record are put together per stream: each stream is
// a lane with its own partial line and pending record. Records leave in the
// order of their first line; a record that is finished waits (held) while
// a record of another stream that began earlier is still open. That keeps
// the invariant the reader relies on: every line before the keep index
// belongs to an emitted record and no line after it does, so a checkpoint
// never cuts an open record and a restart sends nothing twice.
type Stage struct {
	spec      *Spec
	container string // "auto" until the source's first line decides
	parser    parser
	lanes     [numLanes]lane
	// held are finished records waiting for an earlier-begun open record,
	// in the order of their first line.
	held []done
	// floor is the first line of the logical line being added to a lane,
	// which counts as open until it is pushed.
	floor int
	// at is the raw line being decoded.
	at int

	out   []record.Entry
	spans []record.Span
	// entry and fields are reused for every record: handed to a parser
	// through an interface, locals would escape to the heap.
	entry  record.Entry
	fields fields
	times  secondCache
	spanAt int // cursor into the raw spans
	// lastSpan is the raw span of the latest record, to start a new output
	// span only when it changes.
	lastSpan int

	// dec decodes the text (nil: UTF-8, only checked); plain is
	// spec.plain() under UTF-8.
	dec   *decode.Decoder
	plain bool
	// plainDecode: records are the lines as read, decoded (spec.plain()
	// with an encoding): a loop of its own, not the lanes' machinery.
	plainDecode bool
	// invalid counts records whose text was not valid (UTF-8 or the
	// encoding); sample holds the first one's bytes, for a hint.
	invalid int64
	sample  []byte
}

// SetEncoding sets the encoding the source's text is in (the configured
// one, or what the file's BOM says).
func (st *Stage) SetEncoding(e decode.Encoding) {
	st.dec = e.NewDecoder()
	st.plain = st.spec.plain() && st.dec == nil
	st.plainDecode = st.spec.plain() && st.dec != nil
}

// decodePlain decodes each line of p, a record of its own, in place.
func (st *Stage) decodePlain(p *record.Package) {
	p.Extra, p.Attrs = p.Extra[:0], p.Attrs[:0]
	for i := range p.Records {
		e := &p.Records[i]
		l := logical{body: record.DataRef(int(e.Start), int(e.End))}
		st.decodeText(p, &l)
		if e.Part <= 1 {
			l.body = trimBOM(p, l.body)
		}
		start, end := l.body.Bounds()
		e.Start, e.End = uint32(start), uint32(end)
		if l.body.InExtra() {
			e.Flags |= record.FlagExtra
		}
		if l.raw.Len > 0 {
			e.AttrStart = uint32(len(p.Attrs))
			addMark(p, int(e.AttrStart), l.mark, true)
			st.markInvalid(p, int(e.AttrStart), 0, l.raw)
			e.AttrEnd = uint32(len(p.Attrs))
		}
		if e.Flags&record.FlagSplit == 0 {
			e.Severity = leadingLevel(p.BodyOf(*e))
		}
	}
}

// Invalid returns how many records so far had text that was not valid in
// the encoding, and the bytes of the first (nil after the first call that
// returned them).
func (st *Stage) Invalid() (n int64, first []byte) {
	first, st.sample = st.sample, nil
	return st.invalid, first
}

// noteInvalid counts a record whose text b was not valid.
func (st *Stage) noteInvalid(b []byte) {
	if st.invalid == 0 {
		st.sample = append([]byte(nil), b[:min(len(b), 4096)]...)
	}
	st.invalid++
}

// Lanes: lines without a stream (plain lines, pods/log, Docker lines that
// name none), stdout, stderr.
const (
	laneNone = iota
	laneStdout
	laneStderr
	numLanes
)

func laneOf(stream record.Flag) int {
	switch {
	case stream&record.FlagStdout != 0:
		return laneStdout
	case stream&record.FlagStderr != 0:
		return laneStderr
	}
	return laneNone
}

// laneFlags returns the log.iostream flag of lane n.
func laneFlags(n int) record.Flag {
	switch n {
	case laneStdout:
		return record.FlagStdout
	case laneStderr:
		return record.FlagStderr
	}
	return 0
}

// lane is what one stream has open.
type lane struct {
	// partial holds the texts of a container line split by the runtime
	// whose final piece has not come yet.
	partial             []record.Ref
	partFirst, partLast int // its raw lines
	partTime            int64
	partFlags           record.Flag
	partMark            record.Ref
	// latest is the container time of the lane's latest line.
	latest  int64
	pending []logical
	// pendingLen and quotes keep the size and the csv quote count of the
	// pending lines as they come, rather than summing them per line.
	pendingLen, quotes int
	// parts counts the parts of a record cut at the size limit that were
	// already emitted; the record goes on in the next package.
	parts uint16
	// cont says the pending lines go on with a record a part of which
	// was cut (emitted, or counted in parts once it is).
	cont bool
	// trace is what a multiline preset knows of the open record;
	// partTrace, what it knew when the latest part was cut, where a
	// package read again starts.
	trace, partTrace traceState
}

// open returns the first raw line of what the lane has open, or MaxInt.
func (ln *lane) open() int {
	first := math.MaxInt
	if len(ln.pending) > 0 {
		first = ln.pending[0].first
	}
	if len(ln.partial) > 0 && ln.partFirst < first {
		first = ln.partFirst
	}
	return first
}

func (ln *lane) clearPending() {
	ln.pending, ln.pendingLen, ln.quotes = ln.pending[:0], 0, 0
}

// openQuote reports whether the pending csv record has a quoted field that
// is still open (a newline inside quotes).
func (ln *lane) openQuote() bool { return ln.quotes%2 == 1 }

// logical is one line after container decoding: a CRI line with its
// partial lines joined, a Docker line unwrapped, or a plain line.
type logical struct {
	first, last int // the raw lines it came from
	body        record.Ref
	time        int64
	flags       record.Flag // log.iostream
	rawFlags    record.Flag // of a part of an over-long raw line
	part        uint16
	errMsg      int // index of a decoding error in Strings, 0 if none
	// mark says what else was not understood (a container line's time):
	// unlike errMsg, the text is still parsed.
	mark record.Ref
	// raw is the original of a text that did not decode exactly; orig,
	// the text before decoding.
	raw, orig record.Ref
	// severity and attrs are an inbox line's: what its sender said.
	severity record.Severity
	attrs    record.Ref
}

// done is a finished record (or a part of one) waiting to be emitted.
type done struct {
	l    logical // its first line
	last int     // its last raw line
	body record.Ref
	lane int
	kind doneKind
}

type doneKind uint8

const (
	kindWhole doneKind = iota // a record that is complete
	kindPart                  // a part cut at the size limit; the record goes on
	kindClose                 // the empty end of a record whose parts ended at the limit
	kindLine                  // a raw line passed on as it is (a part of an over-long line, an undecodable line)
)

// Process replaces the raw lines of p (one record each, as the reader
// indexed them) with finished records. With flush, unfinished records are
// finished too (timeout, shutdown, end of a file). It returns the index in
// p.Data from which lines were not used yet (len(p.Data)-wise: -1 when all
// were): the reader keeps those bytes for the next package.
func (st *Stage) Process(p *record.Package, flush bool) (keep int) {
	p.Strings = st.spec.strings
	if st.plain {
		// One pass over the whole buffer tells whether any line needs a
		// look: utf8.Valid runs at several GB/s on ASCII.
		check := !utf8.Valid(p.Data)
		for i := range p.Records {
			e := &p.Records[i]
			if check && !utf8.Valid(p.BodyOf(*e)) {
				st.fixInvalid(p, e)
			}
			if e.Part <= 1 && e.End-e.Start >= 3 && string(p.BodyOf(*e)[:3]) == bom {
				e.Start += 3
			}
			if e.Flags&record.FlagSplit == 0 {
				e.Severity = leadingLevel(p.BodyOf(*e))
			}
		}
		return -1
	}
	if st.plainDecode {
		st.decodePlain(p)
		return -1
	}
	raw := p.Records
	st.out, st.spans, st.spanAt, st.lastSpan = st.out[:0], st.spans[:0], 0, -1
	// What was open at the end of the last package is read again.
	for i := range st.lanes {
		ln := &st.lanes[i]
		ln.clearPending()
		ln.partial, ln.trace, ln.cont = ln.partial[:0], ln.partTrace, ln.parts > 0
	}
	st.held, st.floor = st.held[:0], math.MaxInt
	p.Extra, p.Attrs = p.Extra[:0], p.Attrs[:0]
	for i := range raw {
		st.at = i
		st.line(p, raw[i])
	}
	if flush {
		st.at = max(len(raw)-1, 0)
		for i := range st.lanes {
			st.closeLane(p, i)
		}
	}
	first := st.openFirst()
	if len(st.held) > 0 {
		first = min(first, st.held[0].l.first)
	}
	p.Records, st.out = st.out, raw[:0]
	p.Spans, st.spans = st.spans, p.Spans[:0]
	if first < len(raw) {
		return int(raw[first].Start)
	}
	return -1
}

// line decodes raw line e (index st.at) and adds it to its lane.
func (st *Stage) line(p *record.Package, e record.Entry) {
	i := st.at
	body := record.DataRef(int(e.Start), int(e.End))
	if e.Flags&record.FlagSplit != 0 {
		// Parts of a line over the limit are not joined or parsed.
		st.endPending(p, laneNone, true)
		l := logical{first: i, last: i, body: body, rawFlags: e.Flags, part: e.Part}
		st.decodeText(p, &l)
		if e.Part == 1 {
			l.body = trimBOM(p, l.body)
		}
		st.finish(p, done{l: l, last: i, body: l.body, kind: kindLine})
		return
	}
	if st.container == "auto" && e.End > e.Start {
		st.container = detect(p.Data[e.Start:e.End])
	}
	if st.container == "none" || st.container == "auto" {
		l := logical{first: i, last: i, body: body}
		st.decodeText(p, &l)
		l.body = trimBOM(p, l.body)
		st.add(p, laneNone, l)
		return
	}
	w, text, ok := st.unwrap(p, e)
	if !ok {
		// A line that does not decode is a record of its own, marked.
		errMsg := st.spec.errDocker
		switch st.container {
		case "cri":
			errMsg = st.spec.errCRI
		case "timestamps":
			errMsg = st.spec.errTimestamps
		case "inbox":
			errMsg = st.spec.errInbox
		}
		l := logical{first: i, last: i, body: body, errMsg: errMsg}
		st.decodeText(p, &l)
		st.finish(p, done{l: l, last: i, body: l.body, kind: kindLine})
		return
	}
	n := laneOf(w.stream)
	st.closeStale(p, n, w.time)
	ln := &st.lanes[n]
	ln.latest = w.time
	if w.partial {
		if len(ln.partial) == 0 {
			ln.partFirst, ln.partTime, ln.partFlags, ln.partMark = i, w.time, w.stream, w.mark
		}
		ln.partial, ln.partLast = append(ln.partial, text), i
		return
	}
	l := logical{first: i, last: i, body: text, time: w.time, flags: w.stream, mark: w.mark, severity: w.severity, attrs: w.attrs}
	if len(ln.partial) > 0 {
		l.first, l.time, l.flags, l.mark = ln.partFirst, ln.partTime, ln.partFlags, ln.partMark
		l.body = joinTexts(p, ln.partial, text, true)
		ln.partial = ln.partial[:0]
	}
	st.addApp(p, n, l)
}

// addApp adds l, a line of the application's text unwrapped from the
// container's (its pieces joined: a runtime cuts long lines by bytes,
// inside a character), decoded and without a leading BOM.
func (st *Stage) addApp(p *record.Package, n int, l logical) {
	if st.dec != nil {
		time := l.mark
		st.decodeText(p, &l)
		if !hasMark(l.mark) {
			l.mark = time
		}
	}
	l.body = trimBOM(p, l.body)
	st.add(p, n, l)
}

// closeStale finishes what other lanes than n have open when their latest
// line is older than the multiline timeout at time t (a container time).
// The reader's timeout counts from the file's last growth, which never
// comes while another stream keeps writing: without this, a record of a
// stream that went quiet would hold back every record after it until the
// buffer is full. Container times make the decision the same when the
// lines are read again.
func (st *Stage) closeStale(p *record.Package, n int, t int64) {
	timeout := int64(st.spec.cfg.MultilineTimeout)
	if timeout <= 0 || t == 0 || st.openFirstBut(n) == math.MaxInt {
		return
	}
	for m := range st.lanes {
		ln := &st.lanes[m]
		if m == n || ln.latest == 0 || t-ln.latest < timeout || ln.open() == math.MaxInt {
			continue
		}
		st.closeLane(p, m)
	}
}

// closeLane finishes what lane n has open: a split line whose final piece
// did not come, and the pending record.
func (st *Stage) closeLane(p *record.Package, n int) {
	ln := &st.lanes[n]
	if len(ln.partial) > 0 {
		// A line whose final piece never came: what there is of it.
		l := logical{first: ln.partFirst, last: ln.partLast, time: ln.partTime, flags: ln.partFlags, mark: ln.partMark}
		l.body = joinTexts(p, ln.partial, record.Ref{}, false)
		ln.partial = ln.partial[:0]
		st.addApp(p, n, l)
	}
	st.endPending(p, n, true)
}

// joinTexts copies the pieces of a split line, and last if withLast, one
// after another into Extra.
func joinTexts(p *record.Package, pieces []record.Ref, last record.Ref, withLast bool) record.Ref {
	start := len(p.Extra)
	for _, r := range pieces {
		p.Extra = append(p.Extra, p.Bytes(r)...)
	}
	if withLast {
		p.Extra = append(p.Extra, p.Bytes(last)...)
	}
	return record.ExtraRef(start, len(p.Extra))
}

// add adds logical line l to lane n: it joins the lane's pending record,
// or ends it and begins the next.
func (st *Stage) add(p *record.Package, n int, l logical) {
	ml := st.spec.multiline
	if ml == nil && st.spec.format != "csv" {
		// One line, one record: the common case, kept short — emitted
		// at once when nothing is held or open before it.
		if len(st.held) == 0 && l.last < st.openFirst() {
			st.emitBody(p, n, l, l.body, true)
			return
		}
		st.finish(p, done{l: l, last: l.last, body: l.body, lane: n})
		return
	}
	ln := &st.lanes[n]
	st.floor = l.first
	var join, ends bool
	before := ln.trace
	if ml != nil {
		// A continuation at the very start of what the lane has belongs
		// to a record whose earlier parts were already sent.
		join, ends = ml.step(p.Bytes(l.body), len(ln.pending) > 0 || ln.parts > 0, &ln.trace)
	} else {
		join = len(ln.pending) > 0 && ln.openQuote()
	}
	switch {
	case !join:
		st.endPending(p, n, true)
	case ml != nil && len(ln.pending) >= ml.maxLines && st.lanesOpenBut(n) == math.MaxInt:
		// A record that would go beyond max-lines is cut into parts
		// before this line (only when no other lane has a record open,
		// as below).
		ln.partTrace = before
		st.endPending(p, n, false)
	}
	st.floor = math.MaxInt
	ln.pending = append(ln.pending, l)
	ln.pendingLen += int(l.body.Len) + 1
	if st.spec.format == "csv" {
		ln.quotes += bytes.Count(p.Bytes(l.body), []byte{'"'})
	}
	switch {
	case ends, ml == nil && !ln.openQuote():
		st.endPending(p, n, true)
	case len(ln.pending) > 1 && st.openFirstBut(n) == math.MaxInt && ln.pendingLen > st.spec.maxPending:
		// A record over the limits is cut into parts as it grows, but
		// only when nothing else is open: the lines of its part are
		// then all used, and the reader may drop them.
		ln.partTrace = ln.trace
		st.endPending(p, n, false)
	}
}

// endPending finishes the pending record of lane n (last: it is complete;
// else it is a part of a record that goes on). The lines that go on with a
// record after a part begin with the newline between them and the part,
// so that the parts put together give the record back, also when the
// last part is empty.
func (st *Stage) endPending(p *record.Package, n int, last bool) {
	ln := &st.lanes[n]
	if len(ln.pending) == 0 {
		if ln.parts > 0 && last {
			ln.cont = false
			// The record's parts ended exactly at the limit: close it.
			st.finish(p, done{l: logical{first: st.at, last: st.at, flags: laneFlags(n)}, last: st.at, lane: n, kind: kindClose})
		}
		return
	}
	d := done{l: ln.pending[0], last: ln.pending[len(ln.pending)-1].last, body: st.join(p, ln.pending), lane: n}
	if len(ln.pending) > 1 && st.dec != nil {
		st.joinRaw(p, &d.l, ln.pending)
	}
	if ln.cont {
		d.body = afterNewline(p, d.body)
	}
	ln.cont = !last
	if !last {
		d.kind = kindPart
	}
	ln.clearPending()
	st.finish(p, d)
}

// openFirst returns the first raw line of any open record, or MaxInt.
func (st *Stage) openFirst() int {
	return min(st.lanes[laneNone].open(), st.lanes[laneStdout].open(), st.lanes[laneStderr].open(), st.floor)
}

// openFirstBut is openFirst leaving out lane n.
func (st *Stage) openFirstBut(n int) int { return min(st.floor, st.lanesOpenBut(n)) }

// lanesOpenBut returns the first raw line the lanes other than n have
// open, or MaxInt.
func (st *Stage) lanesOpenBut(n int) int {
	first := math.MaxInt
	for i := range st.lanes {
		if i != n {
			first = min(first, st.lanes[i].open())
		}
	}
	return first
}

// finish emits d, unless a record open or held began before it ends: then
// it is held, in the order of first lines, until those are emitted.
func (st *Stage) finish(p *record.Package, d done) {
	if len(st.held) == 0 && d.last < st.openFirst() {
		st.emitDone(p, &d)
		return
	}
	i := len(st.held)
	for i > 0 && st.held[i-1].l.first > d.l.first {
		i--
	}
	st.held = append(st.held, done{})
	copy(st.held[i+1:], st.held[i:])
	st.held[i] = d
	// Emit the longest run of held records whose lines all lie before
	// the first line of everything left (open, or held after the run):
	// the keep index falls there, so no line of an emitted record is read
	// again.
	open := st.openFirst()
	n, last := 0, -1
	for k := range st.held {
		last = max(last, st.held[k].last)
		if last >= open {
			break // nor can any longer run be emitted
		}
		if k+1 == len(st.held) || last < st.held[k+1].l.first {
			n = k + 1
		}
	}
	for k := range st.held[:n] {
		st.emitDone(p, &st.held[k])
	}
	st.held = st.held[:copy(st.held, st.held[n:])]
}

func (st *Stage) emitDone(p *record.Package, d *done) {
	switch d.kind {
	case kindWhole:
		st.emitBody(p, d.lane, d.l, d.body, true)
	case kindPart:
		st.emitBody(p, d.lane, d.l, d.body, false)
	case kindClose:
		if st.lanes[d.lane].parts > 0 {
			st.emitBody(p, d.lane, d.l, record.Ref{}, true)
		}
	case kindLine:
		st.emit(p, d.l, d.body, d.l.rawFlags, d.l.part, false)
	}
}

// afterNewline returns a newline followed by body, in Extra.
func afterNewline(p *record.Package, body record.Ref) record.Ref {
	start := len(p.Extra)
	p.Extra = append(p.Extra, '\n')
	p.Extra = append(p.Extra, p.Bytes(body)...)
	return record.ExtraRef(start, len(p.Extra))
}

// join returns the pending lines as one body: the lines themselves when
// they lie together in Data, else a copy in Extra joined by newlines.
func (st *Stage) join(p *record.Package, ls []logical) record.Ref {
	if len(ls) == 1 {
		return ls[0].body
	}
	if (st.container == "none" || st.container == "auto") && st.dec == nil {
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

// emitBody emits a record of lane n (or, with a body over the limit, its
// parts). A record that is whole (last, and no parts before) is parsed.
func (st *Stage) emitBody(p *record.Package, n int, l logical, body record.Ref, last bool) {
	ln := &st.lanes[n]
	max := st.spec.cfg.MaxLineBytes
	whole := last && ln.parts == 0 && int(body.Len) <= max
	if whole {
		st.emit(p, l, body, 0, 0, true)
		return
	}
	for {
		n := int(body.Len)
		if n > max {
			n = record.RuneCut(p.Bytes(body), max)
		}
		ln.parts++
		final := last && n == int(body.Len)
		flags := record.FlagSplit
		if final {
			flags |= record.FlagLastPart
		}
		st.emit(p, l, body.Sub(0, n), flags, ln.parts, false)
		body = body.Sub(n, int(body.Len))
		if final {
			ln.parts = 0
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
	// The span first: a parser may need the time the record was read.
	span := st.observed(p, l.first)
	var raw record.Ref // the original of a body that was not valid UTF-8
	if st.dec == nil && !utf8.Valid(p.Bytes(body)) {
		raw = body
		start := len(p.Extra)
		p.Extra = decode.AppendValid(p.Extra, p.Bytes(body))
		body = record.ExtraRef(start, len(p.Extra))
		st.noteInvalid(p.Bytes(raw))
	}
	if l.errMsg != 0 {
		p.Attrs = append(p.Attrs, record.Attr{Key: record.StringRef(strParseError), Value: record.StringRef(l.errMsg)})
	} else if parse && st.spec.format == "raw" {
		e.Severity = leadingLevel(p.Bytes(body))
	} else if parse {
		f := &st.fields
		*f = fields{p: p, orig: body, body: body, entry: e, spec: st.spec, time: l.time, span: span}
		st.parser.parse(f, p.Bytes(body))
		body = f.body
		if e.Severity == record.SeverityNone && !f.levelField {
			e.Severity = leadingLevel(p.Bytes(body))
		}
	}
	if l.attrs.Len > 0 {
		addInboxAttrs(p, l.attrs)
	}
	if l.severity != record.SeverityNone {
		e.Severity = l.severity
	}
	if hasMark(l.mark) {
		addMark(p, int(e.AttrStart), l.mark, true)
	}
	if raw.Len > 0 {
		st.markInvalid(p, int(e.AttrStart), st.spec.errInvalid, raw)
	} else if l.raw.Len > 0 {
		st.markInvalid(p, int(e.AttrStart), 0, l.raw)
	}
	e.AttrEnd = uint32(len(p.Attrs))
	start, end := body.Bounds()
	e.Start, e.End = uint32(start), uint32(end)
	if body.InExtra() {
		e.Flags |= record.FlagExtra
	}
	if span != st.lastSpan && span < len(p.Spans) {
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

// decodeText decodes l's text from the source's encoding into Extra. Text
// that does not decode exactly keeps its original (l.raw) and gets a mark.
func (st *Stage) decodeText(p *record.Package, l *logical) {
	if st.dec == nil || l.body.Len == 0 {
		return
	}
	start := len(p.Extra)
	var lossy bool
	l.orig = l.body
	p.Extra, lossy = st.dec.Append(p.Extra, p.Bytes(l.body))
	if lossy {
		l.raw = l.body
		l.mark = record.StringRef(st.spec.errDecode)
		st.noteInvalid(p.Bytes(l.body))
	}
	l.body = record.ExtraRef(start, len(p.Extra))
}

// markInvalid marks a record whose text was not valid (with msg, unless
// 0: the mark is already there) and, under invalid-utf8: keep, adds the
// original bytes escaped reversibly as loglet.raw_body.
func (st *Stage) markInvalid(p *record.Package, attrStart, msg int, raw record.Ref) {
	if msg != 0 {
		addMark(p, attrStart, record.StringRef(msg), true)
	}
	if !st.spec.keepInvalid {
		return
	}
	start := len(p.Extra)
	p.Extra = decode.AppendEscaped(p.Extra, p.Bytes(raw))
	p.Attrs = append(p.Attrs, record.Attr{Key: record.StringRef(st.spec.keyRawBody), Value: record.ExtraRef(start, len(p.Extra))})
}

// fixInvalid makes plain record e, whose text is not valid UTF-8, valid:
// U+FFFD for each invalid byte, marked, the original kept as configured.
func (st *Stage) fixInvalid(p *record.Package, e *record.Entry) {
	raw := p.BodyOf(*e)
	st.noteInvalid(raw)
	rawRef := record.DataRef(int(e.Start), int(e.End))
	if e.Flags&record.FlagExtra != 0 {
		rawRef = record.ExtraRef(int(e.Start), int(e.End))
	}
	start := len(p.Extra)
	p.Extra = decode.AppendValid(p.Extra, raw)
	e.Start, e.End, e.Flags = uint32(start), uint32(len(p.Extra)), e.Flags|record.FlagExtra
	e.AttrStart = uint32(len(p.Attrs))
	st.markInvalid(p, int(e.AttrStart), st.spec.errInvalid, rawRef)
	e.AttrEnd = uint32(len(p.Attrs))
}

// bom is U+FEFF in UTF-8. At a file's start the reader leaves it out; at
// a line's start it is one too, written by a program that reopened the
// file (or by a .NET app at the start of its stdout), not text.
const bom = "\xef\xbb\xbf"

// trimBOM leaves a leading U+FEFF out of r.
func trimBOM(p *record.Package, r record.Ref) record.Ref {
	if r.Len >= 3 && string(p.Bytes(r)[:3]) == bom {
		return r.Sub(3, int(r.Len))
	}
	return r
}

// joinRaw gives l, the first line of a multiline record made of ls, the
// mark and original of the whole record when any of its lines did not
// decode exactly: their texts before decoding, joined by newlines.
func (st *Stage) joinRaw(p *record.Package, l *logical, ls []logical) {
	lossy := false
	for _, x := range ls {
		if x.raw.Len > 0 {
			lossy = true
			break
		}
	}
	if !lossy {
		return
	}
	start := len(p.Extra)
	for i, x := range ls {
		if i > 0 {
			p.Extra = append(p.Extra, '\n')
		}
		p.Extra = append(p.Extra, p.Bytes(x.orig)...)
	}
	l.raw, l.mark = record.ExtraRef(start, len(p.Extra)), record.StringRef(st.spec.errDecode)
}
