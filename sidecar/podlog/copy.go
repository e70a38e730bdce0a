package podlog

import (
	"bytes"
	"io"
	"time"
)

// bufSize is how much of a stream is read at once; a longer line goes to
// the spool in pieces.
const bufSize = 64 << 10

// copier moves one stream into the spool, whole lines per write.
type copier struct {
	s      *stream
	filter *filter
	// inLine says the last write ended inside a line (a piece of a line
	// longer than the buffer); dropLine that this line is being dropped.
	inLine, dropLine bool
	// started and startedKey are the time and key of the line being
	// pieced together.
	started    time.Time
	startedKey string
	out        []byte
}

// copy reads r to its end into the spool and returns the bytes written.
// A connection that breaks mid-line leaves that line for the next stream.
func (s *stream) copy(r io.Reader) (int64, error) {
	if s.buf == nil {
		s.buf = make([]byte, bufSize)
	}
	c := copier{s: s, filter: newFilter(s.mark)}
	defer func() { s.firstServed = c.filter.first }()
	var total int64
	pending := 0
	for {
		n, rerr := r.Read(s.buf[pending:])
		data := s.buf[:pending+n]
		end := bytes.LastIndexByte(data, '\n') + 1
		switch {
		case rerr == io.EOF && end < len(data):
			// The log ends without a newline (the container's last words).
			data = append(data, '\n')
			end = len(data)
		case end == 0 && len(data) == len(s.buf):
			end = len(data)
		}
		if end > 0 {
			w, err := c.emit(data[:end])
			total += w
			if err != nil {
				return total, err
			}
			if s.onFirst != nil && !c.filter.first.IsZero() {
				s.onFirst(c.filter.first)
				s.onFirst = nil
			}
		}
		pending = copy(s.buf, data[end:])
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// emit writes chunk, which ends in a newline or is a piece of one line,
// minus what the filter drops, and moves the mark.
func (c *copier) emit(chunk []byte) (int64, error) {
	// Whether what is written starts inside a line begun in an earlier write.
	continued := c.inLine && !c.dropLine
	out := chunk
	switch {
	case !c.filter.past || c.inLine && c.dropLine:
		out = c.filtered(chunk)
	case !c.inLine && chunk[len(chunk)-1] != '\n':
		c.startLine(chunk)
	}
	c.inLine = chunk[len(chunk)-1] != '\n'
	if len(out) == 0 {
		return 0, nil
	}
	n, err := c.s.spool.Write(out)
	if err != nil {
		// A torn line: end it, so the next write starts a line of its own.
		if n > 0 && out[n-1] != '\n' {
			c.s.spool.Write([]byte{'\n'})
		}
		return int64(n), err
	}
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		c.s.mu.Lock()
		c.s.mark.advance(out[:i+1], continued, c.started, c.startedKey)
		c.s.mu.Unlock()
	}
	return int64(n), nil
}

// filtered is chunk without the lines the filter drops; once a line after
// the mark came, the rest of chunk passes whole.
func (c *copier) filtered(chunk []byte) []byte {
	c.out = c.out[:0]
	for first := true; len(chunk) > 0; first = false {
		seg := chunk
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			seg = chunk[:i+1]
		}
		chunk = chunk[len(seg):]
		whole := seg[len(seg)-1] == '\n'
		if !first || !c.inLine {
			c.dropLine = c.filter.drop(seg)
			if !whole {
				c.startLine(seg)
			}
		}
		if c.dropLine {
			continue
		}
		c.out = append(c.out, seg...)
		if c.filter.past && whole {
			return append(c.out, chunk...)
		}
	}
	return c.out
}

// startLine notes the first piece of a line longer than the buffer.
func (c *copier) startLine(piece []byte) {
	c.started, _ = lineTime(piece)
	c.startedKey = lineKey(piece)
}
