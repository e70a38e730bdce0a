package sink

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/internal/redact"
	"github.com/loglet/loglet/internal/settings"
	"github.com/loglet/loglet/sidecar/record"
)

// NATS publishes packages to a JetStream stream. A package is acknowledged
// when the stream stored it (the JetStream publish ack).
type NATS struct {
	addr   string
	lost   *connLoss
	nc     *nats.Conn
	js     jetstream.JetStream
	stream string
	route  string
	// perRoute sends each route to a stream of its own (layout.StreamFor).
	perRoute bool
	// maxAge and maxBytes bound the streams this agent creates;
	// limitsSet says the URL set them.
	maxAge    time.Duration
	maxBytes  int64
	limitsSet bool
	enc       *layout.Encoder
	futures   []pending
}

type pending struct {
	pkg int
	f   jetstream.PubAckFuture
}

// OpenNATS connects to nats://[user:pass@]host:4222[,host2]/STREAM
// [?route=R&streams=route|one&creds=FILE&ca=FILE&max-age=24h&max-bytes=10GiB].
// It starts even while the server is down (publishes fail and are retried
// until it is back), and creates a stream the server does not have, with
// max-age and max-bytes as its limits (layout.DefaultMaxAge and
// DefaultMaxBytes unless set). With streams=route (the default) a route
// other than the default one goes to a stream of its own, STREAM_<route>;
// with streams=one every route goes to STREAM.
func OpenNATS(ctx context.Context, raw string, opts Options) (*NATS, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("sink %q: want nats://host:4222/STREAM", raw)
	}
	stream := strings.Trim(u.Path, "/")
	if stream == "" {
		stream = layout.DefaultStream
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(natsParams, k) {
			hint := "settings: " + strings.Join(natsParams, ", ")
			if near := settings.Suggest(k, natsParams); near != "" {
				hint = fmt.Sprintf("did you mean %q?", near)
			}
			return nil, fmt.Errorf("sink %s: unknown setting %q: %s", redact.URL(u), k, hint)
		}
	}
	route := q.Get("route")
	if route == "" {
		route = layout.DefaultRoute
	}
	perRoute := true
	switch v := q.Get("streams"); v {
	case "", "route":
	case "one":
		perRoute = false
	default:
		return nil, fmt.Errorf("sink %s: streams %q: want route (a stream per route) or one (every route in %s)", redact.URL(u), v, stream)
	}
	maxAge, maxBytes := layout.DefaultMaxAge, int64(layout.DefaultMaxBytes)
	if v := q.Get("max-age"); v != "" {
		if maxAge, err = time.ParseDuration(v); err != nil || maxAge < 0 {
			return nil, fmt.Errorf("sink %s: max-age %q: want a duration like 24h or 168h (0: keep records until max-bytes)", redact.URL(u), v)
		}
	}
	if v := q.Get("max-bytes"); v != "" {
		if maxBytes, err = settings.ParseBytes(v); err != nil || maxBytes < 0 {
			return nil, fmt.Errorf("sink %s: max-bytes %q: want a size like 10GiB (0: no limit)", redact.URL(u), v)
		}
	}
	if strings.ContainsAny(route, ".*> ") {
		return nil, fmt.Errorf("sink %q: route %q may not contain '.', '*', '>' or spaces", raw, route)
	}
	lost := &connLoss{back: make(chan struct{}, 1)}
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
	servers, auth := layout.Servers(u)
	nc, err := nats.Connect(servers, append(nopts, auth...)...)
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", redact.URL(u), err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256), jetstream.WithPublishAsyncTimeout(opts.Timeout))
	if err != nil {
		nc.Close()
		return nil, err
	}
	s := &NATS{addr: redact.URL(u), lost: lost, nc: nc, js: js, stream: stream, route: route,
		perRoute: perRoute, maxAge: maxAge, maxBytes: maxBytes, limitsSet: q.Has("max-age") || q.Has("max-bytes"), enc: layout.NewEncoder()}
	if nc.IsConnected() {
		lost.connected()
		first := layout.StreamFor(stream, route, perRoute)
		if err := s.ensureStream(ctx, first); err != nil {
			opts.Logger.Warn("hub stream not ready; publishes will retry", "stream", first, "err", err)
		}
	}
	return s, nil
}

func (s *NATS) ensureStream(ctx context.Context, name string) error {
	st, err := s.js.Stream(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = s.js.CreateStream(ctx, s.newStream(ctx, name))
		return err
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("the NATS server has no JetStream: start it with -js (or run loglet hub): %w", err)
	case err != nil:
		return err
	}
	want := layout.Prefix(name) + ".>"
	if subs := st.CachedInfo().Config.Subjects; !slices.Contains(subs, want) && !slices.Contains(subs, ">") {
		return fmt.Errorf("stream %s holds subjects %v, not %s, which this loglet publishes to: add it (nats stream edit %s --subjects '%s') or name another stream in the sink URL",
			name, subs, want, name, want)
	}
	return nil
}

// newStream is the config of a stream this agent creates. A route's
// stream takes the replicas and limits of the URL's stream when that one
// exists (a hub cluster's three replicas, the hub's --max-age), unless the
// URL sets the limits.
func (s *NATS) newStream(ctx context.Context, name string) jetstream.StreamConfig {
	cfg := layout.StreamConfig(name, s.maxAge, s.maxBytes)
	if name == s.stream {
		return cfg
	}
	base, err := s.js.Stream(ctx, s.stream)
	if err != nil {
		return cfg
	}
	bc := base.CachedInfo().Config
	cfg.Replicas = bc.Replicas
	if !s.limitsSet {
		cfg.MaxAge, cfg.MaxBytes = bc.MaxAge, bc.MaxBytes
	}
	return cfg
}

