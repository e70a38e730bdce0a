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
)

// Flag marks how a record relates to the line it came from.
type Flag uint8

const (
	// FlagSplit marks a part of a line longer than the line limit.
	FlagSplit Flag = 1 << iota
	// FlagLastPart marks the final part of a split line.
	FlagLastPart
)

// Entry locates one record inside Package.Data.
type Entry struct {
	Start, End uint32
	Flags      Flag
	// Part is the 1-based index of the part when FlagSplit is set.
	Part uint16
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
}

// Origin describes a source once; every record of its packages refers to it.
type Origin struct {
	// SourceID is stable across restarts (kept in the checkpoint).
	SourceID string
	// Path is the file the source was read from.
	Path string
	// Resource holds resource attributes (k8s.pod.name, host.name, …) in the
	// order they are written.
	Resource []KeyValue

	prefix []byte // `"attributes":{"log.file.path":…,"loglet.source_id":…,"loglet.package_id":`
	suffix []byte // `,"resource":{…}}` + "\n"
}

// KeyValue is one string attribute.
type KeyValue struct {
	Key, Value string
}

// Package is a run of consecutive records from one source, shipped and
// acknowledged as a unit. Its ID rises by one per source and survives
// restarts; together with a record's index it addresses the record.
type Package struct {
	Origin *Origin
	ID     uint64
	// Data holds the record bodies; Records index into it.
	Data    []byte
	Records []Entry
	Spans   []Span
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

// Body returns record i's bytes; they alias Data.
func (p *Package) Body(i int) []byte {
	e := p.Records[i]
	return p.Data[e.Start:e.End]
}

// ObservedAt returns the time record i was read.
func (p *Package) ObservedAt(i int) time.Time {
	t := time.Time{}
	for _, s := range p.Spans {
		if s.First > i {
			break
		}
		t = s.Time
	}
	return t
}

// Pool recycles the buffers sources read into. A package is read straight
// into its buffer and shipped without copying, so at full speed the agent
// cuts thousands of packages a second; reusing their memory keeps the heap,
// and RSS, flat.
type Pool struct {
	size int
	p    sync.Pool
}

// NewPool returns a pool of packages whose data buffers hold size bytes.
func NewPool(size int) *Pool {
	pl := &Pool{size: size}
	pl.p.New = func() any {
		return &Package{Data: make([]byte, 0, size), Records: make([]Entry, 0, 1024)}
	}
	return pl
}

// Get returns an empty package with a full-size buffer.
func (pl *Pool) Get() *Package { return pl.p.Get().(*Package) }

// Put returns p for reuse once every sink is done with it. Packages with
// buffers of another size (small copies) are left to the collector.
func (pl *Pool) Put(p *Package) {
	if cap(p.Data) != pl.size {
		return
	}
	*p = Package{Data: p.Data[:0], Records: p.Records[:0], Spans: p.Spans[:0]}
	pl.p.Put(p)
}
