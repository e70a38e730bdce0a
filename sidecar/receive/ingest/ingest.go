// Package ingest is the HTTP push input: OTLP/HTTP logs (POST /v1/logs,
// protobuf or JSON) and plain records (POST /ingest: NDJSON, a JSON array
// of objects, or text lines), gzip or not. A sender hears 2xx only once
// the inbox has what it sent on disk; a full inbox answers 429 with
// Retry-After, which OTLP exporters retry. Bodies, connections and
// request times are bounded so that a sender cannot grow the agent's
// memory or hold its connections without end.
package ingest

import (
	"compress/gzip"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/receive"
	"github.com/loglet/loglet/sidecar/receive/otlp"
	"github.com/loglet/loglet/sidecar/record"
)

// Options configure Serve.
type Options struct {
	// Appender takes what senders push (required): *inbox.Inbox.
	Appender receive.Appender
	// Stats count what was received (nil: not counted).
	Stats *receive.Stats
	// Log gets refused requests (Debug) and failed appends (Warn); nil:
	// nothing is logged.
	Log *slog.Logger
	// MaxBodyBytes is the largest body taken, counted both as sent and
	// after gzip decoding, so that a small gzip bomb is refused too
	// (0: DefaultMaxBodyBytes). Beyond it: 413.
	MaxBodyBytes int64
	// MaxConns is the most connections served at once (0:
	// DefaultMaxConns). Further connections wait, in the listener's
	// backlog, until one closes: a client is slowed down, not refused.
	MaxConns int
	// Token, when set, is the bearer token every request must carry
	// (Authorization: Bearer <token>); without it: 401.
	Token string
	// TLS serves HTTPS with this configuration (nil: plain HTTP). For
	// mTLS set ClientAuth and ClientCAs.
	TLS *tls.Config
	// Timeouts against slow senders (0: the defaults): the request's
	// headers must come within ReadHeaderTimeout, the whole request
	// within ReadTimeout; an idle keep-alive connection is closed after
	// IdleTimeout.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultMaxBodyBytes      = 8 << 20
	DefaultMaxConns          = 64
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = time.Minute
	DefaultIdleTimeout       = time.Minute
)

// Paths served.
const (
	PathOTLP   = "/v1/logs"
	PathIngest = "/ingest"
)

// decodeSlots is how many requests decode and append at once. Appends
// take turns at the inbox (each one synced), so more would not take more
// in a second; they would only hold more decoded requests in memory.
const decodeSlots = 2

type server struct {
	opt Options
	// decoding bounds how many requests decode and append at once: a
	// decoded request takes several times its body, and appends take
	// turns at the inbox anyway, so memory stays near MaxConns bodies.
	decoding chan struct{}
	// handlers counts requests in a handler; Serve returns once none is.
	// closing, set then, turns away any request still coming in (a
	// connection Close cut may race with it).
	mu       sync.Mutex
	closing  bool
	handlers sync.WaitGroup
}

// enter counts a request in, unless the server is closing.
func (s *server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.handlers.Add(1)
	return true
}

// drain waits for the requests in handlers and turns away further ones.
func (s *server) drain() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.handlers.Wait()
}

