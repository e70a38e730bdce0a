// Package console serves the hub console: a page (embedded, no resource
// from elsewhere) and the JSON API behind it, over package query. The
// API's query parameters are loglet logs tail's flags by the same names
// (query.ParseParams), and so are the page's own URL's.
//
//	GET /api/v1/query    records, newest first, a page at a time (format=ndjson: all, as a download)
//	GET /api/v1/volume   records per time bucket, stacked by severity
//	GET /api/v1/context  a record with the records before and after it from its source
//	GET /api/v1/tail     new records as server-sent events
//	GET /api/v1/sources  the namespaces, pods and containers the hub holds
//
// docs/console.md documents them.
package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/loglet/loglet/hub/query"
)

//go:embed web
var web embed.FS

// Options configure the console.
type Options struct {
	// Hub is what the console reads.
	Hub query.Hub
	// Token, when set, is what every request must show: as a bearer token
	// (Authorization: Bearer T, for scripts) or as the password of HTTP
	// basic auth with any user name (which a browser asks for itself).
	Token string
	// PageLimit caps the records of one page of /api/v1/query (1000 when
	// 0); a request asks for fewer with limit.
	PageLimit int
	// MaxScanBytes caps the bytes of packages one request reads (256 MiB
	// when 0; a download reads up to 16 times as much); Timeout how long
	// it reads (10 s when 0; a download 6 times as long). Past either, the
	// answer is partial and says so.
	MaxScanBytes int64
	Timeout      time.Duration
	// MaxReads is how many reading requests (query, volume, download) run
	// at once (4 when 0); more wait for a turn up to Timeout, then get 503.
	// Each holds its read-ahead and a core: the hub's memory and CPU stay
	// bounded however many people look.
	MaxReads int
	// Now is the clock (time.Now when nil): since=15m is 15 minutes before
	// it.
	Now func() time.Time
}

// Server is the console's handler.
type Server struct {
	o     Options
	mux   *http.ServeMux
	reads chan struct{} // a slot per reading request running
}

// New makes the console's handler.
func New(o Options) (*Server, error) {
	if o.Hub == nil {
		return nil, errors.New("console: no hub to read")
	}
	if o.PageLimit <= 0 {
		o.PageLimit = 1000
	}
	if o.MaxScanBytes <= 0 {
		o.MaxScanBytes = 256 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxReads <= 0 {
		o.MaxReads = 4
	}
	s := &Server{o: o, mux: http.NewServeMux(), reads: make(chan struct{}, o.MaxReads)}
	static, err := fs.Sub(web, "web")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	s.mux.Handle("GET /", http.FileServerFS(static))
	s.mux.HandleFunc("GET /api/v1/query", s.turn(s.query))
	s.mux.HandleFunc("GET /api/v1/volume", s.turn(s.volume))
	s.mux.HandleFunc("GET /api/v1/context", s.context)
	s.mux.HandleFunc("GET /api/v1/tail", s.tail)
	s.mux.HandleFunc("GET /api/v1/sources", s.sources)
	return s, nil
}

// turn runs a reading request when one of the MaxReads slots is free,
// waiting at most Timeout for it.
func (s *Server) turn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(s.o.Timeout)
		defer t.Stop()
		select {
		case s.reads <- struct{}{}:
			defer func() { <-s.reads }()
			h(w, r)
		case <-t.C:
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, fmt.Errorf("the console is answering %d queries already: try again in a moment", s.o.MaxReads))
		case <-r.Context().Done():
		}
	}
}

// contentSecurityPolicy lets the page load its own script, style and
// images and talk to its own origin, and nothing else: no inline script,
// no eval, no frame, no form to elsewhere. A record that slipped into
// markup would still run nothing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServeHTTP sets the security headers on every answer, then checks the
// credential, then serves. There is no CORS: no Access-Control-* header is
// ever sent, so other origins cannot read the API from a browser.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if s.o.Token != "" && !s.authorized(r) {
		h.Add("WWW-Authenticate", `Basic realm="loglet console", charset="UTF-8"`)
		h.Add("WWW-Authenticate", `Bearer realm="loglet console"`)
		writeError(w, http.StatusUnauthorized, errors.New("the console needs its token: Authorization: Bearer TOKEN, or basic auth with the token as password"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s: the console only reads (GET)", r.Method))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// authorized compares in constant time, so the answer's timing tells
// nothing of the token.
func (s *Server) authorized(r *http.Request) bool {
	var got string
	if _, pw, ok := r.BasicAuth(); ok {
		got = pw
	} else if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = strings.TrimSpace(t)
	} else {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.o.Token)) == 1
}

// Addr checks the address the console listens on: ":port" is
// 127.0.0.1:port, and an address other than the loopback needs a token
// (anyone who reaches it would read every record otherwise).
func Addr(addr string, haveToken bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("console %q: want host:port or :port, e.g. 127.0.0.1:8080: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if !haveToken && !loopback(host) {
		return "", fmt.Errorf("console %q listens beyond this machine's loopback: give it a token with --console-token-file (a file holding a random token), or listen on 127.0.0.1", addr)
	}
	return net.JoinHostPort(host, port), nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve serves the console on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

// PageWeight is the bytes of the page's embedded files (HTML, script,
// style), what a browser loads uncompressed.
func PageWeight() (int64, error) {
	var n int64
	err := fs.WalkDir(web, "web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
