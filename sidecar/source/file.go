// Package source reads log files: it finds them by glob, tells files apart by
// identity across renames and inode reuse, and reads each in large blocks,
// splitting lines in place and cutting them into packages.
package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/loglet/loglet/sidecar/decode"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/process"
	"github.com/loglet/loglet/sidecar/record"
)

// Config says how files are read and cut into packages.
type Config struct {
	// BatchBytes cuts a package once its records hold this many bytes.
	BatchBytes int
	// BatchWait cuts a package this long after its first record.
	BatchWait time.Duration
	// MaxLineBytes splits longer lines into marked parts.
	MaxLineBytes int
	// Poll is how often a file is checked when no change event came.
	Poll time.Duration
	// IdlePoll, when longer than Poll, is how often a file with nothing
	// pending is checked: its folder's file events wake it when it grows,
	// so the checks only cover events that were lost. Thousands of quiet
	// files each checked every Poll cost a busy core.
	IdlePoll time.Duration
	// CloseInactive closes a file that has not grown for this long (0:
	// never); Run then returns ErrInactive. It is opened again, by its
	// identity, once it changes.
	CloseInactive time.Duration
	// Crowded, when set and true, says that files wait for a descriptor
	// (--max-open-files): a file idle for CrowdedIdle closes early.
	Crowded func() bool
	// Open opens the files a rotation or copytruncate left beside the
	// file (an Opener's Open, so no link leads the search out of the
	// allowed folders); nil: os.Open.
	Open func(path string) (*os.File, error)
	// CloseGrace is how long a file that left the glob (rotated away,
	// deleted) is kept open without growing before it is released: writers
	// may still append until they reopen.
	CloseGrace time.Duration
	// Parse turns lines into records (container formats, multiline,
	// parsers); nil ships every line as it is.
	Parse *parse.Spec
	// Process runs processors on the parsed records before a package
	// leaves the file; Log gets what they report.
	Process *process.Chain
	Log     *slog.Logger
}

// InitialBufferBytes is the size a File's read buffer starts at; it grows
// to BufferBytes when the file is read fast enough to fill it.
const InitialBufferBytes = 64 << 10

// BufferBytes is the size of the read buffers a File needs: a full package
// and a line, plus, when records may wait for more lines (multiline, CRI
// partial lines), room for the lines that wait.
func BufferBytes(batchBytes, maxLineBytes int, waits bool) int {
	if waits {
		return batchBytes + 4*maxLineBytes
	}
	return batchBytes + maxLineBytes
}

// CrowdedIdle is how long a file stays open without growing while other
// files wait for a descriptor.
const CrowdedIdle = 200 * time.Millisecond

// ErrInactive is what Run returns when it closed the file for being
// inactive (Config.CloseInactive, Config.Crowded): everything read is
// emitted, an unterminated last line is left for the next opening.
var ErrInactive = errors.New("closed for being inactive")

// Emit hands a cut package downstream; it blocks while the pipeline is full.
type Emit func(ctx context.Context, p *record.Package) error

// Stats are the counters a File adds to as it reads.
type Stats struct {
	Lines, Bytes, Splits, Truncations atomic.Int64
	// Reads counts the reads that found new bytes (a read goes on to
	// the file's end): loglet_reads_total.
	Reads atomic.Int64
	// InvalidText counts records whose text was not valid UTF-8 (or not
	// valid in the source's encoding): loglet_invalid_utf8_records_total.
	InvalidText atomic.Int64
}

// State is where a File starts: from a checkpoint or new.
type State struct {
	Identity      record.Identity
	Offset        int64
	NextPackageID uint64
}

