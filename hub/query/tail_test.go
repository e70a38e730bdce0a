package query_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/loglet/loglet/hub"
	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/internal/shiptest"
	"github.com/loglet/loglet/sidecar/sink"
)

// base is the event time of the test's records: an hour ago, so
// --since and --until select by the records' own time.
var base = time.Now().Add(-time.Hour).Truncate(time.Second).UTC()

// podLine is one JSON line of a pod's app: i minutes after base, every
// fifth an error, every seventh without a level.
func podLine(pod string, i int) string {
	level := `"level":"info",`
	switch {
	case i%7 == 6:
		level = ""
	case i%5 == 4:
		level = `"level":"error",`
	}
	return fmt.Sprintf(`{"ts":%q,%s"msg":"%s says %d","order":%d}`, base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), level, pod, i, i)
}

// startHub starts an embedded hub for the test.
func startHub(t *testing.T) *hub.Hub {
	t.Helper()
	h, err := hub.Start(context.Background(), hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Shutdown)
	return h
}

// openHub opens a hub to read for the test.
func openHub(t *testing.T, url string) query.Hub {
	t.Helper()
	r, err := query.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// follow runs a following Tail in the background: next returns the body
// of the next record it hands on, stop ends it and checks it ended well.
func follow(t *testing.T, r query.Hub, f query.Filter, o query.Options) (next func() string, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 100)
	done := make(chan error, 1)
	o.Follow = true
	go func() {
		done <- r.Tail(ctx, f, o, func(rec query.Record) error { got <- rec.Body; return nil })
	}()
	next = func() string {
		t.Helper()
		select {
		case b := <-got:
			return b
		case <-time.After(20 * time.Second):
			t.Fatal("no record within 20s")
			return ""
		}
	}
	stop = func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	return next, stop
}

