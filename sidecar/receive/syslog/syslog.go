// Package syslog receives syslog messages over TCP, UDP and Unix sockets
// into an inbox. It only frames them: each message is spooled as it came,
// and the input's format (syslog) reads RFC 5424 and RFC 3164 when the
// pipeline parses it, as it does for a file rsyslog wrote.
//
// Framing follows RFC 6587 on stream sockets: a frame that begins with a
// digit is octet-counted (`<length> <message>`, which may hold newlines),
// anything else ends at a newline. A datagram (UDP, unixgram) is one
// message.
//
// What TCP syslog promises: the protocol has no acknowledgement, so a
// sender cannot know what arrived. The agent reads a connection only as
// fast as its inbox takes what it read, synced to disk: a message is
// durable before the next batch is read, and a full inbox stops reading
// the socket, so TCP's own flow control holds the sender back instead of
// the agent dropping. What is still in the kernel's socket buffers when
// the agent is killed is lost, as with every syslog receiver. A datagram
// that comes while the inbox is full is dropped and counted.
package syslog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/receive"
)

// Options say where received messages go and how many connections are
// served at once.
type Options struct {
	Appender receive.Appender
	Stats    *receive.Stats
	Log      *slog.Logger
	// MaxMessageBytes cuts longer messages into parts of this size (0:
	// DefaultMaxMessageBytes); none is lost.
	MaxMessageBytes int
	// MaxConns bounds the stream connections served at once (0:
	// DefaultMaxConns); further ones wait in the listen backlog.
	MaxConns int
}

// Defaults of Options.
const (
	DefaultMaxMessageBytes = 64 << 10
	DefaultMaxConns        = 256
)

// batchMax bounds what one Append takes from a connection: the messages
// already read are synced together, one sync per batch.
const (
	batchMaxRecords = 1024
	batchMaxBytes   = 1 << 20
)

