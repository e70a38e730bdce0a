// Package receive holds what the push inputs share: where what they take
// goes, and what they count. Each protocol is a package below it (syslog,
// ingest for HTTP and OTLP/HTTP, lumberjack); each hands what a sender
// pushed to an inbox, and answers the sender only once the inbox has it on
// disk.
package receive

import (
	"sync/atomic"

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