// writePods writes 60 lines for each of shop/web.1 (a pod name with a
// dot), shop/web-2 and pay/api-1, and 10 host lines.
func writePods(t *testing.T, dir string) {
	for _, name := range []string{"shop_web.1", "shop_web-2", "pay_api-1"} {
		_, pod, _ := strings.Cut(name, "_")
		var b strings.Builder
		for i := range 60 {
			b.WriteString(podLine(pod, i) + "\n")
		}
		if err := os.WriteFile(filepath.Join(dir, name+".log"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	for i := range 10 {
		fmt.Fprintf(&b, "{\"msg\":\"host line %d\"}\n", i)
	}
	os.WriteFile(filepath.Join(dir, "host.log"), []byte(b.String()), 0o644)
}

// bodies runs a query and returns the bodies it selects, in order, and
// what it skipped.
func bodies(t *testing.T, h query.Hub, f query.Filter, o query.Options) (out, skipped []string) {
	t.Helper()
	o.Skipped = func(s query.Skipped) { skipped = append(skipped, s.String()) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Tail(ctx, f, o, func(r query.Record) error { out = append(out, r.Body); return nil }); err != nil {
		t.Fatal(err)
	}
	return out, skipped
}

// says lists "<pod> says i" for i in is.
func says(pod string, is ...int) []string {
	var out []string
	for _, i := range is {
		out = append(out, fmt.Sprintf("%s says %d", pod, i))
	}
	return out
}

func count(t *testing.T, h query.Hub, f query.Filter) int {
	got, _ := bodies(t, h, f, query.Options{})
	return len(got)
}

func where(t *testing.T, s ...string) []query.Cond {
	var out []query.Cond
	for _, w := range s {
		c, err := query.ParseCond(w)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// checkFilters runs every filter of loglet logs against a hub holding
// writePods' records.
func checkFilters(t *testing.T, h query.Hub) {
	// Errors: i%5==4 and not i%7==6 (i = 34 has no level): 11 per pod.
	for _, tc := range []struct {
		name string
		f    query.Filter
		want int
	}{
		{"all", query.Filter{}, 190},
		{"namespace", query.Filter{Namespace: "shop"}, 120},
		{"pod with a dot", query.Filter{Pod: "web.1"}, 60},
		{"namespace and pod", query.Filter{Namespace: "pay", Pod: "api-1"}, 60},
		{"container", query.Filter{Container: "app"}, 180},
		{"no such namespace", query.Filter{Namespace: "nope"}, 0},
		{"severity ERROR", query.Filter{MinSeverity: query.SeverityError}, 33},
		{"severity INFO and above (no level: dropped)", query.Filter{MinSeverity: query.SeverityInfo}, 3 * (60 - 8)},
		{"where label regex", query.Filter{Where: where(t, `k8s.pod.name~=^web[.-]`)}, 120},
		{"where attribute number", query.Filter{Where: where(t, "order=7")}, 3},
		{"where not", query.Filter{Namespace: "shop", Where: where(t, "k8s.pod.name!=web-2")}, 60},
		{"grep body", query.Filter{Grep: regexp.MustCompile(`api-1 says 1\d$`)}, 10},
		{"grep a level the parser made the severity", query.Filter{Namespace: "pay", Grep: regexp.MustCompile(`ERROR|error`)}, 11},
		{"grep an attribute value", query.Filter{Grep: regexp.MustCompile(`^42$`)}, 3},
		{"grep a literal nowhere", query.Filter{Grep: regexp.MustCompile(`order 4711`)}, 0},
		{"since", query.Filter{Namespace: "pay", Since: base.Add(50 * time.Minute)}, 10},
		{"since and until", query.Filter{Namespace: "pay", Since: base.Add(10 * time.Minute), Until: base.Add(19 * time.Minute)}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := count(t, h, tc.f); got != tc.want {
				t.Errorf("%d records, want %d", got, tc.want)
			}
		})
	}
	t.Run("last", func(t *testing.T) {
		got, _ := bodies(t, h, query.Filter{Pod: "api-1"}, query.Options{Last: 3})
		if want := says("api-1", 57, 58, 59); !slices.Equal(got, want) {
			t.Errorf("--tail 3 -pod api-1: %q, want %q", got, want)
		}
		got, _ = bodies(t, h, query.Filter{Pod: "api-1", MinSeverity: query.SeverityError}, query.Options{Last: 2})
		if want := says("api-1", 54, 59); !slices.Equal(got, want) {
			t.Errorf("--tail 2 --severity ERROR: %q, want %q", got, want)
		}
		got, _ = bodies(t, h, query.Filter{Pod: "api-1", Until: base.Add(20 * time.Minute)}, query.Options{Last: 2})
		if want := says("api-1", 19, 20); !slices.Equal(got, want) {
			t.Errorf("--tail 2 --until: %q, want %q", got, want)
		}
		if got := count(t, h, query.Filter{}); got != 190 {
			t.Fatal(got)
		}
		all, _ := bodies(t, h, query.Filter{}, query.Options{Last: 1000})
		if len(all) != 190 {
			t.Errorf("--tail 1000 of 190 records: %d", len(all))
		}
	})
}

func TestTailFiltersOnNATS(t *testing.T) {
	h := startHub(t)
	dir := t.TempDir()
	writePods(t, dir)
	shiptest.Pods(t, h.SinkURL(), dir, 2000)
	r := openHub(t, h.SinkURL())
	checkFilters(t, r)

	// The server filters by subject: a namespace, pod and container are
	// tokens of each subject.
	nc, _ := nats.Connect(h.ServerURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), layout.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter("loglet.default.shop.web_1.app.*"))
	if err != nil || len(info.State.Subjects) != 1 {
		t.Fatalf("subjects of shop/web.1: %v, %v; want one, loglet.default.shop.web_1.app.<source>", info.State.Subjects, err)
	}
	if info, _ := st.Info(context.Background(), jetstream.WithSubjectFilter("loglet.default._._._.*")); len(info.State.Subjects) != 1 {
		t.Errorf("the host file's subject: %v, want loglet.default._._._.<source>", info.State.Subjects)
	}
}

// TestTailFollowsAfterLast: --tail 2 -f prints the last two, then new
// records as they are stored.
func TestTailFollowsAfterLast(t *testing.T) {
	h := startHub(t)
	dir := t.TempDir()
	writePods(t, dir)
	shiptest.Pods(t, h.SinkURL(), dir, 2000)
	r := openHub(t, h.SinkURL())
	next, stop := follow(t, r, query.Filter{Pod: "web-2"}, query.Options{Last: 2})
	if a, b := next(), next(); a != "web-2 says 58" || b != "web-2 says 59" {
		t.Fatalf("last two: %q, %q", a, b)
	}
	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, "shop_web-2.log"), []byte(podLine("web-2", 60)+"\n"+podLine("other", 61)+"\n"), 0o644)
	shiptest.Pods(t, h.SinkURL(), dir2, 2000)
	if b := next(); b != "web-2 says 60" {
		t.Fatalf("followed: %q, want web-2 says 60", b)
	}
	stop()
}

// TestUndecodableMessagesAreSkipped: messages another producer put on
// the stream's subjects, and a damaged package, are reported with their
// subject and sequence and skipped; every record around them is read.
func TestUndecodableMessagesAreSkipped(t *testing.T) {
	h := startHub(t)
	dir := t.TempDir()
	writePods(t, dir)
	shiptest.Pods(t, h.SinkURL(), dir, 2000)

	nc, err := nats.Connect(h.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	good := `{"time":"2026-12-01T10:00:00Z","body":"legacy record","attributes":{"loglet.source_id":"old","loglet.package_id":0,"loglet.offset":0},"resource":{"k8s.namespace.name":"shop"}}` + "\n"
	for _, m := range []struct {
		subject, encoding string
		data              []byte
	}{
		{"loglet.default.x", "", []byte("plain text from someone else")},
		{"loglet.default.x", "s2", []byte("not s2 at all")},
		{"loglet.default.x", "s2", nil},
		{"loglet.default.shop.p.c.x", "zstd", []byte{1, 2, 3}},
		{"loglet.default.shop.p.c.x", "s2", append([]byte("\xff\x06\x00\x00S2sTwO"), 1, 2, 3, 4, 5)},
		// What loglet wrote before this layout: an S2 block on
		// loglet.<route>.<source_id>; read, and filtered by resource.
		{"loglet.default.old", "s2", s2.Encode(nil, []byte(good))},
	} {
		msg := nats.NewMsg(m.subject)
		msg.Data = m.data
		if m.encoding != "" {
			msg.Header.Set(layout.HeaderEncoding, m.encoding)
		}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	// And records after them.
	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, "shop_late.log"), []byte(podLine("late", 1)+"\n"), 0o644)
	shiptest.Pods(t, h.SinkURL(), dir2, 2000)

	r, err := query.Open(ctx, h.SinkURL())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, skipped := bodies(t, r, query.Filter{}, query.Options{})
	if len(got) != 192 || got[190] != "legacy record" || got[191] != "late says 1" {
		t.Errorf("read %d records, ending %q; want 192: every record before, between and after the junk", len(got), got[max(0, len(got)-2):])
	}
	if len(skipped) != 5 {
		t.Fatalf("skipped %d messages, want 5: %q", len(skipped), skipped)
	}
	for _, want := range []string{`^LOGLET message \d+ on loglet.default.x: not a loglet package: a line is not a loglet record`, "s2 block", `encoding "zstd"`, "s2 stream"} {
		if !regexp.MustCompile(`(?m)` + want).MatchString(strings.Join(skipped, "\n")) {
			t.Errorf("skipped %q: want one saying %q", skipped, want)
		}
	}
	if got, _ := bodies(t, r, query.Filter{Namespace: "shop", Grep: regexp.MustCompile("legacy")}, query.Options{}); len(got) != 1 {
		t.Errorf("the legacy message by namespace: %q", got)
	}
	if got, _ := bodies(t, r, query.Filter{Namespace: "pay"}, query.Options{Last: 1}); len(got) != 1 || got[0] != "api-1 says 59" {
		t.Errorf("--tail 1 -n pay past the junk: %q", got)
	}
}

// TestTailFiltersOnKafka: the same flags on the Kafka layout, on kfake
// (franz-go's in-process Kafka: no broker can be installed here). Kafka
// has no subjects: namespace, pod and container are checked per record.
func TestTailFiltersOnKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	url := "kafka://" + strings.Join(cluster.ListenAddrs(), ",") + "/logs"
	dir := t.TempDir()
	writePods(t, dir)
	shiptest.Pods(t, url, dir, 2000)
	// A record another producer wrote.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("logs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	r := openHub(t, url)
	checkFilters(t, r)
	if _, skipped := bodies(t, r, query.Filter{}, query.Options{}); len(skipped) != 1 || !strings.Contains(skipped[0], "kafka topic logs partition") {
		t.Errorf("skipped %q, want the one record that is not JSON", skipped)
	}
}

// TestStreamsDoNotOverlap: the stream named in the sink URL holds that
// agent's records only, and a stream the agent creates has limits and a
// description.
func TestStreamsDoNotOverlap(t *testing.T) {
	h := startHub(t)
	a, b := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(a, "shop_a.log"), []byte(podLine("a", 1)+"\n"), 0o644)
	os.WriteFile(filepath.Join(b, "shop_b.log"), []byte(podLine("b", 2)+"\n"), 0o644)
	shiptest.Pods(t, h.SinkURL(), a, 2000)
	shiptest.Pods(t, h.ServerURL()+"/AUDIT?max-age=1h&max-bytes=1GiB", b, 2000)
	for stream, want := range map[string]string{"LOGLET": "a says 1", "AUDIT": "b says 2"} {
		r, err := query.Open(context.Background(), h.ServerURL()+"/"+stream)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := bodies(t, r, query.Filter{}, query.Options{})
		r.Close()
		if len(got) != 1 || got[0] != want {
			t.Errorf("stream %s holds %q, want only %q", stream, got, want)
		}
	}
	nc, _ := nats.Connect(h.ServerURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), "AUDIT")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxAge != time.Hour || cfg.MaxBytes != 1<<30 || !strings.Contains(cfg.Description, "audit.<route>.<namespace>.<pod>.<container>.<source_id>") || !slices.Equal(cfg.Subjects, []string{"audit.>"}) {
		t.Errorf("AUDIT as the agent made it: max-age %v, max-bytes %d, subjects %v, description %q", cfg.MaxAge, cfg.MaxBytes, cfg.Subjects, cfg.Description)
	}
	if _, err := sink.Open(context.Background(), h.ServerURL()+"/AUDIT?max-agee=1h", sink.Options{Timeout: time.Second, Logger: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), `did you mean "max-age"?`) {
		t.Errorf("a misspelled setting: %v", err)
	}
}

