package receive

import (
	"net"
	"sync"
)

// LimitListener lets at most n connections be open at once: Accept waits
// for one to close before it takes the next from the kernel's backlog, so
// a sender beyond the limit waits rather than being refused, and a flood
// of connections costs no memory. Open connections count in stats.Conns.
func LimitListener(ln net.Listener, n int, stats *Stats) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), stats: stats, done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots chan struct{}
	stats *Stats
	done  chan struct{}
	close sync.Once
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
