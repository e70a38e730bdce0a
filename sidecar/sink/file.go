package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/loglet/loglet/sidecar/record"
)

// flushBytes bounds the encode buffer of the writer sinks.
const flushBytes = 1 << 20

// tailChunk is how much of a file's end OpenFile reads at a time looking
// for the last complete line.
const tailChunk = 64 << 10

// Writer writes NDJSON records to a file or stdout. A file is synced before
// Write returns, so an acknowledged package is on disk, and a failed write
// is cut back to whole packages, so the retry does not append to a torn
// record.
type Writer struct {
	w    io.Writer
	sync func() error
	c    io.Closer
	buf  []byte
	// f is the file of a file sink (nil for stdout): what a failed write is
	// rolled back on.
	f *os.File
	// ends[i] is where package i of the batch being written ends, counted
	// from the batch's first byte.
	ends []int64
	// cut, when not negative, is the size the file must be cut back to
	// before the next write: a rollback that failed. Past it lie bytes of
	// packages Write did not count.
	cut int64
	// addr names the sink in logs.
	addr string
}

// OpenFile appends to path, creating it. A file whose last line has no
// newline (kill -9 in the middle of a write) is cut back to its last
// complete line first: the torn record belongs to a package that was not
// acknowledged, so it is sent again, and left in place it would be a line
// no NDJSON reader gets past. The cut is logged to log.
func OpenFile(path string, log *slog.Logger) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("file sink %s: %w", path, err)
	}
	cut, err := cutTornTail(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("file sink %s: repairing a torn last record: %w", path, err)
	}
	if cut > 0 {
		// The bytes cut are sent again, so this is no loss.
		log.Warn("file sink: cut off a torn last record an interrupted write left; its package is sent again", "path", path, "bytes", cut)
	}
	return &Writer{w: f, sync: f.Sync, c: f, f: f, cut: -1, addr: "file://" + path}, nil
}

// cutTornTail truncates f after its last newline, reading back from the
// end a chunk at a time (a torn record is at most one write long), and
// returns how many bytes it cut.
func cutTornTail(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	buf := make([]byte, min(size, tailChunk))
	keep := int64(0)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			keep = start + int64(i) + 1
			break
		}
		end = start
	}
	if keep == size {
		return 0, nil
	}
	if err := f.Truncate(keep); err != nil {
		return 0, err
	}
	return size - keep, f.Sync()
}

func newStdout() *Writer {
	return &Writer{w: os.Stdout, sync: func() error { return nil }, cut: -1, addr: "stdout://"}
}

// Write encodes and writes every package, then syncs once for all of them
// (group commit: one fsync per batch, not per package). If writing fails,
// the packages wholly written stay (synced, and counted in the result) and
// the file is cut back to their end, so a retry of the rest starts on a
// clean line.
func (s *Writer) Write(ctx context.Context, pkgs []*record.Package) (int, error) {
	var start int64
	if s.f != nil {
		var err error
		if start, err = s.size(); err != nil {
			return 0, err
		}
	}
	s.ends = s.ends[:0]
	var written int64 // bytes of this batch the file took
	for _, p := range pkgs {
		s.buf = p.AppendNDJSON(s.buf)
		s.ends = append(s.ends, written+int64(len(s.buf)))
		if len(s.buf) >= flushBytes {
			n, err := s.flush()
			written += int64(n)
			if err != nil {
				return s.rollback(start, written, err)
			}
		}
	}
	n, err := s.flush()
	written += int64(n)
	if err != nil {
		return s.rollback(start, written, err)
	}
	if err := s.sync(); err != nil {
		// What the failed sync covered may not be on disk: keep none of it.
		s.ends = s.ends[:0]
		return s.rollback(start, written, fmt.Errorf("sync: %w", err))
	}
	return len(pkgs), nil
}

// size is the file's size before a write: where a failed write is cut back
// to. A rollback that failed before is done first; otherwise the size is
// the file's own (something else may have truncated or rotated it).
func (s *Writer) size() (int64, error) {
	if s.cut >= 0 {
		if err := s.f.Truncate(s.cut); err != nil {
			return 0, fmt.Errorf("cut back a failed write: %w", err)
		}
		s.cut = -1
	}
	fi, err := s.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	return fi.Size(), nil
}

// rollback handles a write or sync that failed after written bytes of the
// batch reached the file: it keeps the packages wholly written, syncs them
// and cuts the file after them, and returns how many they are with cause.
// On stdout, which cannot be cut back, it returns 0 and cause.
func (s *Writer) rollback(start, written int64, cause error) (int, error) {
	s.buf = s.buf[:0]
	if s.f == nil {
		return 0, cause
	}
	whole := 0
	for whole < len(s.ends) && s.ends[whole] <= written {
		whole++
	}
	keep := int64(0)
	if whole > 0 {
		keep = s.ends[whole-1]
	}
	if err := s.f.Truncate(start + keep); err != nil {
		s.cut = start
		return 0, errors.Join(cause, fmt.Errorf("cut back the failed write: %w", err))
	}
	if err := s.f.Sync(); err != nil {
		// Neither the kept packages nor the cut are sure to be on disk:
		// count none, and cut back to the start before the next write.
		s.cut = start
		return 0, errors.Join(cause, fmt.Errorf("sync after cutting back: %w", err))
	}
	return whole, cause
}

// flush writes the encode buffer and returns how many of its bytes were
// written.
func (s *Writer) flush() (int, error) {
	n, err := s.w.Write(s.buf)
	if cap(s.buf) > 4*flushBytes {
		s.buf = nil // one huge record passed; do not keep its memory
	} else {
		s.buf = s.buf[:0]
	}
	if err != nil {
		return n, fmt.Errorf("write: %w", err)
	}
	return n, nil
}

// Addr names the file (or stdout).
func (s *Writer) Addr() string { return s.addr }

// Close closes the file.
func (s *Writer) Close() error {
	if s.c == nil {
		return nil
	}
	return s.c.Close()
}