// File reads one source.
//
// It reads straight into the buffer of the package being built (cur) and
// indexes the lines where they lie; a package is handed on with its buffer,
// so no line is copied between the read and the sink.
type File struct {
	cfg    Config
	origin *record.Origin
	emit   Emit
	pool   *record.Pool
	stats  *Stats

	path    string
	f       *os.File
	id      record.Identity
	cur     *record.Package // nil while parked
	start   int             // index in cur.Data of the first byte in no record
	off     int64           // file offset of that byte
	parked  []byte          // unterminated bytes kept while idle without a buffer
	part    uint16          // parts of the current long line emitted so far
	nextPkg uint64
	stage   *parse.Stage
	proc    *process.Run

	// enc is the source's encoding once the file's first bytes decided
	// it (a BOM wins over the configured one); bom is the BOM's length,
	// left out of the first line. wide: lines end in a 2-byte newline
	// (UTF-16), be: big-endian.
	enc      decode.Encoding
	encKnown bool
	bom      int
	wide, be bool
	// invalid is how many records had text that was not valid in the
	// source's encoding (read by metrics at scrape time).
	invalid atomic.Int64

	wake      chan struct{}
	unmatched atomic.Int64 // unix nanos since the file left the glob; 0 while matched
	once      bool
	info      FileInfo // the last stat of the open file
}

// NewFile returns a File reading f (opened at path) from st. Packages come
// from pool, whose buffers must hold BufferBytes (with waits when cfg.Parse
// is multiline).
func NewFile(cfg Config, f *os.File, path string, origin *record.Origin, st State, emit Emit, pool *record.Pool, stats *Stats) *File {
	file := &File{
		cfg: cfg, origin: origin, emit: emit, pool: pool, stats: stats,
		path: path, f: f, id: st.Identity, off: st.Offset, nextPkg: st.NextPackageID,
		wake: make(chan struct{}, 1),
	}
	file.encKnown = true
	if cfg.Parse != nil {
		file.stage = cfg.Parse.NewStage()
		file.enc, file.encKnown = cfg.Parse.Encoding(), false
		if st.Offset > 0 {
			// Resumed: the BOM, if any, is at the start of the file.
			var head [3]byte
			n, _ := f.ReadAt(head[:], 0)
			file.resolveEncoding(head[:n], true)
		}
	}
	file.proc = cfg.Process.Start(origin, cfg.Log)
	return file
}

// Origin returns the source's description.
func (s *File) Origin() *record.Origin { return s.origin }

// Wake tells the file it may have changed (a file-system event).
func (s *File) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// SetMatched records whether the file still matches the globs; a file that
// stops matching is read to its end and released after CloseGrace.
func (s *File) SetMatched(matched bool, now time.Time) {
	if matched {
		s.unmatched.Store(0)
	} else {
		s.unmatched.CompareAndSwap(0, now.UnixNano())
	}
}

// Info is what the last stat of the file said (after Run: when it was
// closed).
func (s *File) Info() FileInfo { return s.info }

// SetOnce makes Run read to the current end, flush everything including an
// unterminated last line, and return.
func (s *File) SetOnce() { s.once = true }