// Addr names the server(s) and the stream, without password.
func (s *NATS) Addr() string { return s.addr }

// Reconnected is signalled when the client has connected to the hub again,
// for the agent to retry at once rather than when its backoff ends.
func (s *NATS) Reconnected() <-chan struct{} { return s.lost.back }

// connLoss keeps why the connection was lost or could not be made again.
// nats.go reports it through callbacks that run after the status changed,
// so a Write may find the connection down before the cause is known.
type connLoss struct {
	mu    sync.Mutex
	err   error
	wasUp bool
	// back is signalled whenever the connection is made (again).
	back chan struct{}
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
	select {
	case l.back <- struct{}{}:
	default: // one signal waiting is enough
	}
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
			return f.pkg, s.failure(ctx, s.streamOf(pkgs[f.pkg]), err)
		case <-ctx.Done():
			return f.pkg, ctx.Err()
		}
	}
	if perr != nil {
		return failedAt, s.failure(ctx, s.streamOf(pkgs[failedAt]), perr)
	}
	return len(pkgs), nil
}

// failure explains an error, and creates the stream if it was missing.
func (s *NATS) failure(ctx context.Context, stream string, err error) error {
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) || strings.Contains(err.Error(), "no stream matches") {
		if serr := s.ensureStream(ctx, stream); serr != nil {
			return fmt.Errorf("nats stream %s: %w (and creating it: %v)", stream, err, serr)
		}
	}
	var rej *RejectedError
	if errors.As(err, &rej) {
		return err
	}
	return fmt.Errorf("nats stream %s: %w", stream, err)
}

// routeOf is the route of a package's records.
func (s *NATS) routeOf(p *record.Package) string { return cmp.Or(p.Origin.Route, s.route) }

// streamOf is the stream a package goes to.
func (s *NATS) streamOf(p *record.Package) string {
	return layout.StreamFor(s.stream, s.routeOf(p), s.perRoute)
}

// publish sends one package: one message, or chunks of whole records when
// the compressed package exceeds the server's message size.
func (s *NATS) publish(i int, p *record.Package) error {
	limit := int(s.nc.MaxPayload())
	if limit <= 0 {
		limit = 1 << 20
	}
	limit -= 4 << 10 // headers
	data, err := s.enc.EncodePackage(p)
	if err != nil {
		return err
	}
	if len(data) <= limit {
		return s.send(i, p, data, layout.TallyOf(p, 0, p.Len()), 0, 1)
	}
	// Rare (records that barely compress, or a small max_payload): the
	// NDJSON is made whole, cut into chunks of at most limit raw bytes,
	// which compress to at most about limit, and let go of.
	raw := p.AppendNDJSON(nil)
	var chunks [][]byte
	rest := raw
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
	first := 0 // the chunk's first record: a record is one line
	for c, raw := range chunks {
		n := bytes.Count(raw, []byte{'\n'})
		tally := layout.TallyOf(p, first, min(first+n, p.Len()))
		first += n
		data, err := s.enc.Encode(raw)
		if err != nil {
			return err
		}
		if len(data) > limit {
			return &RejectedError{Reason: fmt.Sprintf("a record of package %d compresses to %d bytes, over the %d the NATS server takes (raise max_payload)", p.ID, len(data), limit)}
		}
		if err := s.send(i, p, data, tally, c, len(chunks)); err != nil {
			return err
		}
	}
	return nil
}

// send publishes one message of package p: all of it, or chunk (0-based)
// of chunks, whose records tally counts.
func (s *NATS) send(i int, p *record.Package, data []byte, tally layout.Tally, chunk, chunks int) error {
	m := nats.NewMsg(subject(s.streamOf(p), s.routeOf(p), p.Origin))
	m.Data = data
	pid := strconv.FormatUint(p.ID, 10)
	// The id names the content (the package's end offset): a package re-cut
	// differently after a crash is stored again rather than dropped.
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%s-%d-%d", p.Origin.SourceID, pid, p.EndOffset, chunk))
	m.Header.Set(layout.HeaderSourceID, p.Origin.SourceID)
	m.Header.Set(layout.HeaderPackageID, pid)
	m.Header.Set(layout.HeaderRecords, strconv.Itoa(p.Len()))
	m.Header.Set(layout.HeaderEncoding, layout.Encoding)
	m.Header.Set(layout.HeaderType, layout.Type)
	// Severities and times, so the hub's volume chart counts the records
	// without decompressing them.
	tally.SetHeader(m.Header)
	if chunks > 1 {
		m.Header.Set(layout.HeaderChunk, fmt.Sprintf("%d/%d", chunk+1, chunks))
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

// subject is where a source's packages go: its route, and the namespace,
// pod and container of its resource.
func subject(stream, route string, o *record.Origin) string {
	sub := layout.Subject{Route: route, SourceID: o.SourceID}
	for _, kv := range o.Resource {
		switch kv.Key {
		case layout.KeyNamespace:
			sub.Namespace = kv.Value
		case layout.KeyPod:
			sub.Pod = kv.Value
		case layout.KeyContainer:
			sub.Container = kv.Value
		}
	}
	return sub.String(stream)
}

// natsParams are the settings a nats:// sink URL takes.
var natsParams = []string{"route", "streams", "creds", "ca", "max-age", "max-bytes"}
