package sink

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/sidecar/record"
)

// The hub's layout on NATS JetStream, shared by the sink, `loglet hub` and
// `loglet logs`: one stream (LOGLET by default) holding subjects
// loglet.<route>.<source_id>; one message per package (or per chunk of a
// package too large for one message), its records as S2-compressed NDJSON
// (S2, Snappy's faster successor: zstd cost the agent four times the CPU
// of everything else on the way to the hub).
const (
	// DefaultStream is the stream name when the URL names none.
	DefaultStream = "LOGLET"
	// SubjectPrefix starts every subject; the stream holds SubjectPrefix+">".
	SubjectPrefix = "loglet."
	// DefaultRoute is the route of records no setting routes elsewhere.
	DefaultRoute = "default"

	HeaderSourceID  = "Loglet-Source-Id"
	HeaderPackageID = "Loglet-Package-Id"
	HeaderRecords   = "Loglet-Records"
	// HeaderChunk is "i/n" when a package spans n messages.
	HeaderChunk    = "Loglet-Chunk"
	HeaderEncoding = "Content-Encoding"
)

// DuplicateWindow is how long the stream remembers message ids: a package
// re-sent after a crash within it is stored once.
const DuplicateWindow = 2 * time.Minute

// Subject is where a source's packages go.
func Subject(route, sourceID string) string { return SubjectPrefix + route + "." + sourceID }

// NATS publishes packages to a JetStream stream. A package is acknowledged
// when the stream stored it (the JetStream publish ack).
type NATS struct {
	addr    string
	lost    *connLoss
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  string
	route   string
	raw     []byte
	futures []pending
}

type pending struct {
	pkg int
	f   jetstream.PubAckFuture
}

// OpenNATS connects to nats://[user:pass@]host:4222[,host2]/STREAM
// [?route=R&creds=FILE&ca=FILE]. It starts even while the server is down
// (publishes fail and are retried until it is back), and creates the stream
// if the server has none of that name.
func OpenNATS(ctx context.Context, raw string, opts Options) (*NATS, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("sink %q: want nats://host:4222/STREAM", raw)
	}
	stream := strings.Trim(u.Path, "/")
	if stream == "" {
		stream = DefaultStream
	}
	q := u.Query()
	route := q.Get("route")
	if route == "" {
		route = DefaultRoute
	}
	if strings.ContainsAny(route, ".*> ") {
		return nil, fmt.Errorf("sink %q: route %q may not contain '.', '*', '>' or spaces", raw, route)
	}
	lost := &connLoss{}
	nopts := []nats.Option{
		nats.Name("loglet-agent"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.Timeout(opts.Timeout),
		// No buffer while reconnecting: a package published into it would
		// wait for its ack for the whole publish timeout (30 s) with the
		// agent none the wiser, and the agent holds the package anyway.
		// Write fails at once instead, and the agent retries.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			lost.set(fmt.Errorf("connection lost: %w", cmp.Or(err, errors.New("closed by the server"))))
		}),
		// The timeout shared among the servers, as nats.go's own dialer does.
		nats.SetCustomDialer(&causeDialer{Dialer: net.Dialer{Timeout: opts.Timeout / time.Duration(strings.Count(u.Host, ",")+1)}, lost: lost}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if !errors.Is(err, nats.ErrNoServers) { // causeDialer said why
				lost.set(fmt.Errorf("reconnect failed: %w", err))
			}
		}),
		nats.ConnectHandler(func(*nats.Conn) { lost.connected() }),
		nats.ReconnectHandler(func(*nats.Conn) { lost.connected() }),
	}
	if f := q.Get("creds"); f != "" {
		nopts = append(nopts, nats.UserCredentials(f))
	}
	if f := q.Get("ca"); f != "" {
		nopts = append(nopts, nats.RootCAs(f))
	}
	servers := (&url.URL{Scheme: "nats", User: u.User, Host: u.Host}).String()
	nc, err := nats.Connect(servers, nopts...)
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", u.Redacted(), err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256), jetstream.WithPublishAsyncTimeout(opts.Timeout))
	if err != nil {
		nc.Close()
		return nil, err
	}
	s := &NATS{addr: u.Redacted(), lost: lost, nc: nc, js: js, stream: stream, route: route}
	if nc.IsConnected() {
		lost.connected()
		if err := s.ensureStream(ctx); err != nil {
			opts.Logger.Warn("hub stream not ready; publishes will retry", "stream", stream, "err", err)
		}
	}
	return s, nil
}

// StreamConfig is the stream the hub creates (and the sink, if missing).
func StreamConfig(name string, maxAge time.Duration, maxBytes int64) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       name,
		Subjects:   []string{SubjectPrefix + ">"},
		Retention:  jetstream.LimitsPolicy,
		Storage:    jetstream.FileStorage,
		Discard:    jetstream.DiscardOld,
		MaxAge:     maxAge,
		MaxBytes:   maxBytes,
		Duplicates: DuplicateWindow,
	}
}

func (s *NATS) ensureStream(ctx context.Context) error {
	_, err := s.js.Stream(ctx, s.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = s.js.CreateStream(ctx, StreamConfig(s.stream, 0, 0))
	}
	return err
}

// Addr names the server(s) and the stream, without password.
func (s *NATS) Addr() string { return s.addr }

// connLoss keeps why the connection was lost or could not be made again.
// nats.go reports it through callbacks that run after the status changed,
// so a Write may find the connection down before the cause is known.
type connLoss struct {
	mu    sync.Mutex
	err   error
	wasUp bool
}