// Serve serves senders on ln until ctx ends, then shuts down gracefully:
// it stops accepting, lets the requests in flight finish (each bounded by
// ReadTimeout to arrive; their appends are let finish), and returns nil.
// It returns an error if ln fails first.
func Serve(ctx context.Context, ln net.Listener, opt Options) error {
	if opt.Appender == nil {
		return errors.New("ingest: Options.Appender is required")
	}
	if opt.Stats == nil {
		opt.Stats = &receive.Stats{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	opt.MaxBodyBytes = cmpDefault(opt.MaxBodyBytes, DefaultMaxBodyBytes)
	opt.MaxConns = cmpDefault(opt.MaxConns, DefaultMaxConns)
	opt.ReadHeaderTimeout = cmpDefault(opt.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	opt.ReadTimeout = cmpDefault(opt.ReadTimeout, DefaultReadTimeout)
	opt.IdleTimeout = cmpDefault(opt.IdleTimeout, DefaultIdleTimeout)

	s := &server{opt: opt, decoding: make(chan struct{}, decodeSlots)}
	l := receive.LimitListener(ln, opt.MaxConns, opt.Stats)
	if opt.TLS != nil {
		cfg := opt.TLS.Clone()
		// HTTP/1.1 only: one request at a time on a connection, so
		// MaxConns bounds the bodies held too (HTTP/2 would multiplex).
		cfg.NextProtos = []string{"http/1.1"}
		l = tls.NewListener(l, cfg)
	}
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: opt.ReadHeaderTimeout,
		ReadTimeout:       opt.ReadTimeout,
		IdleTimeout:       opt.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(opt.Log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		// The listener failed; the connections it had given are still
		// served until closed.
		srv.Close()
		s.drain()
		return fmt.Errorf("ingest: %w", err)
	case <-ctx.Done():
	}
	// In-flight requests had ReadTimeout to arrive; past that (and a
	// margin for their appends) the connections are closed, but the
	// handlers are still waited for, so no append follows Serve.
	sctx, cancel := context.WithTimeout(context.Background(), opt.ReadTimeout+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-done
	s.drain()
	return nil
}

func cmpDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathOTLP, func(w http.ResponseWriter, r *http.Request) { s.handle(w, r, true) })
	mux.HandleFunc("POST "+PathIngest, func(w http.ResponseWriter, r *http.Request) { s.handle(w, r, false) })
	return mux
}

// failure is a request answered with an error status.
type failure struct {
	code int
	msg  string
}

func fail(code int, format string, args ...any) *failure {
	return &failure{code, fmt.Sprintf(format, args...)}
}

func (s *server) handle(w http.ResponseWriter, r *http.Request, isOTLP bool) {
	if !s.enter() {
		s.answerFailure(w, r, isOTLP, "", fail(http.StatusServiceUnavailable, "ingest: the agent is shutting down: retry later"))
		return
	}
	defer s.handlers.Done()
	mt, n, f := s.take(w, r, isOTLP)
	if f != nil {
		s.answerFailure(w, r, isOTLP, mt, f)
		return
	}
	if isOTLP {
		// An empty ExportLogsServiceResponse in the request's encoding,
		// as OTLP/HTTP asks: no bytes in protobuf, {} in JSON. (Written
		// out rather than marshalled: the collector package links gRPC.)
		b := []byte{}
		if mt == otlp.ContentTypeJSON {
			b = []byte("{}")
		}
		w.Header().Set("Content-Type", mt)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"accepted\":%d}\n", n)
}

// take checks, reads, decodes and appends a request: it returns the
// media type it was sent in and how many records the inbox took, or why
// it failed.
func (s *server) take(w http.ResponseWriter, r *http.Request, isOTLP bool) (string, int, *failure) {
	if s.opt.Token != "" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="loglet"`)
		return "", 0, fail(http.StatusUnauthorized, "a bearer token is required: send Authorization: Bearer <token>")
	}
	var mt string
	var err error
	if isOTLP {
		mt, err = otlp.MediaType(r.Header.Get("Content-Type"))
	} else {
		mt, err = ingestMediaType(r.Header.Get("Content-Type"))
	}
	if err != nil {
		return "", 0, fail(http.StatusUnsupportedMediaType, "%v", err)
	}
	body, f := s.readBody(w, r)
	if f != nil {
		return mt, 0, f
	}
	select {
	case s.decoding <- struct{}{}:
		defer func() { <-s.decoding }()
	case <-r.Context().Done():
		return mt, 0, fail(http.StatusServiceUnavailable, "the server is shutting down or the request was abandoned")
	}
	var batches []otlp.Batch
	if isOTLP {
		batches, err = otlp.Decode(body, mt)
	} else {
		var recs []inbox.Record
		if mt == "text/plain" {
			recs, err = decodeText(body, maxRecords(len(body)))
		} else {
			recs, err = decodeJSON(body, maxRecords(len(body)))
			if err != nil && !errors.Is(err, errTooManyRecords) {
				err = fmt.Errorf("ingest: %w", err)
			}
		}
		batches = []otlp.Batch{{Records: recs}}
	}
	if errors.Is(err, otlp.ErrTooManyRecords) || errors.Is(err, errTooManyRecords) {
		return mt, 0, fail(http.StatusRequestEntityTooLarge, "%v", err)
	}
	if err != nil {
		return mt, 0, fail(http.StatusBadRequest, "%v", err)
	}
	n := 0
	for _, b := range batches {
		if f := s.append(b.Resource, b.Records); f != nil {
			// What earlier batches appended stays: the sender resends
			// all of it, and those records come twice rather than never.
			return mt, n, f
		}
		n += len(b.Records)
	}
	return mt, n, nil
}

func (s *server) append(resource []record.KeyValue, recs []inbox.Record) *failure {
	err := s.opt.Appender.Append(resource, recs)
	switch {
	case err == nil:
		s.opt.Stats.Count(recs)
		return nil
	case errors.Is(err, inbox.ErrFull):
		return fail(http.StatusTooManyRequests, "%v: retry later", err)
	}
	s.opt.Log.Warn("ingest: the inbox did not take a push", "err", err)
	return fail(http.StatusServiceUnavailable, "%v", err)
}

func (s *server) authorized(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.opt.Token)) == 1
}

// ingestMediaType is the media type of an /ingest request: text/plain
// for lines, or one of JSON's (NDJSON and arrays are told apart by the
// body).
func ingestMediaType(contentType string) (string, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil {
		switch mt {
		case "text/plain":
			return mt, nil
		case "application/json", "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
			return "application/json", nil
		}
	}
	if contentType == "" {
		contentType = "none"
	}
	return "", fmt.Errorf("ingest: unsupported content type %q: send application/x-ndjson or application/json (objects, one a line, or an array of them) or text/plain (one record a line)", contentType)
}

// readBody reads the request's body, gzip decoded when it says so, and
// refuses it with 413 beyond MaxBodyBytes either way — before reading any
// of it when Content-Length says so.
func (s *server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *failure) {
	limit := s.opt.MaxBodyBytes
	tooLarge := func() *failure {
		// The rest of the body is not read: the connection goes.
		w.Header().Set("Connection", "close")
		return fail(http.StatusRequestEntityTooLarge, "the body is more than %d bytes (after gzip decoding too): send smaller batches", limit)
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	hint := r.ContentLength
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, readFailure(err, tooLarge)
		}
		defer zr.Close()
		body, hint = zr, hint*4
	default:
		return nil, fail(http.StatusUnsupportedMediaType, "Content-Encoding %q is not supported: send gzip or none", enc)
	}
	b, err := readLimited(body, limit, hint)
	if err != nil {
		return nil, readFailure(err, tooLarge)
	}
	return b, nil
}

var errTooLarge = errors.New("body too large")

func readFailure(err error, tooLarge func() *failure) *failure {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, errTooLarge) {
		return tooLarge()
	}
	if errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fail(http.StatusBadRequest, "the body is not valid gzip (Content-Encoding: gzip): %v", err)
	}
	return fail(http.StatusBadRequest, "reading the body: %v", err)
}

// readLimited reads r to its end, at most limit bytes (errTooLarge
// beyond), into a buffer that starts at hint and never grows past
// limit+1: a body costs what it holds, not twice that.
func readLimited(r io.Reader, limit, hint int64) ([]byte, error) {
	size := min(max(hint, 32<<10), limit+1)
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			if int64(len(b)) > limit {
				return nil, errTooLarge
			}
			nb := make([]byte, len(b), min(2*int64(cap(b)), limit+1))
			copy(nb, b)
			b = nb
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// answerFailure answers f: for OTLP a google.rpc.Status in the request's
// encoding (protobuf when that is not known), as OTLP/HTTP asks; for
// /ingest the message as text. 429 and 503 say when to retry.
func (s *server) answerFailure(w http.ResponseWriter, r *http.Request, isOTLP bool, mt string, f *failure) {
	switch f.code {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		s.opt.Stats.Refused.Add(1)
		w.Header().Set("Retry-After", "1")
	default:
		s.opt.Stats.Rejected.Add(1)
	}
	s.opt.Log.Debug("ingest: request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "status", f.code, "err", f.msg)
	if !isOTLP {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(f.code)
		io.WriteString(w, f.msg+"\n")
		return
	}
	var b []byte
	if mt == otlp.ContentTypeJSON {
		b = statusJSON(grpcCode(f.code), f.msg)
	} else {
		mt = otlp.ContentTypeProtobuf
		b = statusProto(grpcCode(f.code), f.msg)
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(f.code)
	w.Write(b)
}

// grpcCode is the gRPC status code OTLP's Status carries for an HTTP
// status (the HTTP status is what clients act on).
func grpcCode(httpCode int) int32 {
	switch httpCode {
	case http.StatusUnauthorized:
		return 16 // UNAUTHENTICATED
	case http.StatusTooManyRequests:
		return 8 // RESOURCE_EXHAUSTED
	case http.StatusServiceUnavailable:
		return 14 // UNAVAILABLE
	}
	return 3 // INVALID_ARGUMENT
}

// statusProto is google.rpc.Status{code, message} in protobuf, as
// proto.Marshal wrote it from genproto's type (which, with the protobuf
// runtime, the agent no longer links): code field 1 (int32), message
// field 2, each left out when zero. A message that is not UTF-8 (protobuf
// refused it, answering nothing) has U+FFFD for its invalid bytes.
func statusProto(code int32, msg string) []byte {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	var b []byte
	if code != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(code)))
	}
	if msg != "" {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, msg)
	}
	return b
}

// statusJSON is google.rpc.Status in OTLP/JSON, as protojson.Marshal
// wrote it (less the spaces it puts in at random):
// {"code":3,"message":"…"}, each member left out when zero, the string
// escaped as protojson escapes one.
func statusJSON(code int32, msg string) []byte {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	b := []byte{'{'}
	if code != 0 {
		b = append(b, `"code":`...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	if msg != "" {
		if code != 0 {
			b = append(b, ',')
		}
		b = append(b, `"message":"`...)
		for _, r := range msg {
			switch {
			case r == '"' || r == '\\':
				b = append(b, '\\', byte(r))
			case r >= ' ':
				b = utf8.AppendRune(b, r)
			case r == '\b':
				b = append(b, `\b`...)
			case r == '\f':
				b = append(b, `\f`...)
			case r == '\n':
				b = append(b, `\n`...)
			case r == '\r':
				b = append(b, `\r`...)
			case r == '\t':
				b = append(b, `\t`...)
			default:
				b = fmt.Appendf(b, `\u%04x`, r)
			}
		}
		b = append(b, '"')
	}
	return append(b, '}')
}
