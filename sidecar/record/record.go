// Package record holds the unit the agent ships: a package of consecutive log
// records from one source, and their encoding as OpenTelemetry-model JSON.
//
// Records are not materialised one by one: a package keeps the raw line bytes
// back to back and an index of where each record starts and ends, so the hot
// path from reading to a sink that discards (null://) or re-encodes
// (file://, http://) never allocates per line.
package record

import (
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Flag marks how a record relates to the line it came from.
type Flag uint8

const (
	// FlagSplit marks a part of a line longer than the line limit.
	FlagSplit Flag = 1 << iota
	// FlagLastPart marks the final part of a split line.
	FlagLastPart
	// FlagExtra says Start and End index Package.Extra, not Data: the body
	// was decoded or joined (container partial lines, multiline records).
	FlagExtra
	// FlagStdout and FlagStderr give log.iostream (container logs).
	FlagStdout
	FlagStderr
)

// Severity is a record's level, when a parser found one.
type Severity uint8

// Severities, in the order of the OpenTelemetry severity numbers.
const (
	SeverityNone Severity = iota
	SeverityTrace
	SeverityDebug
	SeverityInfo
	SeverityWarn
	SeverityError
	SeverityFatal
)

var severityText = [...]string{"", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}

func (s Severity) String() string {
	if int(s) < len(severityText) {
		return severityText[s]
	}
	return ""
}

// Entry is one record: where its body is, and what parsing found.
type Entry struct {
	Start, End uint32
	Flags      Flag
	Severity   Severity
	// Part is the 1-based index of the part when FlagSplit is set.
	Part uint16
	// Attributes of the record are Package.Attrs[AttrStart:AttrEnd].
	AttrStart, AttrEnd uint32
	// Time is the event time in Unix nanoseconds; 0 means the observed
	// time stands in for it.
	Time int64
}

// Ref names bytes of a package without copying them: a range of Data, a
// range of Extra, or one of Strings (static keys and messages).
type Ref struct {
	Off, Len uint32
}

const (
	refExtra   = 1 << 31
	refStrings = 1 << 30
)

// DataRef names Data[start:end].
func DataRef(start, end int) Ref { return Ref{uint32(start), uint32(end - start)} }

// ExtraRef names Extra[start:end].
func ExtraRef(start, end int) Ref { return Ref{refExtra | uint32(start), uint32(end - start)} }

// StringRef names Strings[i].
func StringRef(i int) Ref { return Ref{Off: refStrings | uint32(i)} }

// InExtra reports whether r names bytes of Extra.
func (r Ref) InExtra() bool { return r.Off&refExtra != 0 && r.Off&refStrings == 0 }

// InStrings reports whether r names one of Strings.
func (r Ref) InStrings() bool { return r.Off&refStrings != 0 && r.Off&refExtra == 0 }

// Bounds returns the range r names in Data or Extra.
func (r Ref) Bounds() (start, end int) {
	off := int(r.Off &^ refExtra)
	return off, off + int(r.Len)
}

// Sub names bytes [i:j) of what r names (Data or Extra).
func (r Ref) Sub(i, j int) Ref { return Ref{r.Off + uint32(i), uint32(j - i)} }

// Attr is one attribute of a record.
type Attr struct {
	Key, Value Ref
	// Raw says Value is JSON to copy as it is (a number, true, a nested
	// object, a string token with its quotes), not text to quote.
	Raw bool
}

// Span says that records from First on were observed at Time (until the
// next span). One span per read call keeps observed_time honest without a
// timestamp per record.
type Span struct {
	First int
	Time  time.Time
}

// Identity tells whether a file on disk is a source we know: device and inode
// say where it lives now, the fingerprint of its first bytes tells a reused
// inode from the original file.
type Identity struct {
	Dev   uint64 `json:"dev"`
	Inode uint64 `json:"inode"`
	// FingerprintLen is how many leading bytes Fingerprint covers (at most
	// source.FingerprintSize); a file shorter than that is fingerprinted
	// over what it has and re-fingerprinted as it grows.
	FingerprintLen int    `json:"fingerprint_len"`
	Fingerprint    string `json:"fingerprint"`
	// Tail hashes the TailLen bytes that end at file offset TailAt: the
	// bytes just before where reading resumes. A file rewritten in place,
	// or a new file that got a deleted one's inode, while the agent was
	// down can keep the first bytes but not these; it is then read again
	// from its start rather than resumed in the middle of other content.
	TailAt  int64  `json:"tail_at,omitempty"`
	TailLen int    `json:"tail_len,omitempty"`
	Tail    string `json:"tail,omitempty"`
}

// Origin describes a source once; every record of its packages refers to it.
type Origin struct {
	// SourceID is stable across restarts (kept in the checkpoint).
	SourceID string
	// Path is the file the source was read from.
	Path string
	// Input names the configuration's input the source belongs to.
	Input string
	// HidePath leaves log.file.path out of the records (NewInboxOrigin).
	HidePath bool
	// Resource holds resource attributes (k8s.pod.name, host.name, …) in the
	// order they are written.
	Resource []KeyValue
	// Route names the Kafka topic or JetStream subject suffix the records
	// go to; empty: the sink's.
	Route string

	prefix []byte // `"attributes":{"log.file.path":…,"loglet.source_id":…,"loglet.package_id":`
	suffix []byte // `,"resource":{…}}` + "\n"
}

// KeyValue is one string attribute.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Package is a run of consecutive records from one source, shipped and
// acknowledged as a unit. Its ID rises by one per source and survives
// restarts; together with a record's index it addresses the record.
type Package struct {
	Origin *Origin
	ID     uint64
	// Data holds the lines as read; Records index into it.
	Data    []byte
	Records []Entry
	Spans   []Span
	// Extra holds bytes parsing made (joined or unescaped bodies and
	// values); Attrs the records' attributes; Strings the static strings
	// that Refs name by index (the parser's keys). All are empty for raw
	// lines.
	Extra   []byte
	Attrs   []Attr
	Strings []string
	// Identity of the file when the package was cut.
	Identity Identity
	// EndOffset is the file offset just past the last record: where reading
	// resumes once this package and all before it are acknowledged.
	EndOffset int64
	// End marks the last package of a source: once it is acknowledged the
	// source is released. It may hold no records.
	End bool
	// Forget asks, with End, to delete the source's checkpoint: its file is
	// gone.
	Forget bool
}

// Len is the number of records.
func (p *Package) Len() int { return len(p.Records) }

// Body returns record i's bytes; they alias Data or Extra.
func (p *Package) Body(i int) []byte { return p.BodyOf(p.Records[i]) }

// BodyOf returns the bytes of e, an entry of p (perhaps changed and not
// yet stored back).
func (p *Package) BodyOf(e Entry) []byte {
	if e.Flags&FlagExtra != 0 {
		return p.Extra[e.Start:e.End]
	}
	return p.Data[e.Start:e.End]
}

// Bytes returns what r names.
func (p *Package) Bytes(r Ref) []byte {
	switch {
	case r.Off&refExtra != 0:
		off := r.Off &^ refExtra
		return p.Extra[off : off+r.Len]
	case r.Off&refStrings != 0:
		// Read only: the bytes of a static string, without a copy.
		str := p.Strings[r.Off&^refStrings]
		return unsafe.Slice(unsafe.StringData(str), len(str))
	default:
		return p.Data[r.Off : r.Off+r.Len]
	}
}

// Attributes returns record i's attributes.
func (p *Package) Attributes(i int) []Attr {
	e := p.Records[i]
	return p.Attrs[e.AttrStart:e.AttrEnd]
}

// Pool recycles the buffers sources read into. A package is read straight
// into its buffer and shipped without copying, so at full speed the agent
// cuts thousands of packages a second; reusing their memory keeps the heap,
// and RSS, flat. Buffers come in two sizes: small, which a source starts
// with, and full, which it grows to (Grow) when it fills a small one. A
// node agent's hundreds of slow files each hold a small one; a fast file
// keeps getting full ones (GetLike).
type Pool struct {
	initial, max int
	small, full  sync.Pool
}

// NewPool returns a pool of packages whose data buffers hold initial
// bytes, or max once grown.
func NewPool(initial, max int) *Pool {
	initial = min(initial, max)
	pl := &Pool{initial: initial, max: max}
	pl.small.New = func() any { return &Package{Data: make([]byte, 0, initial), Records: make([]Entry, 0, 64)} }
	pl.full.New = func() any { return &Package{Data: make([]byte, 0, max), Records: make([]Entry, 0, 1024)} }
	return pl
}

// Get returns an empty package with a small buffer.
func (pl *Pool) Get() *Package { return pl.small.Get().(*Package) }

// GetLike returns an empty package with a buffer of p's size: the next
// package of a source that filled p.
func (pl *Pool) GetLike(p *Package) *Package {
	if cap(p.Data) >= pl.max {
		return pl.full.Get().(*Package)
	}
	return pl.Get()
}

// Grown tells whether p has a full-size buffer.
func (pl *Pool) Grown(p *Package) bool { return cap(p.Data) >= pl.max && pl.max > pl.initial }

// Grow gives p a full-size buffer, keeping its data; false when it has one.
func (pl *Pool) Grow(p *Package) bool {
	if cap(p.Data) >= pl.max {
		return false
	}
	full := pl.full.Get().(*Package)
	p.Data = append(full.Data[:0], p.Data...)
	return true
}

// Put returns p for reuse once every sink is done with it. Buffers of
// other sizes (small copies) are left to the collector.
func (pl *Pool) Put(p *Package) {
	var to *sync.Pool
	switch cap(p.Data) {
	case pl.initial:
		to = &pl.small
	case pl.max:
		to = &pl.full
	default:
		return
	}
	*p = Package{Data: p.Data[:0], Records: p.Records[:0], Spans: p.Spans[:0], Extra: p.Extra[:0], Attrs: p.Attrs[:0]}
	to.Put(p)
}

// RuneCut returns where to cut b to at most n bytes without splitting a
// UTF-8 sequence (when b is valid UTF-8 there).
func RuneCut(b []byte, n int) int {
	if n >= len(b) {
		return len(b)
	}
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return n
}
