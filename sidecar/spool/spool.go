// Package spool writes a stream into a file the sidecar tails, rotated by
// size the way kubelet and logrotate do it: <name>.log is renamed to
// <name>-1.log, older files shift up, the oldest beyond the limit goes. The
// sidecar follows renames, so rotation loses nothing it has not read when
// the limit leaves it room to keep up.
package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// File is a size-rotated file. It is not safe for concurrent use.
type File struct {
	dir, name string
	maxBytes  int64
	maxFiles  int
	f         *os.File
	size      int64
}

// New returns the file dir/<name>.log, rotated beyond maxBytes with
// maxFiles rotated files kept (10 MiB and 5 when not positive). Nothing is
// created before the first write.
func New(dir, name string, maxBytes int64, maxFiles int) *File {
	if maxBytes <= 0 {
		maxBytes = 10 << 20
	}
	if maxFiles <= 0 {
		maxFiles = 5
	}
	return &File{dir: dir, name: name, maxBytes: maxBytes, maxFiles: maxFiles}
}

// Path is the file being written.
func (s *File) Path() string { return filepath.Join(s.dir, s.name+".log") }

// Rotated is the path of the n-th rotated file (n ≥ 1; larger is older).
func (s *File) Rotated(n int) string {
	return filepath.Join(s.dir, s.name+"-"+strconv.Itoa(n)+".log")
}

// MaxFiles is how many rotated files are kept.
func (s *File) MaxFiles() int { return s.maxFiles }

// Write appends b in one write(2), rotating first when the file is full,
// so a whole chunk of lines never straddles two files. It returns how much
// was written.
func (s *File) Write(b []byte) (int, error) {
	if err := s.open(); err != nil {
		return 0, err
	}
	n, err := s.f.Write(b)
	s.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("write %s: %w", s.Path(), err)
	}
	return n, nil
}

func (s *File) open() error {
	if s.f != nil && s.size < s.maxBytes {
		return nil
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
		s.rotate()
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(s.Path(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.f, s.size = f, fi.Size()
	return nil
}

func (s *File) rotate() {
	os.Remove(s.Rotated(s.maxFiles))
	for i := s.maxFiles - 1; i >= 1; i-- {
		os.Rename(s.Rotated(i), s.Rotated(i+1))
	}
	os.Rename(s.Path(), s.Rotated(1))
}

// Close closes the file; a later Write opens it again.
func (s *File) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
