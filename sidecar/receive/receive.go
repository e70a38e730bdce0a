// Package receive holds what the push inputs share: where what they take
// goes, and what they count. Each protocol is a package below it (syslog,
// ingest for HTTP and OTLP/HTTP, lumberjack); each hands what a sender
// pushed to an inbox, and answers the sender only once the inbox has it on
// disk.
package receive

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/record"
)

// Appender takes a sender's records, durable once Append returns nil
// (*inbox.Inbox). inbox.ErrFull says to come back later.
type Appender interface {
	Append(resource []record.KeyValue, recs []inbox.Record) error
}

// Stats count what an input received; the agent's metrics read them.
type Stats struct {
	// Records and Bytes were taken into the inbox (bytes of body).
	Records, Bytes atomic.Int64
	// Refused counts pushes turned away because the inbox was full (the
	// sender was told to retry), Rejected those that were not valid
	// (malformed, too large, wrong content type, unauthorised).
	Refused, Rejected atomic.Int64
	// Dropped counts records lost without the sender knowing: datagrams
	// (UDP syslog) that came while the inbox was full.
	Dropped atomic.Int64
	// Conns is the connections open now.
	Conns atomic.Int64
}

// Count adds recs, taken, to s.
func (s *Stats) Count(recs []inbox.Record) {
	var n int64
	for i := range recs {
		n += int64(len(recs[i].Body))
	}
	s.Records.Add(int64(len(recs)))
	s.Bytes.Add(n)
}

// ServeConns accepts connections on ln until ctx ends and serves each with
// handle in a goroutine of its own, at most maxConns at once
// (LimitListener). When ctx ends it stops accepting and sets a read
// deadline in the past on every open connection, so that each handler
// stores what it has read and returns; ServeConns returns once they all
// have. A handler closes nothing: the connection is closed after it
// returns.
func ServeConns(ctx context.Context, ln net.Listener, maxConns int, stats *Stats, handle func(net.Conn)) error {
	ln = LimitListener(ln, maxConns, stats)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	defer func() {
		mu.Lock()
		for c := range conns {
			c.SetReadDeadline(time.Now())
		}
		mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		if ctx.Err() != nil {
			c.SetReadDeadline(time.Now())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			handle(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
}

// RetryFull is how long a sender that can be held back waits before its
// records are offered to a full inbox again.
const RetryFull = 100 * time.Millisecond

// Store appends recs to app and counts them, waiting while the inbox is
// full: each refusal is counted, and waiting (between tries, every
// RetryFull) is what holds the sender back. It returns ctx's error if ctx
// ends first, with recs not stored.
func Store(ctx context.Context, app Appender, stats *Stats, recs []inbox.Record, waiting func() error) error {
	for {
		err := app.Append(nil, recs)
		if err == nil {
			stats.Count(recs)
			return nil
		}
		if !errors.Is(err, inbox.ErrFull) {
			return err
		}
		stats.Refused.Add(1)
		select {
		case <-time.After(RetryFull):
		case <-ctx.Done():
			return ctx.Err()
		}
		if waiting != nil {
			if err := waiting(); err != nil {
				return err
			}
		}
	}
}
