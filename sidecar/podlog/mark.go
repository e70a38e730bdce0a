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
	// first is the time of the stream's first timestamped line (while
	// the mark is set): after the mark, the log no longer reaches back to
	// it.
	first time.Time
}

func newFilter(m mark) *filter {
	return &filter{at: m.time, skip: maps.Clone(m.seen), past: m.time.IsZero()}
}

// drop says whether the line starting with head (the whole line, or its
// first piece) is already in the spool.
func (f *filter) drop(head []byte) bool {
	t, ok := lineTime(head)
	if ok && f.first.IsZero() {
		f.first = t
	}
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

// resumeMark reads the mark from the end of the newest spool file that
// gives one, and ends a line torn by a crash mid-write so the next line
// starts clean. A spool damaged by a crash, a full disk or anything else
// never stops the sidecar: a mark that cannot be read from it is none (the
// log is read again; lines may come twice, none is skipped).
func resumeMark(s *spool.File, now time.Time) (mark, error) {
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
		m, err := tailMark(f, now)
		f.Close()
		if err != nil || !m.time.IsZero() {
			return m, err
		}
		// Empty, or no line that can be the mark (damaged): whatever the
		// file held after the older file's last line is read again.
	}
	return mark{}, nil
}

// markWindow is how much of the end of a spool file is read for the mark:
// it holds the last lines, unless one line alone is longer. Memory stays
// bounded whatever the file holds.
const markWindow = 1 << 20

// futureSlack is how far past now a line's time may be and still be the
// mark: the container's runtime and the sidecar share the node's clock, so
// a line dated later is damage, and a mark there would drop the
// container's lines until then.
const futureSlack = time.Minute

// tailMark reads the mark from the last lines of f that can be one: with
// a time (every line the spool gets has one, so a line without is damage:
// NULs a crash left, random bytes) no later than now+futureSlack. Lines
// after it are left out; the lines they were meant to be come again.
func tailMark(f *os.File, now time.Time) (mark, error) {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return mark{}, err
	}
	size := fi.Size()
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return mark{}, err
	}
	if last[0] != '\n' {
		if _, err := f.WriteAt([]byte{'\n'}, size); err != nil {
			return mark{}, err
		}
		size++
	}
	n := min(size, markWindow)
	tail := make([]byte, n)
	if _, err := f.ReadAt(tail, size-n); err != nil && err != io.EOF {
		return mark{}, err
	}
	if n < size {
		// The first line may be cut: leave it out. When the last line
		// alone is longer than the window, there is no mark here: the
		// log is read again rather than the whole line read into memory.
		tail = tail[bytes.IndexByte(tail, '\n')+1:]
	}
	end := len(tail)
	for end > 0 {
		start := bytes.LastIndexByte(tail[:end-1], '\n') + 1
		if t, ok := lineTime(tail[start:end]); ok && !t.After(now.Add(futureSlack)) {
			break
		}
		end = start
	}
	var m mark
	m.advance(tail[:end], false, time.Time{}, "")
	return m, nil
}
