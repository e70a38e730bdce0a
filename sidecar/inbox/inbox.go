// Package inbox keeps what senders push to the agent (syslog, HTTP, OTLP,
// lumberjack) on the state volume, synced to disk before the sender hears
// yes, as files the pipeline then reads like any other: the same
// checkpoints, packages, backpressure and drain, and the same promise —
// nothing acknowledged is lost, whenever the agent is killed.
//
// An input's inbox is a folder, <dir>/<input>, with one stream per
// resource (what an OTLP sender says it is: service.name, …): a folder
// named by the resource's hash holding resource.json and numbered
// segments, 00001764583201000000.log, … Each line of a segment is one record in the
// format parse reads as container format "inbox". A segment is closed at
// Options.SegmentBytes and removed once the hub acknowledged it to its
// end; what is held may not pass Options.MaxBytes, beyond which Append
// refuses with ErrFull and the sender is told to come back.
package inbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/loglet/loglet/sidecar/atomicfile"
	"github.com/loglet/loglet/sidecar/record"
)

// Record is one record a sender pushed.
type Record struct {
	// Time is the event time in Unix nanoseconds; 0: the sender gave none
	// (the time it was read stands in, or the body's own, as the input's
	// format finds it).
	Time     int64
	Severity record.Severity
	Body     []byte
	Attrs    []Attr
}

// Attr is one attribute of a pushed record.
type Attr struct {
	Key, Value string
	// JSON says Value is JSON to keep as it is (a number, a list, a map),
	// not text.
	JSON bool
}

