// Package hub runs the embedded log hub: a NATS server with JetStream,
// storing on disk, holding the stream agents publish to. The same stream
// layout works on an external NATS cluster.
package hub

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/hub/layout"
)

// Options configure the hub.
type Options struct {
	// Listen is host:port; port 0 picks a free one.
	Listen string
	// DataDir holds the stream's files.
	DataDir string
	// Stream is the stream name (layout.DefaultStream if empty).
	Stream string
	// MaxAge and MaxBytes bound what the stream keeps (0: no bound).
	MaxAge   time.Duration
	MaxBytes int64
}

// Hub is a running embedded hub.
type Hub struct {
	ns     *server.Server
	stream string
}

// Start starts the server, waits until it takes connections, and creates
// (or updates the limits of) the stream.
func Start(ctx context.Context, o Options) (*Hub, error) {
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: want host:port, e.g. 127.0.0.1:4222", o.Listen)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("listen %q: bad port", o.Listen)
	}
	if p == 0 {
		p = server.RANDOM_PORT
	}
	if o.Stream == "" {
		o.Stream = layout.DefaultStream
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "loglet-hub",
		Host:       host,
		Port:       p,
		JetStream:  true,
		StoreDir:   o.DataDir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("hub: server on %s did not start within 10s (is the port in use?)", o.Listen)
	}
	h := &Hub{ns: ns, stream: o.Stream}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		h.Shutdown()
		return nil, fmt.Errorf("hub: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		h.Shutdown()
		return nil, err
	}
	if _, err := js.CreateOrUpdateStream(ctx, layout.StreamConfig(o.Stream, o.MaxAge, o.MaxBytes)); err != nil {
		h.Shutdown()
		return nil, fmt.Errorf("hub: stream %s: %w", o.Stream, err)
	}
	return h, nil
}

// ServerURL is the client URL (nats://host:port).
func (h *Hub) ServerURL() string { return h.ns.ClientURL() }

// SinkURL is what agents use as --sink.
func (h *Hub) SinkURL() string { return h.ns.ClientURL() + "/" + h.stream }

// Shutdown stops the server; the data stays on disk.
func (h *Hub) Shutdown() {
	h.ns.Shutdown()
	h.ns.WaitForShutdown()
}
