// Package hub runs the embedded log hub: a NATS server with JetStream,
// storing on disk, holding the stream agents publish to. The same stream
// layout works on an external NATS cluster.
package hub

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"slices"
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

	// Name names this server; members of a cluster need distinct names
	// (the host name when empty, which is the pod's in a StatefulSet).
	Name string
	// Replicas of the stream (1 when 0): 3 keeps every record on three
	// members, so one may fail without losing or stopping anything.
	Replicas int
	// Cluster makes the hub a member of a JetStream cluster.
	Cluster Cluster
	// Auth is what clients must show; TLS serves them (and the routes)
	// over TLS.
	Auth Auth
	TLS  TLS
	// Logf, when set, gets the server's notices and errors (elections,
	// routes, members lost), which a cluster's operator wants to see.
	Logf func(format string, args ...any)
}

// Hub is a running embedded hub.
type Hub struct {
	ns     *server.Server
	stream string
	// self is the credential of the hub's own in-process clients (none
	// when clients need none).
	self []nats.Option
}

// Start starts the server, waits until it takes connections, and creates
// (or updates the limits of) the stream.
func Start(ctx context.Context, o Options) (*Hub, error) {
	host, p, err := hostPort("listen", o.Listen)
	if err != nil {
		return nil, err
	}
	if o.Stream == "" {
		o.Stream = layout.DefaultStream
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Replicas < 1 || o.Replicas > 5 {
		return nil, fmt.Errorf("replicas %d: want 1 to 5 (3 is usual for a cluster)", o.Replicas)
	}
	if o.Replicas > 1 && o.Cluster.Name == "" {
		return nil, fmt.Errorf("replicas %d: a replicated stream needs a cluster (--cluster-name, --cluster-listen, --routes)", o.Replicas)
	}
	name := o.Name
	if name == "" {
		name = "loglet-hub"
		if o.Cluster.Name != "" {
			if name, err = os.Hostname(); err != nil {
				return nil, fmt.Errorf("hub: no server name given and no host name: %w", err)
			}
		}
	}
	so := &server.Options{
		ServerName: name,
		Host:       host,
		Port:       p,
		JetStream:  true,
		StoreDir:   o.DataDir,
		NoSigs:     true,
		NoLog:      o.Logf == nil,
	}
	if err := o.apply(so); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	// The hub's own connection (to create the stream) needs a credential
	// when clients must show one: a user only this process knows.
	var self []nats.Option
	if len(so.Users) > 0 || len(so.Nkeys) > 0 {
		pw := rand.Text()
		so.Users = append(so.Users, &server.User{Username: "loglet-hub-self", Password: pw})
		self = append(self, nats.UserInfo("loglet-hub-self", pw))
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if o.Logf != nil {
		ns.SetLoggerV2(logger(o.Logf), false, false, false)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("hub: server on %s did not start within 10s (is the port in use?)", o.Listen)
	}
	h := &Hub{ns: ns, stream: o.Stream, self: self}
	nc, err := nats.Connect("", h.Local()...)
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
	cfg := layout.StreamConfig(o.Stream, o.MaxAge, o.MaxBytes)
	cfg.Replicas = o.Replicas
	if err := createStream(ctx, js, cfg, o.Cluster.Name != "", o.Logf); err != nil {
		h.Shutdown()
		return nil, fmt.Errorf("hub: stream %s: %w", o.Stream, err)
	}
	return h, nil
}

// createStream creates the stream or updates its limits and replicas. A
// member of a cluster retries until enough members are up to elect a
// meta leader and place the replicas: members start together (a
// StatefulSet's pods in parallel) and each waits for the others.
func createStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, cluster bool, logf func(string, ...any)) error {
	// A plain doubling wait: the e2e module, which links this package,
	// does not require a backoff module.
	if !cluster {
		_, err := js.CreateOrUpdateStream(ctx, cfg)
		return err
	}
	wait := 100 * time.Millisecond
	for tries := 0; ; tries++ {
		// Short: before the members have elected a meta leader a request
		// gets no answer at all, and the next try may find one.
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.CreateOrUpdateStream(cctx, cfg)
		cancel()
		if err == nil {
			return nil
		}
		if logf != nil && tries%20 == 0 {
			logf("stream %s (replicas %d) not placed yet, waiting for the cluster's members: %v", cfg.Name, cfg.Replicas, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (waiting for the cluster's members: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Local is how a reader in this process (the console) connects: in
// process, not through the network, so it needs neither the clients' TLS
// nor their credentials; it shows the hub's own user.
func (h *Hub) Local() []nats.Option {
	return append(slices.Clone(h.self), nats.InProcessServer(h.ns))
}

// ServerURL is the client URL (nats://host:port).
func (h *Hub) ServerURL() string { return h.ns.ClientURL() }

// SinkURL is what agents use as --sink.
func (h *Hub) SinkURL() string { return h.ns.ClientURL() + "/" + h.stream }

// Name is the server's name (the one stream info gives as leader).
func (h *Hub) Name() string { return h.ns.Name() }

// Shutdown stops the server; the data stays on disk.
func (h *Hub) Shutdown() {
	h.ns.Shutdown()
	h.ns.WaitForShutdown()
}