func (l *connLoss) set(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

func (l *connLoss) connected() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err, l.wasUp = nil, true
}

func (l *connLoss) get() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.err != nil:
		return l.err
	case l.wasUp:
		return errors.New("connection lost")
	default:
		return errors.New("no connection yet")
	}
}

// causeDialer dials as nats.go does and keeps why a dial failed: nats.go
// itself only says that no server was available.
type causeDialer struct {
	net.Dialer
	lost *connLoss
}

func (d *causeDialer) Dial(network, address string) (net.Conn, error) {
	c, err := d.Dialer.Dial(network, address)
	if err != nil {
		d.lost.set(err)
	}
	return c, err
}

// Write publishes every package asynchronously, then waits for the acks
// in order. Without a connection it fails at once, saying why the last one
// was lost: publishes would only wait for acks that cannot come (and acks
// pending when the connection drops fail as it drops).
func (s *NATS) Write(ctx context.Context, pkgs []*record.Package) (int, error) {
	if st := s.nc.Status(); st != nats.CONNECTED {
		return 0, fmt.Errorf("nats stream %s: not connected (%s): %w", s.stream, strings.ToLower(st.String()), s.lost.get())
	}
	s.futures = s.futures[:0]
	failedAt, perr := len(pkgs), error(nil)
	for i, p := range pkgs {
		if p.Len() == 0 {
			continue
		}
		if err := s.publish(i, p); err != nil {
			failedAt, perr = i, err
			break
		}
	}
	for _, f := range s.futures {
		select {
		case <-f.f.Ok():
		case err := <-f.f.Err():
			return f.pkg, s.failure(ctx, err)
		case <-ctx.Done():
			return f.pkg, ctx.Err()
		}
	}
	if perr != nil {
		return failedAt, s.failure(ctx, perr)
	}
	return len(pkgs), nil
}

// failure explains an error, and creates the stream if it was missing.
func (s *NATS) failure(ctx context.Context, err error) error {
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) || strings.Contains(err.Error(), "no stream matches") {
		if serr := s.ensureStream(ctx); serr != nil {
			return fmt.Errorf("nats stream %s: %w (and creating it: %v)", s.stream, err, serr)
		}
	}
	var rej *RejectedError
	if errors.As(err, &rej) {
		return err
	}
	return fmt.Errorf("nats stream %s: %w", s.stream, err)
}

// publish sends one package: one message, or chunks of whole records when
// the compressed package exceeds the server's message size.
func (s *NATS) publish(i int, p *record.Package) error {
	s.raw = p.AppendNDJSON(s.raw[:0])
	limit := int(s.nc.MaxPayload())
	if limit <= 0 {
		limit = 1 << 20
	}
	limit -= 4 << 10 // headers
	data := s2.Encode(nil, s.raw)
	if len(data) <= limit {
		return s.send(i, p, data, 0, 1)
	}
	// Chunks of at most limit raw bytes compress to at most about limit.
	var chunks [][]byte
	rest := s.raw
	for len(rest) > 0 {
		n := 0
		for n < len(rest) {
			j := bytes.IndexByte(rest[n:], '\n') + 1
			if n > 0 && n+j > limit {
				break
			}
			n += j
		}
		chunks = append(chunks, rest[:n])
		rest = rest[n:]
	}
	for c, raw := range chunks {
		data := s2.Encode(nil, raw)
		if len(data) > limit {
			return &RejectedError{Reason: fmt.Sprintf("a record of package %d compresses to %d bytes, over the %d the NATS server takes (raise max_payload)", p.ID, len(data), limit)}
		}
		if err := s.send(i, p, data, c, len(chunks)); err != nil {
			return err
		}
	}
	return nil
}

func (s *NATS) send(i int, p *record.Package, data []byte, chunk, chunks int) error {
	route := s.route
	if p.Origin.Route != "" {
		route = p.Origin.Route
	}
	m := nats.NewMsg(Subject(route, p.Origin.SourceID))
	m.Data = data
	pid := strconv.FormatUint(p.ID, 10)
	// The id names the content (the package's end offset): a package re-cut
	// differently after a crash is stored again rather than dropped.
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%s-%d-%d", p.Origin.SourceID, pid, p.EndOffset, chunk))
	m.Header.Set(HeaderSourceID, p.Origin.SourceID)
	m.Header.Set(HeaderPackageID, pid)
	m.Header.Set(HeaderRecords, strconv.Itoa(p.Len()))
	m.Header.Set(HeaderEncoding, "s2")
	if chunks > 1 {
		m.Header.Set(HeaderChunk, fmt.Sprintf("%d/%d", chunk+1, chunks))
	}
	f, err := s.js.PublishMsgAsync(m)
	if err != nil {
		return err
	}
	s.futures = append(s.futures, pending{pkg: i, f: f})
	return nil
}

// Close waits briefly for pending publishes and closes the connection.
func (s *NATS) Close() error {
	select {
	case <-s.js.PublishAsyncComplete():
	case <-time.After(time.Second):
	}
	s.nc.Close()
	return nil
}

// DecodeNATS returns the NDJSON records a hub message carries.
func DecodeNATS(m *nats.Msg) ([]byte, error) {
	switch enc := m.Header.Get(HeaderEncoding); enc {
	case "":
		return m.Data, nil
	case "s2":
		return s2.Decode(nil, m.Data)
	default:
		return nil, fmt.Errorf("message encoding %q: this loglet reads s2", enc)
	}
}
