package podlog

import (
	"bytes"
	"io"
	"maps"
	"os"
	"time"

	"github.com/loglet/loglet/sidecar/spool"
)

// mark is where the spool ends: the time of its last line and the lines
// with that time (usually one). A stream resumed at the mark's second
// drops the lines before it and those lines, so the spool gets each line
// once even though sinceTime has whole seconds.
type mark struct {
	time time.Time
	seen map[string]int // lineKey of those lines
}

// keyBytes of a line tell it from others of the same nanosecond: enough,
// and it keeps a line longer than the read buffer recognisable from its
// first piece.
const keyBytes = 4 << 10

func lineKey(line []byte) string { return string(line[:min(len(line), keyBytes)]) }

// lineTime parses the "<RFC 3339 time> " that starts a timestamped line.
func lineTime(line []byte) (time.Time, bool) {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		sp = len(line)
	}
	t, err := time.Parse(time.RFC3339Nano, string(bytes.TrimRight(line[:sp], "\n")))
	return t, err == nil
}

// advance moves the mark to the last whole line of lines (which end in a
// newline); continued says the first line began in an earlier write, at
// time started with key startedKey.
func (m *mark) advance(lines []byte, continued bool, started time.Time, startedKey string) {
	end := len(lines)
	var last time.Time
	var seen map[string]int
	for end > 0 {
		start := bytes.LastIndexByte(lines[:end-1], '\n') + 1
		var t time.Time
		var ok bool
		var k string
		if start == 0 && continued {
			t, ok, k = started, true, startedKey
		} else {
			t, ok = lineTime(lines[start:end])
			k = lineKey(lines[start:end])
		}
		if !ok || (!last.IsZero() && !t.Equal(last)) {
			break
		}
		last = t
		if seen == nil {
			seen = map[string]int{}
		}
		seen[k]++
		end = start
	}
	switch {
	case last.IsZero():
	case last.Equal(m.time) && end == 0 && !continued:
		// The whole write had the mark's time: add to its lines.
		for k, n := range seen {
			if m.seen == nil {
				m.seen = map[string]int{}
			}
			m.seen[k] += n
		}
	default:
		m.time, m.seen = last, seen
	}
}

// filter drops what the spool already holds from the lines a resumed
// stream sends again. It is used until the first line after the mark.
type filter struct {
	at   time.Time      // the mark's time
	skip map[string]int // the mark's lines not yet met in this stream
	past bool           // a line after the mark came: the rest passes
}

func newFilter(m mark) *filter {
	return &filter{at: m.time, skip: maps.Clone(m.seen), past: m.time.IsZero()}
}

// drop says whether the line starting with head (the whole line, or its
// first piece) is already in the spool.
func (f *filter) drop(head []byte) bool {
	t, ok := lineTime(head)
	switch {
	case !ok:
		return false
	case t.Before(f.at):
		return true
	case t.Equal(f.at):
		if k := lineKey(head); f.skip[k] > 0 {
			f.skip[k]--
			return true
		}
		return false
	}
	f.past = true
	return false
}

// resumeMark reads the mark from the end of the newest spool file, and
// ends a line torn by a crash mid-write so the next line starts clean.
func resumeMark(s *spool.File) (mark, error) {
	paths := []string{s.Path()}
	for i := 1; i <= s.MaxFiles(); i++ {
		paths = append(paths, s.Rotated(i))
	}
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return mark{}, err
		}
		m, empty, err := tailMark(f)
		f.Close()
		if err != nil || !empty {
			return m, err
		}
	}
	return mark{}, nil
}

func tailMark(f *os.File) (m mark, empty bool, err error) {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return mark{}, true, err
	}
	size := fi.Size()
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return mark{}, false, err
	}
	if last[0] != '\n' {
		if _, err := f.WriteAt([]byte{'\n'}, size); err != nil {
			return mark{}, false, err
		}
		size++
	}
	// Read a growing tail until it holds the start of its last line.
	for n := int64(64 << 10); ; n *= 2 {
		n = min(n, size)
		tail := make([]byte, n)
		if _, err := f.ReadAt(tail, size-n); err != nil && err != io.EOF {
			return mark{}, false, err
		}
		if n < size {
			// The first line may be cut: leave it out.
			i := bytes.IndexByte(tail, '\n')
			if i == len(tail)-1 {
				continue
			}
			tail = tail[i+1:]
		}
		m.advance(tail, false, time.Time{}, "")
		return m, false, nil
	}
}