// TestStreamPerRoute: a route's records go to a stream of their own
// (LOGLET_<route>, so a cluster can give it its own leader); loglet logs
// reads the URL's stream and its routes' streams as one, in the order the
// hub stored their records; --route reads one; streams=one keeps every
// route in the URL's stream.
func TestStreamPerRoute(t *testing.T) {
	h, err := hub.Start(context.Background(), hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), MaxAge: 3 * time.Hour, MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown()
	ship := func(route, pod string, from, n int, extra string) {
		dir := t.TempDir()
		var b strings.Builder
		for i := from; i < from+n; i++ {
			b.WriteString(podLine(pod, i) + "\n")
		}
		os.WriteFile(filepath.Join(dir, "shop_"+pod+".log"), []byte(b.String()), 0o644)
		shiptest.Pods(t, h.SinkURL()+"?route="+route+extra, dir, 2000)
	}
	ship("default", "web", 0, 5, "")
	ship("audit", "api", 0, 5, "")
	ship("default", "web", 5, 5, "")
	ship("audit", "api", 5, 5, "")
	ship("billing", "pay", 0, 3, "&streams=one")

	nc, _ := nats.Connect(h.ServerURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	subjects := map[string][]string{}
	for name := range js.StreamNames(context.Background()).Name() {
		st, _ := js.Stream(context.Background(), name)
		cfg := st.CachedInfo().Config
		subjects[name] = cfg.Subjects
		// A route's stream keeps what the hub's does.
		if cfg.MaxAge != 3*time.Hour || cfg.MaxBytes != 1<<30 {
			t.Errorf("stream %s: max-age %v, max-bytes %d; want the hub's 3h and 1GiB", name, cfg.MaxAge, cfg.MaxBytes)
		}
	}
	if want := map[string][]string{"LOGLET": {"loglet.>"}, "LOGLET_audit": {"loglet_audit.>"}}; fmt.Sprint(subjects) != fmt.Sprint(want) {
		t.Fatalf("streams %v, want %v", subjects, want)
	}

	r := openHub(t, h.SinkURL())
	all, _ := bodies(t, r, query.Filter{}, query.Options{})
	want := slices.Concat(says("web", 0, 1, 2, 3, 4), says("api", 0, 1, 2, 3, 4), says("web", 5, 6, 7, 8, 9), says("api", 5, 6, 7, 8, 9), says("pay", 0, 1, 2))
	if !slices.Equal(all, want) {
		t.Errorf("both streams read as one:\n%q\nwant, in the order stored:\n%q", all, want)
	}
	if got, _ := bodies(t, r, query.Filter{Route: "audit"}, query.Options{}); !slices.Equal(got, says("api", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)) {
		t.Errorf("--route audit: %q", got)
	}
	if got, _ := bodies(t, r, query.Filter{Route: "billing"}, query.Options{}); !slices.Equal(got, says("pay", 0, 1, 2)) {
		t.Errorf("--route billing (streams=one): %q", got)
	}
	if got, _ := bodies(t, r, query.Filter{}, query.Options{Last: 4}); !slices.Equal(got, slices.Concat(says("api", 9), says("pay", 0, 1, 2))) {
		t.Errorf("--tail 4 across streams: %q", got)
	}

	// Follow across streams: new records of either stream come.
	next, stop := follow(t, r, query.Filter{}, query.Options{Last: 1})
	if b := next(); b != "pay says 2" {
		t.Fatalf("--tail 1 -f: %q", b)
	}
	ship("audit", "api", 10, 1, "")
	if b := next(); b != "api says 10" {
		t.Errorf("followed audit: %q", b)
	}
	ship("default", "web", 10, 1, "")
	if b := next(); b != "web says 10" {
		t.Errorf("followed default: %q", b)
	}
	stop()

	// The context of a record of a route's stream (the first of its
	// source: each ship is a new file).
	var target query.Record
	r.Tail(context.Background(), query.Filter{Route: "audit", Grep: regexp.MustCompile(`api says 5$`)}, query.Options{}, func(rec query.Record) error { target = rec; return nil })
	recs, at, err := r.Context(context.Background(), target.SourceID(), target.PackageID(), target.Offset(), 1, 1)
	if err != nil || len(recs) != 2 || at != 0 || recs[0].Body != "api says 5" || recs[1].Body != "api says 6" {
		t.Errorf("context in LOGLET_audit: %d records, at %d, %v", len(recs), at, err)
	}
}

// TestPollingDoesNotUseUpConsumers: a reader that queries the hub again
// and again (a script waiting for a line) leaves no consumer behind; a
// stream takes 1,000 by default, and each query used to hold one for five
// minutes ("maximum consumers limit reached").
func TestPollingDoesNotUseUpConsumers(t *testing.T) {
	h := startHub(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "shop_web.log"), []byte(podLine("web", 1)+"\n"), 0o644)
	shiptest.Pods(t, h.SinkURL(), dir, 2000)
	r := openHub(t, h.SinkURL())
	for i := range 1100 {
		o := query.Options{}
		if i%2 == 1 {
			o.Last = 1
		}
		if got, _ := bodies(t, r, query.Filter{Namespace: "shop"}, o); len(got) != 1 {
			t.Fatalf("query %d: %q", i, got)
		}
	}
}
