// Package lumberjack receives the Beats protocol, version 2 (what
// Filebeat's and Winlogbeat's logstash output speaks), into an inbox. A
// window is acknowledged only once every event of it is in the inbox,
// synced to disk: a sender whose window was not acknowledged when the
// agent died sends it again, and nothing is lost.
//
// The framing is written here rather than taken from
// github.com/elastic/go-lumber's server: that server allocates what a
// window's header and a frame's length ask for before reading anything,
// and one 16-byte packet (a window of 2^31 events) ends the process with
// "fatal error: runtime: out of memory". Every size a sender states is
// checked against a limit here first. go-lumber's client is what the
// tests send with.
//
// Protocol v2, as the client writes it: '2' 'W' <uint32 window size>, then
// that many events, each '2' 'J' <uint32 sequence> <uint32 length> <JSON
// object>, any run of them possibly wrapped in '2' 'C' <uint32 length>
// <zlib data>. The server answers '2' 'A' <uint32 sequence> for the
// events up to that sequence; an answer of 0 while a window is being
// stored tells the sender to keep waiting.
package lumberjack

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/receive"
)

// Options say where windows go and bound what a sender may make the agent
// hold.
type Options struct {
	Appender receive.Appender
	Stats    *receive.Stats
	Log      *slog.Logger
	// TLS, when set, is required of every connection.
	TLS *tls.Config
	// MaxWindow bounds the events of one window (0: DefaultMaxWindow;
	// Filebeat's bulk_max_size is 2048 by default).
	MaxWindow int
	// MaxWindowBytes bounds one window's events, decompressed (0:
	// DefaultMaxWindowBytes): with MaxConns, what senders can make the
	// agent hold.
	MaxWindowBytes int
	// MaxConns bounds the connections served at once (0: DefaultMaxConns);
	// further ones wait in the listen backlog.
	MaxConns int
	// Timeout bounds each read inside a window and each write (0:
	// DefaultTimeout): a sender that stalls mid-window is cut off.
	Timeout time.Duration
}

// Defaults of Options.
const (
	DefaultMaxWindow      = 16384
	DefaultMaxWindowBytes = 32 << 20
	DefaultMaxConns       = 64
	DefaultTimeout        = 30 * time.Second
)

// keepalive is how often a sender waiting for a window being stored (the
// inbox full) hears that it should go on waiting.
const keepalive = 5 * time.Second

// Errors of the protocol, named for what the sender did.
var (
	errVersion = errors.New("lumberjack: not protocol version 2 (set the sender's logstash output to a Beats version that speaks v2)")
	errFrame   = errors.New("lumberjack: unknown frame type")
)

