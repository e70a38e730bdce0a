package ingest

import (
	"net"
	"sync"

	"github.com/loglet/loglet/sidecar/receive"
)

// limitListener serves at most n connections at once: Accept waits for
// one to close before it takes the next from the kernel's backlog, so a
// sender beyond the limit waits rather than being refused.
type limitListener struct {
	net.Listener
	slots chan struct{}
	stats *receive.Stats
	done  chan struct{}
	close sync.Once
}

func newLimitListener(ln net.Listener, n int, stats *receive.Stats) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), stats: stats, done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	l.stats.Conns.Add(1)
	return &limitConn{Conn: c, l: l}, nil
}

func (l *limitListener) Close() error {
	l.close.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	l     *limitListener
	close sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.close.Do(func() {
		c.l.stats.Conns.Add(-1)
		<-c.l.slots
	})
	return err
}