// AppendLine appends r as one inbox line, ended by a newline.
func (r *Record) AppendLine(dst []byte) []byte {
	dst = append(dst, '{')
	if r.Time != 0 {
		dst = append(dst, `"t":`...)
		dst = strconv.AppendInt(dst, r.Time, 10)
		dst = append(dst, ',')
	}
	if r.Severity != record.SeverityNone {
		dst = append(dst, `"s":`...)
		dst = strconv.AppendInt(dst, int64(r.Severity), 10)
		dst = append(dst, ',')
	}
	if utf8.Valid(r.Body) {
		dst = append(dst, `"b":`...)
		dst = record.AppendString(dst, r.Body)
	} else {
		// The bytes as they came: the pipeline marks the record and keeps
		// them, as it does for a file's.
		dst = append(dst, `"B":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, r.Body)
		dst = append(dst, '"')
	}
	if len(r.Attrs) > 0 {
		dst = append(dst, `,"a":{`...)
		for i, a := range r.Attrs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = record.AppendString(dst, []byte(a.Key))
			dst = append(dst, ':')
			if a.JSON && json.Valid([]byte(a.Value)) {
				dst = append(dst, a.Value...)
			} else {
				dst = record.AppendString(dst, []byte(a.Value))
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, "}\n"...)
}

// ErrFull is what Append answers when the inbox holds Options.MaxBytes
// that the hub has not acknowledged yet: the sender should retry later.
var ErrFull = errors.New("inbox full: the hub has not acknowledged what it holds yet")

// Options bound an inbox.
type Options struct {
	// MaxBytes is the most the inbox holds (0: DefaultMaxBytes).
	MaxBytes int64
	// SegmentBytes closes a segment and begins the next beyond this size
	// (0: DefaultSegmentBytes).
	SegmentBytes int64
	// Acked returns how far the hub acknowledged the file at path with
	// this device and inode (the pipeline's checkpoints); a segment
	// acknowledged to its end is removed. Nil: nothing is removed.
	Acked func(path string, dev, ino uint64) int64
	// Appended, when set, is told the segment each append made durable,
	// after the append: the pipeline reads it at once (Agent.Wake), not
	// when its file event comes through (up to a batch wait later while
	// other files are written).
	Appended func(path string)
}

// Defaults of Options.
const (
	DefaultMaxBytes     = 256 << 20
	DefaultSegmentBytes = 8 << 20
)

// ResourceFile is the file beside a stream's segments that holds its
// resource attributes (JSON, a list of {"key","value"}).
const ResourceFile = "resource.json"

// Inbox is one input's inbox. It is safe for concurrent use.
type Inbox struct {
	dir string
	opt Options

	mu      sync.Mutex
	streams map[string]*stream
	held    int64 // bytes of every segment on disk
	buf     []byte
	// first is the least number a segment begun now takes.
	first int
}

type stream struct {
	dir  string
	f    *os.File // the open segment; nil until the next append
	seq  int
	size int64
	// segments are the stream's files on disk, oldest first; the last is
	// f's while f is open.
	segments []segment
}

type segment struct {
	path string
	size int64
}

// Open opens (creating) the inbox in dir, taking in the segments an
// earlier run left: they are read like new ones.
func Open(dir string, opt Options) (*Inbox, error) {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = DefaultSegmentBytes
	}
	opt.SegmentBytes = min(opt.SegmentBytes, opt.MaxBytes)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	in := &Inbox{dir: dir, opt: opt, streams: map[string]*stream{}}
	dirs, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		s := &stream{dir: filepath.Join(dir, d.Name())}
		files, err := os.ReadDir(s.dir)
		if err != nil {
			return nil, fmt.Errorf("inbox: %w", err)
		}
		for _, f := range files {
			seq, ok := segmentSeq(f.Name())
			if !ok {
				continue
			}
			info, err := f.Info()
			if err != nil {
				continue
			}
			s.segments = append(s.segments, segment{filepath.Join(s.dir, f.Name()), info.Size()})
			s.seq = max(s.seq, seq)
			in.held += info.Size()
		}
		in.streams[d.Name()] = s
	}
	in.first = int(time.Now().UnixMicro())
	return in, nil
}

// Dir is the inbox's folder.
func (in *Inbox) Dir() string { return in.dir }

// Glob matches every segment of the inbox.
func (in *Inbox) Glob() string { return filepath.Join(in.dir, "*", "*.log") }

// Held is how many bytes the inbox holds.
func (in *Inbox) Held() int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.held
}

// Segments are numbered on from the time the inbox opened, in
// microseconds, when that is beyond the last one on disk: a path is never
// used twice, so a checkpoint kept for a removed segment whose inode a new
// one reused cannot pass for the new one's.
func segmentName(seq int) string { return fmt.Sprintf("%020d.log", seq) }

func segmentSeq(name string) (int, bool) {
	digits, ok := strings.CutSuffix(name, ".log")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}

// streamName names a resource's stream: the same attributes, in any
// order, give the same stream.
func streamName(resource []record.KeyValue) string {
	kvs := slices.Clone(resource)
	slices.SortFunc(kvs, func(a, b record.KeyValue) int { return strings.Compare(a.Key, b.Key) })
	h := sha256.New()
	for _, kv := range kvs {
		fmt.Fprintf(h, "%d:%s%d:%s", len(kv.Key), kv.Key, len(kv.Value), kv.Value)
	}
	return "r-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// Append writes recs, the records of one sender's resource, to the disk
// and syncs them: once it returns nil, they are durable and the sender
// may be told so. The records of one call go in one segment. A write
// that fails is rolled back, so a retry does not follow half a line.
func (in *Inbox) Append(resource []record.KeyValue, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	path, err := in.append(resource, recs)
	if err == nil && in.opt.Appended != nil {
		in.opt.Appended(path)
	}
	return err
}

// append is Append under the lock; it returns the segment it wrote.
func (in *Inbox) append(resource []record.KeyValue, recs []Record) (string, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.buf = in.buf[:0]
	for i := range recs {
		in.buf = recs[i].AppendLine(in.buf)
	}
	n := int64(len(in.buf))
	if n > in.opt.MaxBytes {
		return "", fmt.Errorf("inbox: %d bytes in one push is more than the inbox holds (%d): send smaller batches", n, in.opt.MaxBytes)
	}
	if in.held+n > in.opt.MaxBytes {
		in.reclaim()
		if in.held+n > in.opt.MaxBytes {
			return "", ErrFull
		}
	}
	s, err := in.stream(resource)
	if err != nil {
		return "", err
	}
	if s.f != nil && s.size > 0 && s.size+n > in.opt.SegmentBytes {
		s.f.Close()
		s.f = nil
	}
	if s.f == nil {
		s.seq = max(s.seq, in.first)
		if err := s.begin(); err != nil {
			return "", err
		}
	}
	_, err = s.f.Write(in.buf)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		name := s.f.Name()
		// Roll back what part of it reached the file; when that fails
		// too, the next append begins a new segment.
		if s.f.Truncate(s.size) != nil {
			s.f.Close()
			s.f = nil
		}
		return "", fmt.Errorf("inbox: write %s: %w", name, err)
	}
	s.size += n
	s.segments[len(s.segments)-1].size = s.size
	in.held += n
	return s.f.Name(), nil
}

// stream returns resource's stream, creating its folder and resource file.
func (in *Inbox) stream(resource []record.KeyValue) (*stream, error) {
	name := streamName(resource)
	if s := in.streams[name]; s != nil {
		return s, nil
	}
	s := &stream{dir: filepath.Join(in.dir, name)}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	b, err := json.Marshal(resource)
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(s.dir, ResourceFile), 0o644, bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	if err := atomicfile.SyncDir(in.dir); err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	in.streams[name] = s
	return s, nil
}

// begin opens the stream's next segment, its name synced into the folder
// before anything written to it is acknowledged.
func (s *stream) begin() error {
	s.seq++
	path := filepath.Join(s.dir, segmentName(s.seq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("inbox: %w", err)
	}
	s.f, s.size = f, 0
	s.segments = append(s.segments, segment{path: path})
	return nil
}

// Reclaim removes the segments the hub acknowledged to their end. The
// open segment of a stream goes too once acknowledged: the next append
// begins another.
func (in *Inbox) Reclaim() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.reclaim()
}

func (in *Inbox) reclaim() {
	if in.opt.Acked == nil {
		return
	}
	for _, s := range in.streams {
		keep := s.segments[:0]
		for i, seg := range s.segments {
			open := s.f != nil && i == len(s.segments)-1
			if seg.size == 0 || !in.acked(seg) {
				keep = append(keep, seg)
				continue
			}
			if open {
				s.f.Close()
				s.f = nil
			}
			if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				keep = append(keep, seg)
				continue
			}
			in.held -= seg.size
		}
		s.segments = keep
	}
}

func (in *Inbox) acked(seg segment) bool {
	info, err := os.Stat(seg.path)
	if err != nil {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && in.opt.Acked(seg.path, uint64(st.Dev), st.Ino) >= seg.size
}

// Close closes the open segments.
func (in *Inbox) Close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, s := range in.streams {
		if s.f != nil {
			s.f.Close()
			s.f = nil
		}
	}
	return nil
}

// Resource reads the resource attributes of the stream a segment at path
// belongs to.
func Resource(path string) ([]record.KeyValue, error) {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(path), ResourceFile))
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	var kvs []record.KeyValue
	if err := json.Unmarshal(b, &kvs); err != nil {
		return nil, fmt.Errorf("inbox: %s: %w", filepath.Join(filepath.Dir(path), ResourceFile), err)
	}
	return kvs, nil
}