// Run reads the file until ctx ends (then it reads to the current end and
// flushes, emitting with drain) or until the file is released. Emitting
// uses drain so a shutdown can finish its last packages.
func (s *File) Run(ctx, drain context.Context) error {
	defer s.f.Close()
	defer s.park(true)
	lastGrowth := time.Now()
	timer := time.NewTimer(s.cfg.Poll)
	defer timer.Stop()
	for {
		// Whether to stop is decided before the read: a shutdown seen only
		// after it would leave out what was written between the read
		// reaching the end and the signal.
		stopping := ctx.Err() != nil
		n, err := s.readAvailable(drain)
		if err != nil {
			return err
		}
		now := time.Now()
		if n > 0 {
			s.stats.Reads.Add(1)
			lastGrowth = now
		} else if err := s.checkTruncated(drain); err != nil {
			return err
		}
		if s.once {
			return s.flush(drain, true, false)
		}
		if stopping {
			// Shutdown: finish pending records, but keep an unterminated
			// line for the next start.
			return s.flush(drain, false, false)
		}
		u := s.unmatched.Load()
		if u != 0 && n == 0 {
			idle := min(now.Sub(lastGrowth), now.Sub(time.Unix(0, u)))
			if idle >= s.cfg.CloseGrace {
				info, err := StatFile(s.f)
				return errors.Join(err, s.flush(drain, true, err == nil && info.Nlink == 0))
			}
		}
		wait := s.cfg.Poll
		pending := s.cur != nil && len(s.cur.Records) > 0
		crowded := s.cfg.Crowded != nil && s.cfg.Crowded()
		if u == 0 && n == 0 && !pending {
			idle := now.Sub(lastGrowth)
			limit := s.cfg.CloseInactive
			if crowded {
				limit = CrowdedIdle
			}
			if limit > 0 && idle >= limit {
				return s.closeInactive(drain)
			}
			wait = max(wait, s.cfg.IdlePoll)
			if limit > 0 {
				wait = min(wait, limit-idle)
			}
		}
		if pending {
			// The first span says when cur got its first record.
			due := s.cfg.BatchWait - now.Sub(s.cur.Spans[0].Time)
			if crowded {
				// Files wait for a descriptor: what this one read (to
				// the file's current end) is sent now rather than after
				// --batch-wait, and it looks again after CrowdedIdle, so
				// it can close for them (10,000 new files: a round of
				// 1,024 every 2 s otherwise).
				due, wait = 0, min(wait, CrowdedIdle)
			}
			// A record still waiting for lines is finished when none came
			// for the multiline timeout.
			idle := time.Duration(1<<63 - 1)
			if s.stage != nil && s.cfg.Parse.Multiline() {
				idle = s.cfg.Parse.Timeout() - now.Sub(lastGrowth)
			}
			if due <= 0 || idle <= 0 {
				if err := s.cut(drain, idle <= 0); err != nil {
					return err
				}
			} else {
				wait = min(wait, due, idle)
			}
		}
		s.park(false)
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// closeInactive emits what was read and a last, empty package that
// releases the source, leaving an unterminated line to be read again when
// the file is opened next.
func (s *File) closeInactive(ctx context.Context) error {
	if err := s.cut(ctx, true); err != nil {
		return err
	}
	off := s.off
	if s.cur != nil {
		off -= int64(s.start)
	}
	p := &record.Package{Origin: s.origin, ID: s.nextPkg, Identity: s.id, EndOffset: off, End: true}
	if err := s.emit(ctx, p); err != nil {
		return err
	}
	return ErrInactive
}

// park gives the buffer back while the file is idle, keeping an
// unterminated line aside, so idle files cost no buffer memory.
func (s *File) park(always bool) {
	p := s.cur
	if p == nil || len(p.Records) > 0 || (!always && len(p.Data) > 64<<10) {
		return
	}
	s.parked = append(s.parked[:0], p.Data...)
	s.cur = nil
	s.pool.Put(p)
}

func (s *File) unpark() {
	p := s.pool.Get()
	p.Data = append(p.Data, s.parked...)
	s.parked = s.parked[:0]
	s.start = 0
	s.cur = p
}

// readAvailable reads to the current end of the file and returns how many
// bytes it read.
func (s *File) readAvailable(ctx context.Context) (int64, error) {
	var total int64
	for {
		if s.cur == nil {
			s.unpark()
		}
		p := s.cur
		n := len(p.Data)
		// Read up to a full package; only a line longer than that (but
		// within the line limit) needs the room beyond.
		end := min(s.cfg.BatchBytes, cap(p.Data))
		if n >= end {
			end = cap(p.Data)
		}
		if n == end && end == cap(p.Data) && s.pool.Grow(p) {
			continue
		}
		if n == end {
			// Lines waiting for the end of their record fill the buffer:
			// finish the record rather than stall.
			if err := s.cut(ctx, true); err != nil {
				return total, err
			}
			if s.cur != nil && len(s.cur.Data) == n {
				return total, fmt.Errorf("read %s: no room in a %d-byte buffer (report this as a bug)", s.path, n)
			}
			continue
		}
		m, err := s.f.ReadAt(p.Data[n:end], s.off+int64(n-s.start))
		if m > 0 {
			total += int64(m)
			s.stats.Bytes.Add(int64(m))
			p.Data = p.Data[:n+m]
			s.split(n, time.Now(), true)
			if len(p.Data) >= s.cfg.BatchBytes && len(p.Records) > 0 {
				if err := s.cut(ctx, false); err != nil {
					return total, err
				}
			}
		}
		if err == io.EOF || (err == nil && m == 0) {
			break
		}
		if err != nil {
			return total, fmt.Errorf("read %s: %w", s.path, err)
		}
		if m < end-n {
			break
		}
	}
	if s.id.FingerprintLen < FingerprintSize && total > 0 {
		if fp, n, err := Fingerprint(s.f, FingerprintSize); err == nil && n > s.id.FingerprintLen {
			s.id.Fingerprint, s.id.FingerprintLen = fp, n
		}
	}
	return total, nil
}

// split indexes the lines completed by the bytes from index from on,
// counting them as read unless they are being indexed again (reindex). An
// unterminated tail as long as the line limit is cut into a part now, so
// what waits for a newline never exceeds the limit.
func (s *File) split(from int, now time.Time, count bool) {
	data := s.cur.Data
	if !s.encKnown {
		// The file's first bytes decide its encoding (a BOM); they are
		// at data[0:] while nothing was consumed from offset 0.
		if s.off != 0 || s.start != 0 {
			s.resolveEncoding(nil, true)
		} else if !s.resolveEncoding(data, false) {
			return
		}
	}
	if s.wide {
		s.splitWide(from, now, count)
		return
	}
	lines := int64(0)
	for {
		i := bytes.IndexByte(data[from:], '\n')
		if i < 0 {
			break
		}
		nl := from + i
		end := nl
		if end > s.start && data[end-1] == '\r' {
			end--
		}
		lines++
		s.addLine(end, now)
		s.consume(nl + 1)
		from = nl + 1
	}
	if count {
		s.stats.Lines.Add(lines) // once per read, not per line: this is the hot loop
	}
	s.cutTail(now)
}

// addLine adds the line ending at end (its line end left out): whole, or
// in parts of at most the line limit.
func (s *File) addLine(end int, now time.Time) {
	for end-s.start > s.cfg.MaxLineBytes {
		s.addPart(s.start+s.lineCut(s.cur.Data[s.start:end]), false, now)
	}
	if s.part > 0 {
		s.addPart(end, true, now)
	} else {
		s.add(end, 0, 0, now)
	}
}

// cutTail cuts an unterminated tail as long as the line limit into parts
// now, so what waits for a line end never exceeds the limit.
func (s *File) cutTail(now time.Time) {
	for len(s.cur.Data)-s.start > s.cfg.MaxLineBytes {
		s.addPart(s.start+s.lineCut(s.cur.Data[s.start:]), false, now)
	}
}

// lineCut is where to cut text b to at most the line limit: between
// characters, or between UTF-16 code units outside a surrogate pair.
func (s *File) lineCut(b []byte) int {
	if s.wide {
		return wideCut(b, s.cfg.MaxLineBytes, s.be)
	}
	return record.RuneCut(b, s.cfg.MaxLineBytes)
}

// addPart adds data[start:end] as a part of a long line and consumes it.
func (s *File) addPart(end int, last bool, now time.Time) {
	s.part++
	flags := record.FlagSplit
	if last {
		flags |= record.FlagLastPart
	}
	s.stats.Splits.Add(1)
	s.add(end, flags, s.part, now)
	if last {
		s.part = 0
	} else {
		s.consume(end)
	}
}

// add indexes data[start:end] as a record.
func (s *File) add(end int, flags record.Flag, part uint16, now time.Time) {
	p := s.cur
	start := s.start
	if s.off == 0 && s.bom > 0 {
		// The file's first line: without its byte order mark.
		start = min(start+s.bom, end)
	}
	p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(end), Flags: flags, Part: part})
	if n := len(p.Spans); n == 0 || !p.Spans[n-1].Time.Equal(now) {
		p.Spans = append(p.Spans, record.Span{First: len(p.Records) - 1, Time: now})
	}
}

