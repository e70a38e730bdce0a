package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
)

// ndjsonHub is a real HTTP server standing in for an NDJSON log hub.
type ndjsonHub struct {
	mu       sync.Mutex
	bodies   map[string]int
	requests int
	respond  func(n int, records []sinkRecord) (int, string)
}

func newHub(t *testing.T, respond func(n int, records []sinkRecord) (int, string)) (*ndjsonHub, *httptest.Server) {
	h := &ndjsonHub{bodies: map[string]int{}, respond: respond}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *ndjsonHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, "want gzip NDJSON", http.StatusUnsupportedMediaType)
		return
	}
	raw, ok := gunzipBody(w, r)
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	recs, _, _ := sinktest.Parse(bytes.NewReader(raw))
	code, msg := h.respond(h.requests, recs)
	if code/100 == 2 {
		for _, rec := range recs {
			h.bodies[rec.Body]++
		}
	}
	w.WriteHeader(code)
	fmt.Fprint(w, msg)
}

// newHangingHub accepts requests and answers none until release closes.
func newHangingHub(t *testing.T, release <-chan struct{}) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (h *ndjsonHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

func writeLines(t *testing.T, path string, n int, line func(i int) string) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		b.WriteString(line(i))
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPSinkRetriesUntilTheHubRecovers: a hub answering 503 loses nothing;
// the agent retries with backoff and shows it in /metrics.
func TestHTTPSinkRetriesUntilTheHubRecovers(t *testing.T) {
	h, srv := newHub(t, func(n int, _ []sinkRecord) (int, string) {
		if n <= 4 {
			return http.StatusServiceUnavailable, "hub is starting"
		}
		return http.StatusOK, ""
	})
	dir := t.TempDir()
	writeLines(t, filepath.Join(dir, "app.log"), 5000, func(i int) string { return fmt.Sprintf("line %d", i) })
	a := startAgent(t, "--path", dir+"/*.log", "--state-dir", filepath.Join(dir, "state"), "--sink", srv.URL+"/ingest",
		"--batch-bytes", "8KiB", "--batch-wait", "50ms", "--metrics-addr", "127.0.0.1:0")
	addr := a.metricsAddr(t)
	poll.Until(t, 30*time.Second, "every line at the hub", func() bool { return h.count() == 5000 })
	retried, _ := metric(t, addr, "loglet_packages_retried_total")
	errs, _ := metric(t, addr, "loglet_send_errors_total")
	if retried < 1 || errs != 4 {
		t.Errorf("metrics: loglet_packages_retried_total %v, loglet_send_errors_total %v; want retries and 4 errors", retried, errs)
	}
	poll.Until(t, 10*time.Second, "every record counted as sent", func() bool {
		sent, _ := metric(t, addr, "loglet_records_sent_total")
		return sent == 5000
	})
	if !strings.Contains(a.stderr.String(), "503 Service Unavailable: hub is starting") {
		t.Errorf("the log does not say why the hub failed")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", path, resp.Status, err)
		}
		resp.Body.Close()
	}
	if n, _ := metric(t, addr, "loglet_open_files"); n != 1 {
		t.Errorf("loglet_open_files = %v, want 1", n)
	}
	if age, ok := metric(t, addr, "loglet_checkpoint_age_seconds"); !ok || age > 30 {
		t.Errorf("loglet_checkpoint_age_seconds = %v (present %v)", age, ok)
	}
}

// TestHTTPSinkKeepsRejectedPackages: a 400 is not retried forever: the
// package goes to <state-dir>/rejected with the hub's reason, and the lines
// after it still arrive.
func TestHTTPSinkKeepsRejectedPackages(t *testing.T) {
	h, srv := newHub(t, func(_ int, recs []sinkRecord) (int, string) {
		for _, r := range recs {
			if strings.Contains(r.Body, "POISON") {
				return http.StatusBadRequest, "field user_id: want a number"
			}
		}
		return http.StatusOK, ""
	})
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	writeLines(t, filepath.Join(dir, "app.log"), 3000, func(i int) string {
		if i == 1500 {
			return "POISON user_id=abc"
		}
		return fmt.Sprintf("line %d", i)
	})
	a := startAgent(t, "--path", dir+"/*.log", "--state-dir", state, "--sink", srv.URL, "--batch-bytes", "4KiB",
		"--metrics-addr", "127.0.0.1:0")
	addr := a.metricsAddr(t)
	poll.Until(t, 30*time.Second, "a rejected package on disk", func() bool {
		m, _ := filepath.Glob(filepath.Join(state, "rejected", "*.reason"))
		return len(m) == 1
	})
	reasons, _ := filepath.Glob(filepath.Join(state, "rejected", "*.reason"))
	reason, _ := os.ReadFile(reasons[0])
	if !strings.Contains(string(reason), "400 Bad Request: field user_id: want a number") {
		t.Errorf("reason file says %q", reason)
	}
	kept := readSinkFile(t, strings.TrimSuffix(reasons[0], ".reason")+".ndjson")
	found := false
	for _, r := range kept {
		found = found || r.Body == "POISON user_id=abc"
	}
	if !found {
		t.Errorf("the rejected package on disk does not hold the refused line")
	}
	// Everything not in the rejected package arrived.
	poll.Until(t, 30*time.Second, "the other lines at the hub", func() bool { return h.count()+len(kept) == 3000 })
	if n, _ := metric(t, addr, "loglet_packages_rejected_total"); n != 1 {
		t.Errorf("loglet_packages_rejected_total = %v, want 1", n)
	}
}

// gunzipBody reads a gzip request body, answering 400 when it is not one.
func gunzipBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	zr, err := gzip.NewReader(r.Body)
	if err == nil {
		var raw []byte
		if raw, err = io.ReadAll(zr); err == nil {
			return raw, true
		}
	}
	http.Error(w, err.Error(), http.StatusBadRequest)
	return nil, false
}
