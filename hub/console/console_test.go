package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/hub"
	"github.com/loglet/loglet/hub/console"
	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/internal/shiptest"
)

// base is the time of the first test record: 100 minutes ago, one record
// a minute after it, so since and until select by the records' time.
var base = time.Now().Add(-100 * time.Minute).Truncate(time.Minute).UTC()

// line is record i of a pod: every fifth an error, every seventh a warning.
func line(pod string, i int) string {
	level := "info"
	switch {
	case i%5 == 4:
		level = "error"
	case i%7 == 6:
		level = "warn"
	}
	return fmt.Sprintf(`{"ts":%q,"level":%q,"msg":"%s says %d","order":%d}`, base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), level, pod, i, i)
}

// fixture is a hub holding 100 records of shop/web-1 and 100 of
// pay/api-1, and a console over it.
type fixture struct {
	hub     *hub.Hub
	reader  query.Hub
	console *httptest.Server
}

func newFixture(t *testing.T, o console.Options) *fixture {
	t.Helper()
	h, err := hub.Start(context.Background(), hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Shutdown)
	dir := t.TempDir()
	for _, name := range []string{"shop_web-1", "pay_api-1"} {
		_, pod, _ := strings.Cut(name, "_")
		var b strings.Builder
		for i := range 100 {
			b.WriteString(line(pod, i) + "\n")
		}
		if err := os.WriteFile(filepath.Join(dir, name+".log"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shiptest.Pods(t, h.SinkURL(), dir, 1500)
	r, err := query.Open(context.Background(), h.SinkURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	o.Hub = r
	srv, err := console.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &fixture{hub: h, reader: r, console: ts}
}

// get asks the console and decodes its JSON answer into v (nil: none).
func get(t *testing.T, base, path string, header http.Header, v any) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %.300q", path, err, body)
		}
	}
	if resp.StatusCode != http.StatusOK && v != nil {
		if e, ok := v.(*apiError); ok {
			json.Unmarshal(body, e)
		}
	}
	return resp.StatusCode, resp.Header
}

type apiError struct{ Error string }

type rec struct {
	Time       string
	Body       string
	Severity   string
	Attributes map[string]any
	Resource   map[string]string
}

type queryAnswer struct {
	Records []rec
	More    bool
	Next    string
	Partial bool
	Reason  string
}

func bodiesOf(recs []rec) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Body)
	}
	return out
}

func says(pod string, is ...int) []string {
	var out []string
	for _, i := range is {
		out = append(out, fmt.Sprintf("%s says %d", pod, i))
	}
	return out
}