func (o *Options) defaults() {
	if o.MaxWindow <= 0 {
		o.MaxWindow = DefaultMaxWindow
	}
	if o.MaxWindowBytes <= 0 {
		o.MaxWindowBytes = DefaultMaxWindowBytes
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Stats == nil {
		o.Stats = &receive.Stats{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Serve serves ln until ctx ends; it then closes the connections (a
// window being stored is finished first) and returns nil.
func Serve(ctx context.Context, ln net.Listener, opt Options) error {
	opt.defaults()
	if opt.TLS != nil {
		ln = tls.NewListener(ln, opt.TLS)
	}
	err := receive.ServeConns(ctx, ln, opt.MaxConns, opt.Stats, func(c net.Conn) {
		cn := &conn{opt: opt, c: c, r: bufio.NewReaderSize(c, 64<<10)}
		if err := cn.run(ctx); err != nil && ctx.Err() == nil {
			opt.Stats.Rejected.Add(1)
			opt.Log.Warn("lumberjack connection closed", "remote", c.RemoteAddr().String(), "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("lumberjack: %w", err)
	}
	return nil
}

type conn struct {
	opt Options
	c   net.Conn
	r   *bufio.Reader
	// window is what the current window has decoded so far.
	events []inbox.Record
	bytes  int
	last   uint32 // the sequence of the latest event
	buf    []byte
}

func (cn *conn) run(ctx context.Context) error {
	for {
		// Between windows a sender may stay quiet as long as it likes.
		cn.c.SetReadDeadline(time.Time{})
		var hdr [6]byte
		if _, err := io.ReadFull(cn.r, hdr[:2]); err != nil {
			if errors.Is(err, io.EOF) || isTimeout(err) {
				return nil
			}
			return err
		}
		cn.c.SetReadDeadline(time.Now().Add(cn.opt.Timeout))
		if hdr[0] != '2' {
			return errVersion
		}
		if hdr[1] != 'W' {
			return fmt.Errorf("lumberjack: a window must begin with its size ('2' 'W'), got frame %q", hdr[1])
		}
		if _, err := io.ReadFull(cn.r, hdr[2:]); err != nil {
			return err
		}
		size := binary.BigEndian.Uint32(hdr[2:])
		if size == 0 {
			continue
		}
		if size > uint32(cn.opt.MaxWindow) {
			return fmt.Errorf("lumberjack: a window of %d events is more than the %d taken (lower the sender's bulk_max_size)", size, cn.opt.MaxWindow)
		}
		cn.events, cn.bytes = cn.events[:0], 0
		if err := cn.readEvents(cn.r, int(size), false); err != nil {
			return err
		}
		if err := cn.store(ctx); err != nil {
			return err
		}
		if err := cn.ack(cn.last); err != nil {
			return err
		}
	}
}

// readEvents reads frames until the window holds n events, or, inside a
// compressed frame (inner), until its end.
func (cn *conn) readEvents(r io.Reader, n int, inner bool) error {
	for len(cn.events) < n {
		var hdr [2]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if inner && errors.Is(err, io.EOF) {
				return nil
			}
			return noEOF(err)
		}
		if hdr[0] != '2' {
			return errVersion
		}
		switch hdr[1] {
		case 'J':
			if err := cn.readJSON(r); err != nil {
				return err
			}
		case 'C':
			if inner {
				return fmt.Errorf("lumberjack: a compressed frame inside a compressed frame")
			}
			if err := cn.readCompressed(r, n); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w %q", errFrame, hdr[1])
		}
	}
	return nil
}

func (cn *conn) readJSON(r io.Reader) error {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return noEOF(err)
	}
	seq, size := binary.BigEndian.Uint32(hdr[:4]), binary.BigEndian.Uint32(hdr[4:])
	if int64(cn.bytes)+int64(size) > int64(cn.opt.MaxWindowBytes) {
		return fmt.Errorf("lumberjack: a window of more than %d bytes (lower the sender's bulk_max_size)", cn.opt.MaxWindowBytes)
	}
	if cap(cn.buf) < int(size) {
		cn.buf = make([]byte, size)
	}
	b := cn.buf[:size]
	if _, err := io.ReadFull(r, b); err != nil {
		return noEOF(err)
	}
	rec, err := Event(b)
	if err != nil {
		return fmt.Errorf("lumberjack: event %d: %w", seq, err)
	}
	cn.events = append(cn.events, rec)
	cn.bytes += int(size)
	cn.last = seq
	return nil
}

// readCompressed reads a zlib frame's events: no more than the window's
// byte limit is ever decompressed, so a small frame cannot unpack into an
// unbounded one.
func (cn *conn) readCompressed(r io.Reader, n int) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return noEOF(err)
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > uint32(cn.opt.MaxWindowBytes) {
		return fmt.Errorf("lumberjack: a compressed frame of %d bytes is more than the %d taken (lower the sender's bulk_max_size)", size, cn.opt.MaxWindowBytes)
	}
	frame := io.LimitReader(r, int64(size))
	z, err := zlib.NewReader(frame)
	if err != nil {
		return fmt.Errorf("lumberjack: compressed frame: %w", err)
	}
	room := io.LimitReader(z, int64(cn.opt.MaxWindowBytes-cn.bytes)+1)
	if err := cn.readEvents(bufio.NewReader(room), n, true); err != nil {
		return err
	}
	// The rest of the frame (zlib's checksum) is read and dropped.
	if _, err := io.Copy(io.Discard, frame); err != nil {
		return err
	}
	return nil
}

// store puts the window in the inbox, waiting while it is full and telling
// the sender so every keepalive.
func (cn *conn) store(ctx context.Context) error {
	next := time.Now().Add(keepalive)
	// Not stored when ctx ends: not acknowledged, so the sender sends the
	// window again.
	return receive.Store(ctx, cn.opt.Appender, cn.opt.Stats, cn.events, func() error {
		if time.Now().Before(next) {
			return nil
		}
		next = time.Now().Add(keepalive)
		return cn.ack(0)
	})
}

func (cn *conn) ack(seq uint32) error {
	var b [6]byte
	b[0], b[1] = '2', 'A'
	binary.BigEndian.PutUint32(b[2:], seq)
	cn.c.SetWriteDeadline(time.Now().Add(cn.opt.Timeout))
	_, err := cn.c.Write(b[:])
	return err
}

// Event turns a Beats event into a record: message is the body,
// @timestamp the time, and every other field an attribute named by its
// path (log.file.path, host.name), in the order sent; @metadata, the
// sender's routing hints, is left out. It scans the event once, without
// building maps: it runs for every event a fleet of Filebeats sends.
func Event(b []byte) (inbox.Record, error) {
	var rec inbox.Record
	s := &scanner{b: b}
	s.space()
	if s.i >= len(b) || b[s.i] != '{' {
		return rec, errors.New("not a JSON object")
	}
	err := s.object(nil, 0, func(key []byte, val []byte, str bool) error {
		switch {
		case str && string(key) == "message" && rec.Body == nil:
			body, err := unquote(val)
			if err != nil {
				return err
			}
			// A copy: b is the connection's buffer, which the next event
			// overwrites.
			rec.Body = bytes.Clone(body)
			return nil
		case str && string(key) == "@timestamp" && rec.Time == 0:
			text, err := unquote(val)
			if err != nil {
				return err
			}
			if t, err := time.Parse(time.RFC3339Nano, string(text)); err == nil {
				rec.Time = t.UnixNano()
				return nil
			}
		case string(key) == "@metadata" || strings.HasPrefix(string(key), "@metadata."):
			return nil
		}
		rec.Attrs = append(rec.Attrs, inbox.Attr{Key: string(key), Value: string(val), JSON: true})
		return nil
	})
	if err != nil {
		return inbox.Record{}, err
	}
	s.space()
	if s.i != len(b) {
		return inbox.Record{}, errors.New("not a JSON object: bytes after it")
	}
	if rec.Body == nil {
		rec.Body = []byte{}
	}
	return rec, nil
}

// maxDepth bounds how deeply an event's objects nest.
const maxDepth = 32

// scanner walks a JSON text.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

var errJSON = errors.New("not valid JSON")

// object reads the object at s.i, calling fn with each leaf's dotted key
// (prefix joined with the member's name) and its JSON text; nested objects
// are walked into.
func (s *scanner) object(prefix []byte, depth int, fn func(key, val []byte, str bool) error) error {
	if depth > maxDepth {
		return errors.New("objects nested too deeply")
	}
	s.i++ // {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.space()
		start := s.i
		if err := s.string(); err != nil {
			return err
		}
		name, err := unquote(s.b[start:s.i])
		if err != nil {
			return err
		}
		key := name
		if len(prefix) > 0 {
			key = append(append(append([]byte(nil), prefix...), '.'), name...)
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return errJSON
		}
		s.i++
		s.space()
		if s.i < len(s.b) && s.b[s.i] == '{' {
			if err := s.object(key, depth+1, fn); err != nil {
				return err
			}
		} else {
			vs := s.i
			if err := s.value(depth); err != nil {
				return err
			}
			if err := fn(key, s.b[vs:s.i], s.b[vs] == '"'); err != nil {
				return err
			}
		}
		s.space()
		if s.i >= len(s.b) {
			return errJSON
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errJSON
		}
	}
}

// string moves past the string at s.i.
func (s *scanner) string() error {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return errJSON
	}
	for s.i++; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '\\':
			s.i++
		case c == '"':
			s.i++
			return nil
		case c < 0x20:
			return errJSON // JSON escapes control characters
		}
	}
	return errJSON
}

// value moves past the value at s.i; json.Valid checks it once written.
func (s *scanner) value(depth int) error {
	if s.i >= len(s.b) {
		return errJSON
	}
	switch c := s.b[s.i]; c {
	case '"':
		return s.string()
	case '{', '[':
		if depth > maxDepth {
			return errors.New("objects nested too deeply")
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		s.i++
		for {
			s.space()
			if s.i >= len(s.b) {
				return errJSON
			}
			switch s.b[s.i] {
			case closer:
				s.i++
				return nil
			case ',', ':':
				s.i++
			default:
				if err := s.value(depth + 1); err != nil {
					return err
				}
			}
		}
	default:
		start := s.i
		for s.i < len(s.b) && !strings.ContainsRune(",}] \t\n\r:", rune(s.b[s.i])) {
			s.i++
		}
		if !json.Valid(s.b[start:s.i]) {
			return errJSON
		}
		return nil
	}
}

// hasControl reports a control character, which JSON strings escape.
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// unquote is the text of a JSON string token.
func unquote(tok []byte) ([]byte, error) {
	if len(tok) < 2 || tok[0] != '"' || tok[len(tok)-1] != '"' {
		return nil, errJSON
	}
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) && !hasControl(inner) {
		return inner, nil
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return nil, fmt.Errorf("a string: %w", err)
	}
	return []byte(s), nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
