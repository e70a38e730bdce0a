package sink

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/loglet/loglet/sidecar/record"
)

// flushBytes bounds the encode buffer of the writer sinks.
const flushBytes = 1 << 20

// Writer writes NDJSON records to a file or stdout. A file is synced before
// Write returns, so an acknowledged package is on disk.
type Writer struct {
	w    io.Writer
	sync func() error
	c    io.Closer
	buf  []byte
}

// OpenFile appends to path, creating it. A file a crash left with a torn
// last record gets a newline first, so the next record starts clean.
func OpenFile(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("file sink %s: %w", path, err)
	}
	if err := endWithNewline(path, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("file sink %s: %w", path, err)
	}
	return &Writer{w: f, sync: f.Sync, c: f}, nil
}

func endWithNewline(path string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	last := make([]byte, 1)
	if _, err := r.ReadAt(last, fi.Size()-1); err != nil {
		return err
	}
	if last[0] != '\n' {
		_, err = f.Write([]byte{'\n'})
	}
	return err
}

func newStdout() *Writer {
	return &Writer{w: os.Stdout, sync: func() error { return nil }}
}

// Write encodes and writes every package, then syncs once for all of them
// (group commit: one fsync per batch, not per package).
func (s *Writer) Write(ctx context.Context, pkgs []*record.Package) (int, error) {
	for _, p := range pkgs {
		s.buf = p.AppendNDJSON(s.buf)
		if len(s.buf) >= flushBytes {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := s.flush(); err != nil {
		return 0, err
	}
	if err := s.sync(); err != nil {
		return 0, fmt.Errorf("sync: %w", err)
	}
	return len(pkgs), nil
}

func (s *Writer) flush() error {
	_, err := s.w.Write(s.buf)
	if cap(s.buf) > 4*flushBytes {
		s.buf = nil // one huge record passed; do not keep its memory
	} else {
		s.buf = s.buf[:0]
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Close closes the file.
func (s *Writer) Close() error {
	if s.c == nil {
		return nil
	}
	return s.c.Close()
}
