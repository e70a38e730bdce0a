package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/loglet/loglet/hub/console"
	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/procstat"
	"github.com/loglet/loglet/internal/shiptest"
)

// startConsoleHub runs `loglet hub --console` and returns the sink URL and
// the console's base URL.
func startConsoleHub(b *testing.B, bin string) (sinkURL, base string, pid int) {
	addr := freeport.Addr(b)
	sinkURL, pid = startHub(b, bin, "--console", addr)
	return sinkURL, "http://" + addr, pid
}

// apiGet times one request and decodes its JSON answer.
func apiGet(b *testing.B, u string, v any) time.Duration {
	t0 := time.Now()
	resp, err := http.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %v %.300s", u, resp.StatusCode, err, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

// timings repeats a request n times: median and p99 (the nearest rank).
func timings(b *testing.B, n int, u string, check func(body []byte) error) (median, p99 time.Duration) {
	var ds []time.Duration
	for range n {
		var raw json.RawMessage
		ds = append(ds, apiGet(b, u, &raw))
		if err := check(raw); err != nil {
			b.Fatalf("GET %s: %v", u, err)
		}
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[min(len(ds)-1, (len(ds)*99+99)/100-1)]
}

// BenchmarkConsole measures the console's API on a hub of 10 M records
// (BenchmarkHubQuery's, QUERY_RECORDS sets another count): the first page
// of --since 15m (target < 1 s), the volume chart of 24 h (target < 1 s),
// a record's context, and what the page weighs.
func BenchmarkConsole(b *testing.B) {
	weight, err := console.PageWeight()
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("%-22s %d bytes (HTML, script, style; uncompressed; goal < 200 KB)\n", "console: page weight", weight)

	dir := benchDir(b)
	full := buildFull(b, b.TempDir())
	n := queryRecords()
	input := filepath.Join(dir, fmt.Sprintf("query-%d", n))
	writeQueryInput(b, input, n, "old")
	sinkURL, base, pid := startConsoleHub(b, full)
	t0 := time.Now()
	shiptest.Ship(b, sinkURL, input, 1<<20, nil)
	recent := b.TempDir()
	writeQueryInput(b, recent, 100*len(queryPods()), "new")
	shiptest.Ship(b, sinkURL, recent, 1<<20, nil)
	total := n + 100*len(queryPods())
	fmt.Printf("%-22s %d records stored in %.1fs (hub peak RSS %.0f MiB)\n", "console: fill", total, time.Since(t0).Seconds(), mib(hubPeak(b, pid)))

	page := func(want int) func([]byte) error {
		return func(body []byte) error {
			var a struct {
				Records []json.RawMessage
				Partial bool
			}
			if err := json.Unmarshal(body, &a); err != nil {
				return err
			}
			if len(a.Records) != want || a.Partial {
				return fmt.Errorf("%d records (partial %v), want %d", len(a.Records), a.Partial, want)
			}
			return nil
		}
	}
	row := func(name, target, what string, median, p99 time.Duration) {
		fmt.Printf("%-22s %s: median %d ms, p99 %d ms; target %s\n", name, what, median.Milliseconds(), p99.Milliseconds(), target)
	}
	for range b.N {
		q := base + "/api/v1/query?since=15m&limit=100"
		m, p := timings(b, 50, q, page(100))
		row("console: first page", "< 1s", "GET /api/v1/query?since=15m&limit=100 (50 requests)", m, p)
		m, p = timings(b, 10, base+"/api/v1/query?since=15m&namespace=shop&severity=INFO&limit=100", page(0))
		row("console: page, none", "(none)", "since=15m&namespace=shop&severity=INFO, which no record has (10 requests)", m, p)

		var first struct{ Records []map[string]any }
		apiGet(b, q, &first)
		at := first.Records[50]["attributes"].(map[string]any)
		cq := url.Values{"source": {fmt.Sprint(at["loglet.source_id"])}, "package": {fmt.Sprint(at["loglet.package_id"])}, "offset": {fmt.Sprint(at["loglet.offset"])}}
		m, p = timings(b, 50, base+"/api/v1/context?"+cq.Encode(), func(body []byte) error {
			var c struct{ Records []json.RawMessage }
			if err := json.Unmarshal(body, &c); err != nil || len(c.Records) == 0 {
				return fmt.Errorf("context: %v, %d records", err, len(c.Records))
			}
			return nil
		})
		row("console: context", "(none)", "GET /api/v1/context, 20 before and after (50 requests)", m, p)

		for _, vq := range []string{"since=24h", "since=24h&namespace=shop"} {
			var ds []time.Duration
			var v struct {
				Total        int64
				Partial      bool
				ScannedBytes int64 `json:"scanned_bytes"`
			}
			for range 5 {
				ds = append(ds, apiGet(b, base+"/api/v1/volume?"+vq, &v))
			}
			slices.Sort(ds)
			fmt.Printf("%-22s GET /api/v1/volume?%s (5 requests): median %d ms (%d, %d ms), %d of %d records counted, %d KiB read, partial %v; target < 1s\n",
				"console: volume 24h", vq, ds[2].Milliseconds(), ds[0].Milliseconds(), ds[4].Milliseconds(), v.Total, total, v.ScannedBytes>>10, v.Partial)
		}
		fmt.Printf("%-22s %.0f MiB (the hub with its console, after the requests above)\n", "console: hub peak RSS", mib(hubPeak(b, pid)))
	}
}

// hubPeak is the hub's peak resident memory (VmHWM).
func hubPeak(b *testing.B, pid int) int64 {
	m, err := procstat.Read(pid)
	if err != nil {
		b.Fatal(err)
	}
	return m.Peak
}
