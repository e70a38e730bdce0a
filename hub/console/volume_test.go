package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/hub"
	"github.com/loglet/loglet/hub/console"
	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/internal/shiptest"
	"github.com/loglet/loglet/sidecar/record"
)

type volume struct {
	Since        string
	Step         float64
	Counts       [][layout.NumSeverities]int64
	Total        int64
	Partial      bool
	ScannedBytes int64 `json:"scanned_bytes"`
}

func volumeOf(t *testing.T, base, q string) volume {
	t.Helper()
	var v volume
	if code, _ := get(t, base, "/api/v1/volume?"+q, nil, &v); code != http.StatusOK {
		t.Fatalf("volume?%s: status %d", q, code)
	}
	if v.Partial {
		t.Fatalf("volume?%s: partial", q)
	}
	return v
}

// consoleOver serves a console over the hub at sinkURL.
func consoleOver(t *testing.T, sinkURL string) string {
	t.Helper()
	r, err := query.Open(context.Background(), sinkURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	srv, err := console.New(console.Options{Hub: r})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL
}

// volumeQueries are ranges and filters over the fixture's records (one a
// minute for 100 minutes, about ten to a package): buckets a package
// straddles, ranges that cut a package, one bucket for all.
func volumeQueries() []string {
	at := func(m int) string {
		return url.QueryEscape(base.Add(time.Duration(m) * time.Minute).Format(time.RFC3339))
	}
	all := "since-time=" + at(0) + "&until=" + at(99)
	return []string{
		all + "&buckets=10",
		all + "&buckets=1",
		all + "&buckets=100",
		all + "&buckets=7&severity=WARN",
		all + "&buckets=10&severity=ERROR&namespace=shop",
		all + "&buckets=10&namespace=pay",
		"since-time=" + at(33) + "&until=" + at(77) + "&buckets=10",
		"since-time=" + at(-60) + "&until=" + at(5) + "&buckets=3",
		"since=3h",
	}
}

// TestVolumeFromHeaders: the volume counted from the messages' headers is
// the one counted from their records (a grep every record matches makes
// the console read every body), bucket by bucket and severity by
// severity, whether a package lies in one bucket, straddles buckets, or
// straddles the range's bounds.
func TestVolumeFromHeaders(t *testing.T) {
	f := newFixture(t, console.Options{})
	for _, q := range volumeQueries() {
		fast := volumeOf(t, f.console.URL, q)
		slow := volumeOf(t, f.console.URL, q+"&grep=says")
		if fast.Total == 0 || fast.Total != slow.Total || !slices.Equal(fast.Counts, slow.Counts) || fast.Since != slow.Since || fast.Step != slow.Step {
			t.Errorf("volume?%s\nfrom headers: %d records %v\nfrom records: %d records %v", q, fast.Total, fast.Counts, slow.Total, slow.Counts)
		}
	}
}

// day is the day of the records requestHub writes.
var day = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

// requestHub is a hub holding 4000 records of two pods each, 100 ms apart
// from 10:00 of day, shipped in packages of batchBytes.
func requestHub(t *testing.T, batchBytes int) *hub.Hub {
	t.Helper()
	h, err := hub.Start(context.Background(), hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Shutdown)
	dir := t.TempDir()
	for _, name := range []string{"shop_web-1", "pay_api-1"} {
		var b strings.Builder
		for i := range 4000 {
			level := []string{"info", "info", "warn", "error", "debug"}[i%5]
			fmt.Fprintf(&b, `{"ts":%q,"level":%q,"msg":"%s request %d took %dms","user":"u%07d"}`+"\n",
				day.Add(10*time.Hour+time.Duration(i)*100*time.Millisecond).Format(time.RFC3339Nano), level, name, i, i*37%1000, i*7919%10000000)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".log"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shiptest.Pods(t, h.SinkURL(), dir, batchBytes)
	return h
}

// TestVolumeReadsHeadersOnly: counting messages whose records lie in one
// bucket reads their headers, not their bodies: the bytes the count read
// are a few hundred a message, not the packages.
func TestVolumeReadsHeadersOnly(t *testing.T) {
	h := requestHub(t, 64<<10)
	msgs := streamMessages(t, h)
	if msgs < 8 {
		t.Fatalf("%d messages, want packages of 64 KiB", msgs)
	}
	ui := consoleOver(t, h.SinkURL())
	q := "since-time=" + day.Format(time.RFC3339) + "&until=" + day.Add(23*time.Hour).Format(time.RFC3339) + "&buckets=1"
	fast := volumeOf(t, ui, q)
	slow := volumeOf(t, ui, q+"&grep=request")
	if fast.Total != 8000 || !slices.Equal(fast.Counts, slow.Counts) {
		t.Fatalf("from headers %d records %v, from records %d %v; want 8000, the same", fast.Total, fast.Counts, slow.Total, slow.Counts)
	}
	if fast.ScannedBytes > int64(msgs)*512 || slow.ScannedBytes < 20*fast.ScannedBytes {
		t.Errorf("the count read %d bytes for %d messages, reading the records %d: want at most 512 a message, the headers only",
			fast.ScannedBytes, msgs, slow.ScannedBytes)
	}
}

// TestVolumeShortBuckets: with buckets as short as the packages, most
// packages straddle one (the count then reads the bodies from there on,
// rather than fetching each): the count is still the records'.
func TestVolumeShortBuckets(t *testing.T) {
	h := requestHub(t, 2<<10)
	if msgs := streamMessages(t, h); msgs < 300 {
		t.Fatalf("%d messages, want packages of 2 KiB", msgs)
	}
	ui := consoleOver(t, h.SinkURL())
	for _, q := range []string{
		"since-time=" + day.Add(10*time.Hour).Format(time.RFC3339) + "&until=" + day.Add(10*time.Hour+400*time.Second).Format(time.RFC3339) + "&buckets=400",
		"since-time=" + day.Add(10*time.Hour+30*time.Second).Format(time.RFC3339) + "&until=" + day.Add(10*time.Hour+90*time.Second).Format(time.RFC3339) + "&buckets=60&severity=WARN",
	} {
		fast := volumeOf(t, ui, q)
		slow := volumeOf(t, ui, q+"&grep=request")
		if fast.Total == 0 || fast.Total != slow.Total || !slices.Equal(fast.Counts, slow.Counts) {
			t.Errorf("volume?%s\nfrom headers: %d records %v\nfrom records: %d records %v", q, fast.Total, fast.Counts, slow.Total, slow.Counts)
		}
	}
}

// TestVolumeOlderAgents: messages without the headers (written by agents
// older than them) are counted from their records, alone or mixed with
// messages that have them: a hub filled by older agents keeps its chart.
func TestVolumeOlderAgents(t *testing.T) {
	f := newFixture(t, console.Options{})
	for _, tc := range []struct {
		name  string
		strip func(seq uint64) bool
	}{
		{"older agents only", func(uint64) bool { return true }},
		{"older and newer", func(seq uint64) bool { return seq%3 == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, err := hub.Start(context.Background(), hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(old.Shutdown)
			copyMessages(t, f.hub, old, tc.strip)
			ui := consoleOver(t, old.SinkURL())
			for _, q := range volumeQueries() {
				want := volumeOf(t, f.console.URL, q)
				got := volumeOf(t, ui, q)
				if got.Total != want.Total || !slices.Equal(got.Counts, want.Counts) {
					t.Errorf("volume?%s\nolder agents' hub: %d records %v\nwant %d %v", q, got.Total, got.Counts, want.Total, want.Counts)
				}
			}
		})
	}
}

// TestVolumeUpgradedAgents: on a hub whose older messages lack the
// headers (stored before the agents were upgraded), the count reads those
// from their records, then the newer ones from their headers again.
func TestVolumeUpgradedAgents(t *testing.T) {
	src := requestHub(t, 1<<10)
	msgs := streamMessages(t, src)
	if msgs < 800 {
		t.Fatalf("%d messages, want packages of 1 KiB", msgs)
	}
	up, err := hub.Start(context.Background(), hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Shutdown)
	copyMessages(t, src, up, func(seq uint64) bool { return seq <= 100 })
	ui := consoleOver(t, up.SinkURL())
	for _, tc := range []struct {
		q     string
		total int64
	}{
		{"since-time=" + day.Format(time.RFC3339) + "&until=" + day.Add(23*time.Hour).Format(time.RFC3339) + "&buckets=1", 8000},
		{"since-time=" + day.Add(10*time.Hour).Format(time.RFC3339) + "&until=" + day.Add(11*time.Hour).Format(time.RFC3339) + "&buckets=10&severity=ERROR", 1600},
	} {
		q := tc.q
		want := volumeOf(t, consoleOver(t, src.SinkURL()), q)
		got := volumeOf(t, ui, q)
		bodies := volumeOf(t, ui, q+"&grep=request")
		if got.Total != tc.total || got.Total != want.Total || !slices.Equal(got.Counts, want.Counts) {
			t.Errorf("volume?%s\nupgraded agents' hub: %d records %v\nwant %d %v, %d records", q, got.Total, got.Counts, want.Total, want.Counts, tc.total)
		}
		// Read with their bodies to the end, the messages would cost their
		// bodies and the first ones' headers too.
		if got.ScannedBytes >= bodies.ScannedBytes {
			t.Errorf("volume?%s read %d bytes, reading every record %d: want the newer messages counted from their headers", q, got.ScannedBytes, bodies.ScannedBytes)
		}
	}
}

// TestSeverityPlaces: the chart's stacks are in the order of a tally's
// counts, so a tally adds to a bucket as it is.
func TestSeverityPlaces(t *testing.T) {
	for s := record.SeverityNone; s <= record.SeverityFatal; s++ {
		want := s.String()
		if s == record.SeverityNone {
			want = "NONE"
		}
		if got := console.Severities[layout.SeverityPlace(s)]; got != want {
			t.Errorf("severity %q is at place %d, which the chart calls %q", want, layout.SeverityPlace(s), got)
		}
	}
}

// streamMessages is how many messages the hub's stream holds.
func streamMessages(t *testing.T, h *hub.Hub) uint64 {
	t.Helper()
	_, st := stream(t, h)
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func stream(t *testing.T, h *hub.Hub) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	nc, err := nats.Connect(h.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), path.Base(h.SinkURL()))
	if err != nil {
		t.Fatal(err)
	}
	return js, st
}

// copyMessages stores every message of from's stream in to's, without the
// tally headers on those strip selects: as an agent older than them wrote
// them.
func copyMessages(t *testing.T, from, to *hub.Hub, strip func(seq uint64) bool) {
	t.Helper()
	ctx := context.Background()
	_, src := stream(t, from)
	js, _ := stream(t, to)
	info, err := src.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stripped := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := src.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out := nats.NewMsg(m.Subject)
		out.Data = m.Data
		for k, vs := range m.Header {
			out.Header[k] = vs
		}
		if strip(seq) {
			out.Header.Del(layout.HeaderSeverities)
			out.Header.Del(layout.HeaderTimes)
			stripped++
		}
		if _, err := js.PublishMsg(ctx, out); err != nil {
			t.Fatal(err)
		}
	}
	if stripped == 0 {
		t.Fatal("no message without the headers")
	}
}