func (o *Options) defaults() {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.Stats == nil {
		o.Stats = &receive.Stats{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// ServeStream serves a stream listener (TCP, unix) until ctx ends; it then
// stops accepting, lets each connection store what it has read, and
// returns nil.
func ServeStream(ctx context.Context, ln net.Listener, opt Options) error {
	opt.defaults()
	err := receive.ServeConns(ctx, ln, opt.MaxConns, opt.Stats, func(c net.Conn) {
		r := &streamReader{opt: opt, r: bufio.NewReaderSize(c, 64<<10)}
		if err := r.run(ctx); err != nil && ctx.Err() == nil {
			opt.Log.Warn("syslog connection closed", "remote", c.RemoteAddr().String(), "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	return nil
}

// streamReader frames one connection's messages and stores them in
// batches.
type streamReader struct {
	opt   Options
	r     *bufio.Reader
	batch []inbox.Record
	bytes int
	// part is an octet-counted message's bytes still to come (a frame
	// longer than MaxMessageBytes is read in parts).
	part int
}

func (s *streamReader) run(ctx context.Context) error {
	for {
		msg, err := s.frame()
		for len(msg) > 0 {
			// A message beyond the limit goes in parts, none lost.
			n := min(len(msg), s.opt.MaxMessageBytes)
			s.batch = append(s.batch, inbox.Record{Body: msg[:n:n]})
			s.bytes += n
			msg = msg[n:]
		}
		// Store once nothing more is at hand, or the batch is full: a
		// burst shares one sync, a lone message waits for none.
		if len(s.batch) > 0 && (err != nil || s.r.Buffered() == 0 || len(s.batch) >= batchMaxRecords || s.bytes >= batchMaxBytes) {
			if ferr := s.flush(ctx); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || isTimeout(err) {
				return nil
			}
			return err
		}
	}
}

// flush stores the batch, waiting while the inbox is full: the socket is
// not read meanwhile, so the sender is held back.
func (s *streamReader) flush(ctx context.Context) error {
	if err := receive.Store(ctx, s.opt.Appender, s.opt.Stats, s.batch, nil); err != nil {
		if ctx.Err() != nil {
			// Shutting down with a full inbox: what was read and not
			// stored is lost, as what the socket buffers hold is.
			s.opt.Stats.Dropped.Add(int64(len(s.batch)))
		}
		return err
	}
	s.batch, s.bytes = s.batch[:0], 0
	return nil
}

// frame reads the next message (a copy); nil for a blank line.
func (s *streamReader) frame() ([]byte, error) {
	max := s.opt.MaxMessageBytes
	if s.part > 0 {
		return s.counted(s.part)
	}
	b, err := s.r.Peek(1)
	if err != nil {
		return nil, err
	}
	if b[0] >= '1' && b[0] <= '9' {
		if n, ok := s.octetCount(); ok {
			return s.counted(n)
		}
	}
	// Newline framing, cut into parts beyond max.
	var msg []byte
	for {
		line, err := s.r.ReadSlice('\n')
		msg = append(msg, line...)
		switch {
		case err == nil:
			return trimCR(msg[:len(msg)-1]), nil
		case errors.Is(err, bufio.ErrBufferFull) && len(msg) < max:
			continue
		case errors.Is(err, bufio.ErrBufferFull):
			return msg, nil
		case len(msg) > 0 && errors.Is(err, io.EOF):
			return msg, nil // the last message, without its newline
		default:
			return nil, err
		}
	}
}

// trimCR drops the CR of a CRLF line end; a blank line is no message
// (nil).
func trimCR(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil
	}
	return b
}

// octetCount reads "<digits> " when the frame starts with one and a PRI
// follows it (every syslog message begins with its <PRI>): a line of
// newline framing that begins with a number is not taken for a count.
func (s *streamReader) octetCount() (int, bool) {
	// Peek no further than the frame needs: a sender may send one short
	// message and wait.
	for k := 2; k <= 12; k++ {
		head, err := s.r.Peek(k)
		if err != nil {
			return 0, false
		}
		c := head[k-1]
		if c >= '0' && c <= '9' {
			continue
		}
		if c != ' ' {
			return 0, false
		}
		// Peeking further may move the buffered bytes: read the count
		// from the new view, not head.
		next, err := s.r.Peek(k + 1)
		if err != nil || next[k] != '<' {
			return 0, false
		}
		n, err := strconv.Atoi(string(next[:k-1]))
		if err != nil {
			return 0, false
		}
		s.r.Discard(k)
		return n, true
	}
	return 0, false
}

// counted reads n bytes of an octet-counted frame, at most
// MaxMessageBytes of them now; the rest is the next part.
func (s *streamReader) counted(n int) ([]byte, error) {
	take := min(n, s.opt.MaxMessageBytes)
	msg := make([]byte, take)
	if _, err := io.ReadFull(s.r, msg); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("octet-counted frame of %d bytes cut short: %w", n, err)
		}
		return nil, err
	}
	s.part = n - take
	// A sender may end an octet-counted frame with a newline too (looked
	// for only among bytes at hand: waiting for one would hold the frame).
	if b, err := s.r.Peek(min(1, s.r.Buffered())); s.part == 0 && err == nil && len(b) == 1 && b[0] == '\n' {
		s.r.Discard(1)
	}
	return bytes.TrimSuffix(msg, []byte("\n")), nil
}

// ServePacket serves a datagram socket (UDP, unixgram) until ctx ends.
// Each datagram is a message. A reader queues them and a writer stores
// what is queued in one batch, so a burst shares one sync; a datagram
// that finds the queue full (the inbox full, or the disk slower than the
// sender) is dropped and counted: a datagram sender cannot be held back.
func ServePacket(ctx context.Context, pc net.PacketConn, opt Options) error {
	opt.defaults()
	queue := make(chan []byte, batchMaxRecords)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var batch []inbox.Record
		for msg := range queue {
			batch = append(batch[:0], inbox.Record{Body: msg})
		more:
			for len(batch) < batchMaxRecords {
				select {
				case m, ok := <-queue:
					if !ok {
						break more
					}
					batch = append(batch, inbox.Record{Body: m})
				default:
					break more
				}
			}
			switch err := opt.Appender.Append(nil, batch); {
			case err == nil:
				opt.Stats.Count(batch)
			case errors.Is(err, inbox.ErrFull):
				opt.Stats.Refused.Add(1)
				opt.Stats.Dropped.Add(int64(len(batch)))
			default:
				opt.Stats.Dropped.Add(int64(len(batch)))
				opt.Log.Error("syslog: datagrams could not be stored", "records", len(batch), "err", err)
			}
		}
	}()
	defer func() { close(queue); <-done }()
	stop := context.AfterFunc(ctx, func() { pc.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 64<<10)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("syslog: read: %w", err)
		}
		msg := bytes.TrimRight(buf[:n], "\r\n\x00")
		if len(msg) == 0 {
			continue
		}
		select {
		case queue <- bytes.Clone(msg):
		default:
			opt.Stats.Dropped.Add(1)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