// consume moves the start of unrecorded bytes to index i.
func (s *File) consume(i int) {
	s.off += int64(i - s.start)
	s.start = i
}

// take detaches the finished records of cur as a package, or returns nil
// if there are none. With a stage, the stage first turns the lines into
// records (finishing pending ones with flush) and may leave lines of an
// unfinished record: those stay in cur, with the unterminated tail, and are
// read again into the next package. A full package keeps its buffer; a
// small one (cut by time) is copied out so the buffer stays with the file.
func (s *File) take(flush bool) *record.Package {
	p := s.cur
	keep := s.start
	if s.stage != nil {
		if k := s.stage.Process(p, flush); k >= 0 {
			keep = k
		}
		s.noteInvalid()
	}
	endOffset := s.off - int64(s.start-keep)
	if len(p.Records) == 0 {
		s.reindex(p, endOffset)
		return nil
	}
	rest := p.Data[keep:]
	var out *record.Package
	// A source that once filled a buffer (a backlog) and is now cut by
	// time goes back to a small buffer.
	shrink := keep < cap(p.Data)/4 && s.pool.Grown(p) && len(rest) < InitialBufferBytes
	switch {
	case keep >= cap(p.Data)/4 || shrink:
		// Shipped in its buffer; a full package's source gets another of
		// the same size.
		var next *record.Package
		if shrink {
			next = s.pool.Get()
		} else {
			next = s.pool.GetLike(p)
		}
		next.Data = append(next.Data, rest...)
		p.Data = p.Data[:keep]
		out, s.cur = p, next
	default:
		out = &record.Package{
			Data:    bytes.Clone(p.Data[:keep]),
			Records: slices.Clone(p.Records),
			Spans:   slices.Clone(p.Spans),
			Extra:   bytes.Clone(p.Extra),
			Attrs:   slices.Clone(p.Attrs),
			Strings: p.Strings,
		}
		p.Data = p.Data[:copy(p.Data, rest)]
		p.Records, p.Spans, p.Extra, p.Attrs = p.Records[:0], p.Spans[:0], p.Extra[:0], p.Attrs[:0]
	}
	s.id = WithTail(s.id, out.Data, endOffset)
	s.reindex(s.cur, endOffset)
	out.Origin = s.origin
	out.Identity = s.id
	out.EndOffset = endOffset
	// Processors run on finished records only: a record still waiting
	// for lines is not whole yet, and a secret may span its lines.
	if s.proc != nil {
		s.proc.Apply(out, time.Now())
	}
	return out
}