// TestQuery: the API's parameters are the CLI's flags, the records come
// newest first, and bad parameters get a 400 naming them.
func TestQuery(t *testing.T) {
	f := newFixture(t, console.Options{})
	sinceTime := url.QueryEscape(base.Add(95 * time.Minute).Format(time.RFC3339))
	for _, tc := range []struct {
		name, query string
		want        []string
		more        bool
	}{
		{"namespace, newest first", "namespace=shop&limit=3", says("web-1", 99, 98, 97), true},
		{"since-time", "namespace=pay&since-time=" + sinceTime, says("api-1", 99, 98, 97, 96, 95), false},
		{"severity", "namespace=shop&severity=ERROR&limit=2", says("web-1", 99, 94), true},
		{"where", "where=k8s.pod.name%3Dapi-1&where=order~%3D%5E1%5B0-2%5D%24&limit=5", says("api-1", 12, 11, 10), false},
		{"grep", "grep=web-1+says+4%24", says("web-1", 4), false},
		{"pod and container", "pod=web-1&container=app&limit=1", says("web-1", 99), true},
		{"until as a duration ago", "namespace=shop&until=" + url.QueryEscape(time.Since(base.Add(2*time.Minute+30*time.Second)).String()), says("web-1", 2, 1, 0), false},
		{"nothing", "namespace=nowhere", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a queryAnswer
			if code, _ := get(t, f.console.URL, "/api/v1/query?"+tc.query, nil, &a); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			if got := bodiesOf(a.Records); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if a.More != tc.more || a.Partial {
				t.Errorf("more %v partial %v, want more %v, not partial", a.More, a.Partial, tc.more)
			}
		})
	}
	for _, tc := range []struct{ name, query, want string }{
		{"unknown parameter", "sevrity=ERROR", `parameter "sevrity"`},
		{"bad since", "since=yesterday", `since "yesterday"`},
		{"bad severity", "severity=LOUD", `severity "LOUD"`},
		{"bad where", "where=nokey", `where "nokey"`},
		{"bad grep", "grep=%28", `grep "("`},
		{"limit too large", "limit=100000", `limit "100000"`},
		{"follow", "follow=true", "/api/v1/tail"},
		{"bad cursor", "cursor=LOGLET:x:1", `cursor "LOGLET:x:1"`},
		{"bad format", "format=xml", `format "xml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			code, _ := get(t, f.console.URL, "/api/v1/query?"+tc.query, nil, &e)
			if code != http.StatusBadRequest || !strings.Contains(e.Error, tc.want) {
				t.Errorf("status %d, error %q; want 400 naming %s", code, e.Error, tc.want)
			}
		})
	}
}

// TestCount counts what the query selects, as loglet logs tail --count.
func TestCount(t *testing.T) {
	f := newFixture(t, console.Options{})
	for _, tc := range []struct {
		query string
		want  int64
	}{
		{"count=true", 200},
		{"count=true&namespace=shop", 100},
		{"count=true&severity=ERROR", 40},
		{"count=true&namespace=pay&severity=WARN", 32},
		{"count=true&grep=says+1%24", 2},
		{"count=true&where=order~%3D%5E9", 22},
		{"count=true&tail=5", 5},
	} {
		var a struct {
			Count   int64
			Partial bool
		}
		if code, _ := get(t, f.console.URL, "/api/v1/query?"+tc.query, nil, &a); code != http.StatusOK || a.Count != tc.want || a.Partial {
			t.Errorf("%s: status %d, count %d (partial %v); want %d", tc.query, code, a.Count, a.Partial, tc.want)
		}
	}
}

// TestLoadMore pages through every record with next, also when pages end
// inside a package, and sees each once, newest stored first: each pod's
// records newest first.
func TestLoadMore(t *testing.T) {
	f := newFixture(t, console.Options{})
	for _, limit := range []int{7, 1, 50} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			seen := map[string]int{}
			q := fmt.Sprintf("/api/v1/query?limit=%d", limit)
			last := map[string]time.Time{}
			for pages := 0; ; pages++ {
				if pages > 400 {
					t.Fatal("more than 400 pages for 200 records")
				}
				var a queryAnswer
				if code, _ := get(t, f.console.URL, q, nil, &a); code != http.StatusOK {
					t.Fatalf("status %d", code)
				}
				for _, r := range a.Records {
					seen[r.Body]++
					tm, _ := time.Parse(time.RFC3339Nano, r.Time)
					pod := r.Resource["k8s.pod.name"]
					if l, ok := last[pod]; ok && tm.After(l) {
						t.Fatalf("%s (%s) after an older record of its pod: not newest first", r.Body, r.Time)
					}
					last[pod] = tm
				}
				if !a.More {
					break
				}
				q = fmt.Sprintf("/api/v1/query?limit=%d&cursor=%s", limit, url.QueryEscape(a.Next))
			}
			if len(seen) != 200 {
				t.Errorf("saw %d distinct records, want 200", len(seen))
			}
			for b, n := range seen {
				if n != 1 {
					t.Errorf("%s seen %d times", b, n)
				}
			}
		})
	}
}

// TestVolume counts records per bucket, stacked by severity.
func TestVolume(t *testing.T) {
	f := newFixture(t, console.Options{})
	var v struct {
		Since      string
		Step       float64
		Severities []string
		Counts     [][]int64
		Total      int64
		Partial    bool
	}
	since := url.QueryEscape(base.Format(time.RFC3339))
	until := url.QueryEscape(base.Add(99 * time.Minute).Format(time.RFC3339))
	if code, _ := get(t, f.console.URL, "/api/v1/volume?namespace=shop&since-time="+since+"&until="+until+"&buckets=10", nil, &v); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if v.Total != 100 || v.Partial {
		t.Fatalf("total %d partial %v, want 100 records, whole", v.Total, v.Partial)
	}
	if v.Step != 600 || len(v.Counts) < 10 {
		t.Fatalf("step %vs, %d buckets; want 10 buckets of 600 s", v.Step, len(v.Counts))
	}
	sum := map[string]int64{}
	for _, c := range v.Counts {
		for j, n := range c {
			sum[v.Severities[j]] += n
		}
	}
	// Of 0..99: i%5==4 is an error (20), else i%7==6 a warning (12).
	if sum["ERROR"] != 20 || sum["WARN"] != 12 || sum["INFO"] != 68 {
		t.Errorf("by severity %v, want ERROR 20, WARN 12, INFO 68", sum)
	}
	var e apiError
	if code, _ := get(t, f.console.URL, "/api/v1/volume?tail=5", nil, &e); code != http.StatusBadRequest {
		t.Errorf("volume with tail: status %d, want 400", code)
	}
}

// TestContext returns the records around one from its source, in order,
// with the index of the one asked for.
func TestContext(t *testing.T) {
	f := newFixture(t, console.Options{})
	var a queryAnswer
	get(t, f.console.URL, "/api/v1/query?grep=web-1+says+50%24", nil, &a)
	if len(a.Records) != 1 {
		t.Fatalf("found %q", bodiesOf(a.Records))
	}
	at := a.Records[0].Attributes
	q := fmt.Sprintf("source=%v&package=%v&offset=%v", at["loglet.source_id"], at["loglet.package_id"], at["loglet.offset"])
	var c struct {
		Records []rec
		At      int
	}
	if code, _ := get(t, f.console.URL, "/api/v1/context?"+q+"&before=12&after=15", nil, &c); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	want := says("web-1", 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65)
	if got := bodiesOf(c.Records); strings.Join(got, "|") != strings.Join(want, "|") || c.At != 12 {
		t.Errorf("got %q at %d, want %q at 12", got, c.At, want)
	}
	for _, tc := range []struct{ query, want string }{
		{"package=1&offset=0", "source"},
		{"source=x&offset=0", "package"},
		{"source=x&package=1", "offset"},
		{"source=x&package=1&offset=0&grep=y", `parameter "grep"`},
	} {
		var e apiError
		if code, _ := get(t, f.console.URL, "/api/v1/context?"+tc.query, nil, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: status %d %q, want 400 naming %s", tc.query, code, e.Error, tc.want)
		}
	}
	var e apiError
	if code, _ := get(t, f.console.URL, "/api/v1/context?source=nosuch&package=0&offset=0", nil, &e); code != http.StatusNotFound {
		t.Errorf("an unknown source: status %d %q, want 404", code, e.Error)
	}
}

// TestSources lists what the hub holds, from its subjects.
func TestSources(t *testing.T) {
	f := newFixture(t, console.Options{})
	var s struct{ Sources []query.Source }
	if code, _ := get(t, f.console.URL, "/api/v1/sources", nil, &s); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	var got []string
	for _, src := range s.Sources {
		got = append(got, src.Namespace+"/"+src.Pod+"/"+src.Container)
	}
	if strings.Join(got, " ") != "pay/api-1/app shop/web-1/app" {
		t.Errorf("sources %q, want pay/api-1/app and shop/web-1/app", got)
	}
}

// TestPartial: a query past its budget answers with what it found and
// says it is partial, instead of reading on.
func TestPartial(t *testing.T) {
	f := newFixture(t, console.Options{MaxScanBytes: 1})
	for _, path := range []string{"/api/v1/query?limit=1000", "/api/v1/volume?since=3h"} {
		var a struct {
			Partial bool
			Reason  string
		}
		if code, _ := get(t, f.console.URL, path, nil, &a); code != http.StatusOK {
			t.Fatalf("%s: status %d", path, code)
		}
		if !a.Partial || !strings.Contains(a.Reason, "narrow") {
			t.Errorf("%s: partial %v reason %q, want partial with a reason", path, a.Partial, a.Reason)
		}
	}
}

// TestDownload streams every record the query selects as NDJSON.
func TestDownload(t *testing.T) {
	f := newFixture(t, console.Options{})
	resp, err := http.Get(f.console.URL + "/api/v1/query?namespace=pay&severity=ERROR&format=ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("Content-Type %q, Content-Disposition %q", ct, resp.Header.Get("Content-Disposition"))
	}
	var got []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, r.Body)
	}
	if len(got) != 20 || got[0] != "api-1 says 4" || got[19] != "api-1 says 99" {
		t.Errorf("downloaded %d records %q…, want the 20 errors oldest first", len(got), got[:min(3, len(got))])
	}
	if p := resp.Trailer.Get("Loglet-Partial"); p != "false" {
		t.Errorf("trailer Loglet-Partial %q, want false", p)
	}
}

// TestTail streams a record stored after the tail started, and none from
// before.
func TestTail(t *testing.T) {
	f := newFixture(t, console.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.console.URL+"/api/v1/tail?namespace=late", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || sc.Text() != ": tailing" {
		t.Fatalf("first line %q, want the ': tailing' comment", sc.Text())
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "late_pod-1.log"), []byte(line("pod-1", 1)+"\n"+line("pod-1", 2)+"\n"), 0o644)
	shiptest.Pods(t, f.hub.SinkURL(), dir, 1500)
	var got []string
	for len(got) < 2 && sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var r rec
			if err := json.Unmarshal([]byte(d), &r); err != nil {
				t.Fatal(err)
			}
			got = append(got, r.Body)
		}
	}
	if strings.Join(got, "|") != "pod-1 says 1|pod-1 says 2" {
		t.Errorf("tailed %q", got)
	}
}

// TestAuth: with a token, every path answers 401 without it, and works
// with it as a bearer token or basic auth's password.
func TestAuth(t *testing.T) {
	const token = "s3cret-token-0123456789"
	f := newFixture(t, console.Options{Token: token})
	basic := func(user, pw string) http.Header {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(user, pw)
		return r.Header
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"none", nil, http.StatusUnauthorized},
		{"wrong bearer", http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
		{"token without Bearer", http.Header{"Authorization": {token}}, http.StatusUnauthorized},
		{"basic, wrong password", basic("x", "nope"), http.StatusUnauthorized},
		{"bearer", http.Header{"Authorization": {"Bearer " + token}}, http.StatusOK},
		{"basic", basic("anyone", token), http.StatusOK},
	} {
		for _, path := range []string{"/", "/app.js", "/api/v1/query?limit=1", "/api/v1/volume", "/api/v1/sources", "/api/v1/context?source=x&package=0&offset=0"} {
			t.Run(tc.name+path, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, f.console.URL+path, nil)
				for k, v := range tc.header {
					req.Header[k] = v
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := tc.want
				if want == http.StatusOK && strings.HasPrefix(path, "/api/v1/context") {
					want = http.StatusNotFound // authorised, no such record
				}
				if resp.StatusCode != want {
					t.Fatalf("status %d, want %d", resp.StatusCode, want)
				}
				if want == http.StatusUnauthorized {
					if strings.Contains(string(body), "says") || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Basic") {
						t.Errorf("401 body %q, WWW-Authenticate %q", body, resp.Header.Values("WWW-Authenticate"))
					}
				}
			})
		}
	}
}

// TestSecurityHeaders: every answer, a 401 and an error included, has the
// CSP and nosniff; none has a CORS header, whatever Origin asks.
func TestSecurityHeaders(t *testing.T) {
	const token = "s3cret-token-0123456789"
	f := newFixture(t, console.Options{Token: token})
	auth := http.Header{"Authorization": {"Bearer " + token}, "Origin": {"https://evil.example"}}
	for _, tc := range []struct {
		name, method, path string
		header             http.Header
		status             int
		ctype              string
	}{
		{"page", "GET", "/", auth, 200, "text/html"},
		{"script", "GET", "/app.js", auth, 200, "text/javascript"},
		{"style", "GET", "/style.css", auth, 200, "text/css"},
		{"api", "GET", "/api/v1/query?limit=1", auth, 200, "application/json"},
		{"api error", "GET", "/api/v1/query?since=x", auth, 400, "application/json"},
		{"401", "GET", "/", http.Header{"Origin": {"https://evil.example"}}, 401, "application/json"},
		{"preflight", "OPTIONS", "/api/v1/query", auth, 405, "application/json"},
		{"post", "POST", "/api/v1/query", auth, 405, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, f.console.URL+tc.path, nil)
			req.Header = tc.header
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != tc.status || !strings.HasPrefix(h.Get("Content-Type"), tc.ctype) {
				t.Errorf("status %d %q, want %d %s", resp.StatusCode, h.Get("Content-Type"), tc.status, tc.ctype)
			}
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %s", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP %q allows inline script or eval", csp)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", h.Get("X-Content-Type-Options"))
			}
			for k := range h {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("CORS header %s: %q", k, h.Get(k))
				}
			}
		})
	}
}

// TestAddr: :port is the loopback; beyond it a token is required.
func TestAddr(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		token bool
		want  string
		err   string
	}{
		{":8080", false, "127.0.0.1:8080", ""},
		{"127.0.0.1:0", false, "127.0.0.1:0", ""},
		{"localhost:9000", false, "localhost:9000", ""},
		{"[::1]:9000", false, "[::1]:9000", ""},
		{"0.0.0.0:8080", false, "", "--console-token-file"},
		{"[::]:8080", false, "", "--console-token-file"},
		{"10.1.2.3:8080", false, "", "--console-token-file"},
		{"0.0.0.0:8080", true, "0.0.0.0:8080", ""},
		{"8080", false, "", "want host:port"},
	} {
		got, err := console.Addr(tc.addr, tc.token)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Addr(%q, %v) = %q, %v; want an error naming %s", tc.addr, tc.token, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Addr(%q, %v) = %q, %v; want %q", tc.addr, tc.token, got, err, tc.want)
		}
	}
}

// TestPageWeight: the page stays small (the goal: under 200 KB).
func TestPageWeight(t *testing.T) {
	n, err := console.PageWeight()
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 || n > 200<<10 {
		t.Errorf("page weight %d bytes, want 1 to 200 KiB", n)
	}
}

// blockingHub is a hub whose Tail waits until released (or its request
// ends), telling started when it begins.
type blockingHub struct {
	started chan struct{}
	release chan struct{}
}

func (h *blockingHub) Tail(ctx context.Context, _ query.Filter, _ query.Options, _ func(query.Record) error) error {
	h.started <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return nil
}

func (h *blockingHub) Context(context.Context, string, uint64, int, int, int) ([]query.Record, int, error) {
	return nil, 0, errors.New("no context here")
}

func (h *blockingHub) Close() {}

// TestMaxReads: past MaxReads reading requests at once, another waits
// for its turn, and gets 503 if none comes within the timeout; once one
// ends, the next runs.
func TestMaxReads(t *testing.T) {
	h := &blockingHub{started: make(chan struct{}, 10), release: make(chan struct{})}
	srv, err := console.New(console.Options{Hub: h, MaxReads: 1, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	first := make(chan int, 1)
	go func() {
		resp, err := http.Get(ts.URL + "/api/v1/query")
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-h.started // the first holds the only slot
	var e apiError
	if code, hdr := get(t, ts.URL, "/api/v1/volume", nil, &e); code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(e.Error, "try again") {
		t.Errorf("a second read: status %d %q, Retry-After %q; want 503", code, e.Error, hdr.Get("Retry-After"))
	}
	if code, _ := get(t, ts.URL, "/api/v1/sources", nil, nil); code != http.StatusOK {
		t.Errorf("sources (no slot needed): status %d", code)
	}
	close(h.release)
	if code := <-first; code != http.StatusOK {
		t.Errorf("the first read: status %d", code)
	}
	if code, _ := get(t, ts.URL, "/api/v1/query", nil, nil); code != http.StatusOK {
		t.Errorf("a read after the first ended: status %d", code)
	}
}