// reindex makes cur's lines raw records again from its start, which lies
// at file offset off: the lines a stage left for later are read anew.
func (s *File) reindex(p *record.Package, off int64) {
	p.Records, p.Spans, p.Extra, p.Attrs = p.Records[:0], p.Spans[:0], p.Extra[:0], p.Attrs[:0]
	s.start, s.off = 0, off
	if len(p.Data) > 0 && s.stage != nil {
		s.split(0, time.Now(), false)
	}
}

// cut emits the records read so far as a package; flush finishes records
// that wait for more lines.
func (s *File) cut(ctx context.Context, flush bool) error {
	if s.cur == nil || len(s.cur.Records) == 0 {
		return nil
	}
	p := s.take(flush)
	if p == nil {
		return nil
	}
	p.ID = s.nextPkg
	s.nextPkg++
	return s.emit(ctx, p)
}

// flush emits what is buffered, finishing pending records. final also
// emits an unterminated last line and marks the package as the source's
// last.
func (s *File) flush(ctx context.Context, final, forget bool) error {
	if !final {
		return s.cut(ctx, true)
	}
	if s.cur == nil {
		s.unpark()
	}
	if !s.encKnown {
		s.resolveEncoding(s.cur.Data[s.start:], true)
	}
	// A file that holds only its BOM has no line yet.
	if n := len(s.cur.Data); n > s.start && (s.off != 0 || n-s.start > s.bom) {
		s.stats.Lines.Add(1)
		if s.part > 0 {
			s.addPart(n, true, time.Now())
		} else {
			s.add(n, 0, 0, time.Now())
		}
		s.consume(n)
	}
	var p *record.Package
	if len(s.cur.Records) > 0 {
		p = s.take(true)
	}
	if p != nil {
		p.ID = s.nextPkg
		s.nextPkg++
	} else {
		// Nothing left to send, but the end must still pass the sink's
		// acknowledgement order before the source is released.
		p = &record.Package{Origin: s.origin, ID: s.nextPkg, Identity: s.id, EndOffset: s.off}
	}
	p.End, p.Forget = true, forget
	return s.emit(ctx, p)
}

// checkTruncated handles a file that became shorter than what was read
// (copytruncate) or whose first bytes changed: it finishes the old content
// from the copy if the copy sits in the same folder, then starts over at 0.
func (s *File) checkTruncated(ctx context.Context) error {
	info, err := StatFile(s.f)
	if err != nil {
		return fmt.Errorf("stat %s: %w", s.path, err)
	}
	s.info = info
	readTo := s.readTo()
	if info.Size >= readTo && SameHead(s.f, s.id) {
		return nil
	}
	return s.startOver(ctx, info, readTo)
}

// readTo is the offset up to which the file was read.
func (s *File) readTo() int64 {
	if s.cur != nil {
		return s.off + int64(len(s.cur.Data)-s.start)
	}
	return s.off + int64(len(s.parked))
}

// startOver finishes the old content from its copy when copytruncate left
// one in the same folder, then reads the file again from its start.
func (s *File) startOver(ctx context.Context, info FileInfo, readTo int64) error {
	s.stats.Truncations.Add(1)
	self := func(ino uint64) bool { return ino == info.Inode }
	if cp := FindCopy(filepath.Dir(s.path), s.id, readTo, self, s.cfg.Open); cp != nil {
		// The copy holds the old content's tail: finish it as this source.
		orig := s.f
		s.f = cp
		_, err := s.readAvailable(ctx)
		if err == nil && s.cur != nil && len(s.cur.Data) > s.start {
			n := len(s.cur.Data)
			s.add(n, 0, 0, time.Now())
			s.consume(n)
		}
		s.f = orig
		cp.Close()
		if err != nil {
			return err
		}
	}
	// Packages of the old content carry its identity; cut before starting over.
	if err := s.cut(ctx, true); err != nil {
		return err
	}
	if s.cur != nil {
		s.cur.Data = s.cur.Data[:0]
	}
	s.off, s.start, s.part, s.parked = 0, 0, 0, s.parked[:0]
	fp, n, err := Fingerprint(s.f, FingerprintSize)
	if err != nil {
		return fmt.Errorf("fingerprint %s: %w", s.path, err)
	}
	s.id = record.Identity{Dev: s.id.Dev, Inode: s.id.Inode, Fingerprint: fp, FingerprintLen: n}
	return nil
}

// FindCopy looks in dir for a file that starts with the content id was
// fingerprinted from and holds at least size bytes — a file renamed by
// rotation, or the copy copytruncate made — and is not one skip names by
// inode. The file with id's own inode is preferred. It returns it open (by
// open; nil: os.Open), or nil.
func FindCopy(dir string, id record.Identity, size int64, skip func(inode uint64) bool, open func(string) (*os.File, error)) *os.File {
	if !filepath.IsAbs(dir) {
		return nil
	}
	if open == nil {
		open = os.Open
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	// Only files that could be the copy are opened, id's own inode
	// first: a folder may hold thousands of files, and lstat is far
	// cheaper than open, fstat, pread and close.
	var names []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Size() < size {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if skip(st.Ino) {
				continue
			}
			if uint64(st.Dev) == id.Dev && st.Ino == id.Inode {
				names = slices.Insert(names, 0, e.Name())
				continue
			}
		}
		names = append(names, e.Name())
	}
	var found *os.File
	for _, name := range names {
		f, err := open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		info, err := StatFile(f)
		if err != nil || skip(info.Inode) || info.Size < size || !SameContent(f, id) {
			f.Close()
			continue
		}
		if info.Dev == id.Dev && info.Inode == id.Inode {
			if found != nil {
				found.Close()
			}
			return f
		}
		if found == nil {
			found = f
		} else {
			f.Close()
		}
	}
	return found
}
