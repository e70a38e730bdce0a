package parse_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// rec is what a test checks of a record.
type rec struct {
	Body     string
	Attrs    map[string]string
	Severity string
	Time     string
	Stream   string
	Part     int
}

// readRecords reads content from a real file with a source.File (the
// reader the agent uses) and cfg, and returns the records of every package.
func readRecords(t testing.TB, content string, cfg parse.Config, batch int) []rec {
	t.Helper()
	if cfg.MaxLineBytes == 0 {
		cfg.MaxLineBytes = 256 << 10
	}
	if cfg.MultilineTimeout == 0 {
		cfg.MultilineTimeout = time.Second
	}
	spec, err := parse.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return collect(t, path, spec, batch)
}

func collect(t testing.TB, path string, spec *parse.Spec, batch int) []rec {
	t.Helper()
	return toRecs(readPackages(t, path, spec, batch, 0))
}

func toRecs(pkgs []*record.Package) []rec {
	var out []rec
	for _, p := range pkgs {
		for i, e := range p.Records {
			r := rec{Body: string(p.Body(i)), Attrs: map[string]string{}, Severity: e.Severity.String(), Part: int(e.Part)}
			if e.Time != 0 {
				r.Time = time.Unix(0, e.Time).UTC().Format(time.RFC3339Nano)
			}
			switch {
			case e.Flags&record.FlagStdout != 0:
				r.Stream = "stdout"
			case e.Flags&record.FlagStderr != 0:
				r.Stream = "stderr"
			}
			for _, a := range p.Attributes(i) {
				r.Attrs[string(p.Bytes(a.Key))] = string(p.Bytes(a.Value))
			}
			out = append(out, r)
		}
	}
	return out
}

// criLines wraps text as a CRI runtime would, splitting it into partial
// lines of at most 16 KiB.
func criLines(ts, stream, text string) string {
	var b strings.Builder
	for len(text) > 16<<10 {
		fmt.Fprintf(&b, "%s %s P %s\n", ts, stream, text[:16<<10])
		text = text[16<<10:]
	}
	fmt.Fprintf(&b, "%s %s F %s\n", ts, stream, text)
	return b.String()
}

// dockerLines wraps text as Docker's json-file driver would.
func dockerLines(ts, stream, text string) string {
	var b strings.Builder
	for len(text) > 16<<10 {
		fmt.Fprintf(&b, `{"log":%q,"stream":%q,"time":%q}`+"\n", text[:16<<10], stream, ts)
		text = text[16<<10:]
	}
	fmt.Fprintf(&b, `{"log":%q,"stream":%q,"time":%q}`+"\n", text+"\n", stream, ts)
	return b.String()
}

func bigText(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "word%05d ", i)
	}
	return b.String()[:n]
}

const javaTrace = `2026-11-25 10:00:00.123 ERROR [main] com.example.OrderService - order 42 failed
java.lang.IllegalStateException: inventory is empty
	at com.example.Inventory.take(Inventory.java:88)
	at com.example.OrderService.place(OrderService.java:41)
Caused by: java.io.IOException: connection reset
	at java.base/sun.nio.ch.SocketDispatcher.read0(Native Method)
	... 12 more`

const pythonTrace = `Traceback (most recent call last):
  File "/app/worker.py", line 12, in <module>
    main()
  File "/app/worker.py", line 8, in main
    raise ValueError("bad input")
ValueError: bad input`

type tcase struct {
	name    string
	content string
	cfg     parse.Config
	want    []rec
}

func check(t *testing.T, tests []tcase) {
	t.Helper()
	for _, tc := range tests {
		// Each case runs with one large package and with tiny packages,
		// so that records cross package boundaries.
		for _, batch := range []int{1 << 20, 256} {
			t.Run(fmt.Sprintf("%s/batch=%d", tc.name, batch), func(t *testing.T) {
				got := readRecords(t, tc.content, tc.cfg, batch)
				if len(got) != len(tc.want) {
					t.Fatalf("got %d records, want %d:\n%s", len(got), len(tc.want), dump(got))
				}
				for i := range got {
					if msg := diff(got[i], tc.want[i]); msg != "" {
						t.Errorf("record %d: %s", i, msg)
					}
				}
			})
		}
	}
}

func dump(rs []rec) string {
	var b strings.Builder
	for _, r := range rs {
		body := r.Body
		if len(body) > 80 {
			body = body[:80] + fmt.Sprintf("…(%d bytes)", len(r.Body))
		}
		fmt.Fprintf(&b, "  %q %v sev=%s time=%s stream=%s part=%d\n", body, r.Attrs, r.Severity, r.Time, r.Stream, r.Part)
	}
	return b.String()
}

// diff compares the fields want sets (an empty Attrs map means "none").
func diff(got, want rec) string {
	var d []string
	if got.Body != want.Body {
		g, w := got.Body, want.Body
		if len(g) > 100 || len(w) > 100 {
			d = append(d, fmt.Sprintf("body of %d bytes, want %d bytes", len(g), len(w)))
		} else {
			d = append(d, fmt.Sprintf("body %q, want %q", g, w))
		}
	}
	if want.Attrs == nil {
		want.Attrs = map[string]string{}
	}
	if fmt.Sprint(got.Attrs) != fmt.Sprint(want.Attrs) {
		d = append(d, fmt.Sprintf("attributes %v, want %v", got.Attrs, want.Attrs))
	}
	if got.Severity != want.Severity || got.Time != want.Time || got.Stream != want.Stream || got.Part != want.Part {
		d = append(d, fmt.Sprintf("severity/time/stream/part %q %q %q %d, want %q %q %q %d",
			got.Severity, got.Time, got.Stream, got.Part, want.Severity, want.Time, want.Stream, want.Part))
	}
	return strings.Join(d, "; ")
}

func TestContainerFormats(t *testing.T) {
	big := bigText(40 << 10)
	const ts = "2026-11-25T10:00:00.123456789Z"
	check(t, []tcase{
		{"cri 40 KiB line in P parts", criLines(ts, "stdout", big) + criLines("2026-11-25T10:00:01Z", "stderr", "after"),
			parse.Config{Container: "cri"},
			[]rec{{Body: big, Time: ts, Stream: "stdout"}, {Body: "after", Time: "2026-11-25T10:00:01Z", Stream: "stderr"}}},
		{"cri empty line", ts + " stdout F\n", parse.Config{Container: "cri"}, []rec{{Body: "", Time: ts, Stream: "stdout"}}},
		{"cri with offset time", "2026-11-25T11:00:00.5+01:00 stdout F hi\n", parse.Config{Container: "cri"},
			[]rec{{Body: "hi", Time: "2026-11-25T10:00:00.5Z", Stream: "stdout"}}},
		{"docker 40 KiB split line", dockerLines(ts, "stderr", big) + dockerLines(ts, "stdout", `quote " and tab	`),
			parse.Config{Container: "docker"},
			[]rec{{Body: big, Time: ts, Stream: "stderr"}, {Body: "quote \" and tab\t", Time: ts, Stream: "stdout"}}},
		{"auto finds cri", criLines(ts, "stdout", "INFO ready"), parse.Config{Format: "auto"},
			[]rec{{Body: "INFO ready", Time: ts, Stream: "stdout", Severity: "INFO"}}},
		{"auto finds docker", dockerLines(ts, "stdout", "ready"), parse.Config{Container: "auto"},
			[]rec{{Body: "ready", Time: ts, Stream: "stdout"}}},
		{"auto leaves plain lines", "plain line\n", parse.Config{Container: "auto"}, []rec{{Body: "plain line"}}},
		{"truncated cri lines are kept whole", ts + " stdout F ok\n2026-11-25T10:00:00.1234\n" + ts + " std\n",
			parse.Config{Container: "cri"},
			[]rec{{Body: "ok", Time: ts, Stream: "stdout"},
				{Body: "2026-11-25T10:00:00.1234", Attrs: map[string]string{"loglet.parse_error": "cri: not a CRI log line (<RFC 3339 time> <stdout|stderr> <P|F> <text>)"}},
				{Body: ts + " std", Attrs: map[string]string{"loglet.parse_error": "cri: not a CRI log line (<RFC 3339 time> <stdout|stderr> <P|F> <text>)"}}}},
		{"timestamps (pods/log)", ts + " ERROR a b\n" + ts + " \n2026-11-25T10:00:01Z\nno time here\n", parse.Config{Container: "timestamps"},
			[]rec{{Body: "ERROR a b", Time: ts, Severity: "ERROR"}, {Body: "", Time: ts}, {Body: "", Time: "2026-11-25T10:00:01Z"},
				{Body: "no time here", Attrs: map[string]string{"loglet.parse_error": "timestamps: not a timestamped log line (<RFC 3339 time> <text>)"}}}},
	})
}

func TestMultiline(t *testing.T) {
	const ts = "2026-11-25T10:00:00Z"
	var cri strings.Builder
	for _, l := range strings.Split(javaTrace, "\n") {
		cri.WriteString(criLines(ts, "stdout", l))
	}
	cri.WriteString(criLines(ts, "stdout", "2026-11-25 10:00:01.000 INFO [main] com.example.OrderService - recovered"))
	check(t, []tcase{
		{"java stack trace through cri", cri.String(),
			parse.Config{Container: "cri", MultilineStart: `^\d{4}-\d{2}-\d{2} `},
			[]rec{{Body: javaTrace, Time: ts, Stream: "stdout", Severity: "ERROR"},
				{Body: "2026-11-25 10:00:01.000 INFO [main] com.example.OrderService - recovered", Time: ts, Stream: "stdout", Severity: "INFO"}}},
		{"python traceback", "2026-11-25 10:00:00,001 WARNING retrying\n" + pythonTrace + "\n2026-11-25 10:00:02,000 INFO done\n",
			parse.Config{MultilineStart: `^(\d{4}-\d{2}-\d{2}|Traceback)`},
			[]rec{{Body: "2026-11-25 10:00:00,001 WARNING retrying", Severity: "WARN"}, {Body: pythonTrace},
				{Body: "2026-11-25 10:00:02,000 INFO done", Severity: "INFO"}}},
		{"go panic", "panic: runtime error: index out of range [3] with length 2\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:7 +0x1d\nexit status 2\n",
			parse.Config{MultilineStart: `^(panic:|exit status)`},
			[]rec{{Body: "panic: runtime error: index out of range [3] with length 2\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:7 +0x1d", Severity: "FATAL"},
				{Body: "exit status 2"}}},
		{"continuation lines before any start are each a record", "\tat orphan\n\tat second orphan\nSTART one\n\tmore\n",
			parse.Config{MultilineStart: `^START`},
			[]rec{{Body: "\tat orphan"}, {Body: "\tat second orphan"}, {Body: "START one\n\tmore"}}},
		{"end", "BEGIN a\n b\nEND\nBEGIN c\nEND\nlast\n",
			parse.Config{MultilineEnd: `^END$`},
			[]rec{{Body: "BEGIN a\n b\nEND"}, {Body: "BEGIN c\nEND"}, {Body: "last"}}},
		{"start and end: lines outside a record are each a record", "noise\n<event>\n a\n</event>\nnoise 2\nnoise 3\n<event>\n<event>\n b\n",
			parse.Config{MultilineStart: `^<event>$`, MultilineEnd: `^</event>$`},
			[]rec{{Body: "noise"}, {Body: "<event>\n a\n</event>"}, {Body: "noise 2"}, {Body: "noise 3"}, {Body: "<event>"}, {Body: "<event>\n b"}}},
		{"continue", "one\n  two\n  three\nfour\n  five\n",
			parse.Config{MultilineContinue: `^\s`},
			[]rec{{Body: "one\n  two\n  three"}, {Body: "four\n  five"}}},
		{"start and continue: others are each a record", "x\nSTART\n+a\ny\n+b\nSTART\n+c\n",
			parse.Config{MultilineStart: `^START`, MultilineContinue: `^\+`},
			[]rec{{Body: "x"}, {Body: "START\n+a"}, {Body: "y"}, {Body: "+b"}, {Body: "START\n+c"}}},
	})
}

// A record that goes on past max-lines is finished in parts marked as a
// split record's (loglet.split.part, loglet.split.last), which join back.
func TestMultilineMaxLines(t *testing.T) {
	var b strings.Builder
	b.WriteString("START\n")
	for i := range 9 {
		fmt.Fprintf(&b, "\tline %d\n", i)
	}
	b.WriteString("START next\n")
	for _, batch := range []int{1 << 20, 64} {
		got := readRecords(t, b.String(), parse.Config{MultilineStart: `^START`, MultilineMaxLines: 4}, batch)
		want := []rec{{Body: "START\n\tline 0\n\tline 1\n\tline 2", Part: 1}, {Body: "\n\tline 3\n\tline 4\n\tline 5\n\tline 6", Part: 2},
			{Body: "\n\tline 7\n\tline 8", Part: 3}, {Body: "START next"}}
		if len(got) != len(want) {
			t.Fatalf("batch %d: got %d records, want %d:\n%s", batch, len(got), len(want), dump(got))
		}
		for i := range got {
			if msg := diff(got[i], want[i]); msg != "" {
				t.Errorf("batch %d: record %d: %s", batch, i, msg)
			}
		}
	}
}

// A record that never ends is finished at the size limit, in marked parts.
func TestMultilineRecordThatNeverEndsIsSplitBySize(t *testing.T) {
	var b strings.Builder
	b.WriteString("START\n")
	for i := range 500 {
		fmt.Fprintf(&b, "\tcontinuation line %04d\n", i)
	}
	got := readRecords(t, b.String(), parse.Config{MultilineStart: `^START`, MaxLineBytes: 1024}, 4096)
	var joined []string
	for i, r := range got {
		if r.Part != i+1 || len(r.Body) > 1024 {
			t.Fatalf("record %d: part %d, %d bytes; want part %d of at most 1024 bytes", i, r.Part, len(r.Body), i+1)
		}
		joined = append(joined, r.Body)
	}
	if len(got) < 10 {
		t.Fatalf("got %d parts, want the 11 KiB record in ~1 KiB parts", len(got))
	}
	if strings.Join(joined, "") != strings.TrimSuffix(b.String(), "\n") {
		t.Errorf("the parts do not join back to the record")
	}
}

func TestParsers(t *testing.T) {
	check(t, []tcase{
		{"json", `{"time":"2026-11-25T10:00:00.5Z","level":"warn","msg":"disk \"/data\" at 91%","disk":{"used":0.91},"tags":["a","b"],"ok":true,"user":"ann"}` + "\n",
			parse.Config{Format: "json", TimeKey: "time"},
			[]rec{{Body: `disk "/data" at 91%`, Severity: "WARN", Time: "2026-11-25T10:00:00.5Z",
				Attrs: map[string]string{"time": "2026-11-25T10:00:00.5Z", "level": "warn", "disk": `{"used":0.91}`, "tags": `["a","b"]`, "ok": "true", "user": "ann"}}}},
		{"json escaped value and invalid UTF-8", "{\"message\":\"caf\xe9\",\"path\":\"C:\\\\tmp\"}\n", parse.Config{Format: "json"},
			[]rec{{Body: "caf\ufffd", Attrs: map[string]string{"path": `"C:\\tmp"`, "loglet.parse_error": invalidKeepMark,
				"loglet.raw_body": `{"message":"caf\xe9","path":"C:\\\\tmp"}`}}}},
		{"json that is not", "{\"a\":1\nnot json\n", parse.Config{Format: "json"},
			[]rec{{Body: `{"a":1`, Attrs: map[string]string{"loglet.parse_error": "json: truncated JSON"}},
				{Body: "not json", Attrs: map[string]string{"loglet.parse_error": "json: not a JSON object"}}}},
		{"logfmt with quoted values", `ts=2026-11-25T10:00:00Z level=error msg="connection refused: \"db\"" retry=3 cached` + "\n",
			parse.Config{Format: "logfmt", TimeKey: "ts"},
			[]rec{{Body: `connection refused: "db"`, Severity: "ERROR", Time: "2026-11-25T10:00:00Z",
				Attrs: map[string]string{"ts": "2026-11-25T10:00:00Z", "level": "error", "retry": "3", "cached": "true"}}}},
		{"logfmt unterminated quote", `a=1 msg="oops` + "\n", parse.Config{Format: "logfmt"},
			[]rec{{Body: `a=1 msg="oops`, Attrs: map[string]string{"loglet.parse_error": "logfmt: unterminated quoted value"}}}},
		{"nginx combined and main", `10.0.0.7 - alice [25/Nov/2026:10:00:00 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 512 "https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)"` + "\n" +
			`10.0.0.8 - - [25/Nov/2026:10:00:01 +0000] "POST /login HTTP/2.0" 401 0 "-" "curl/8.5.0" "203.0.113.9" rt=0.042` + "\n",
			parse.Config{Format: "nginx", TimeKey: "time_local", TimeFormat: "02/Jan/2006:15:04:05 -0700"},
			[]rec{{Body: `10.0.0.7 - alice [25/Nov/2026:10:00:00 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 512 "https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)"`,
				Time: "2026-11-25T10:00:00Z",
				Attrs: map[string]string{"remote_addr": "10.0.0.7", "remote_user": "alice", "time_local": "25/Nov/2026:10:00:00 +0000", "method": "GET",
					"path": "/api/orders?id=42", "protocol": "HTTP/1.1", "status": "200", "body_bytes_sent": "512",
					"http_referer": "https://shop.example.com/", "http_user_agent": "Mozilla/5.0 (X11; Linux x86_64)"}},
				{Body: `10.0.0.8 - - [25/Nov/2026:10:00:01 +0000] "POST /login HTTP/2.0" 401 0 "-" "curl/8.5.0" "203.0.113.9" rt=0.042`,
					Time: "2026-11-25T10:00:01Z",
					Attrs: map[string]string{"remote_addr": "10.0.0.8", "time_local": "25/Nov/2026:10:00:01 +0000", "method": "POST", "path": "/login",
						"protocol": "HTTP/2.0", "status": "401", "body_bytes_sent": "0", "http_referer": "-", "http_user_agent": "curl/8.5.0",
						"http_x_forwarded_for": "203.0.113.9", "request_time": "0.042"}}}},
		{"nginx garbage", "\x16\x03\x01 TLS on the HTTP port\n", parse.Config{Format: "nginx"},
			[]rec{{Body: "\x16\x03\x01 TLS on the HTTP port", Attrs: map[string]string{"loglet.parse_error": `nginx: not in the combined or main format ($remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent")`}}}},
		{"csv with quoted commas and newlines", "2026-11-25T10:00:00Z,ERROR,\"payment failed, card declined\"\n2026-11-25T10:00:01Z,INFO,\"multi\nline \"\"quoted\"\" note\"\n",
			parse.Config{Format: "csv", CSVFields: []string{"ts", "level", "msg"}},
			[]rec{{Body: "2026-11-25T10:00:00Z,ERROR,\"payment failed, card declined\"", Severity: "ERROR",
				Attrs: map[string]string{"ts": "2026-11-25T10:00:00Z", "level": "ERROR", "msg": "payment failed, card declined"}},
				{Body: "2026-11-25T10:00:01Z,INFO,\"multi\nline \"\"quoted\"\" note\"", Severity: "INFO",
					Attrs: map[string]string{"ts": "2026-11-25T10:00:01Z", "level": "INFO", "msg": "multi\nline \"quoted\" note"}}}},
		{"regex with named groups", "2026-11-25 10:00:00 [worker-3] WARN queue depth 1200\nno match here\n",
			parse.Config{Format: `regex:^(?P<date>\S+ \S+) \[(?P<thread>[^\]]+)\] (?P<level>\w+) (?P<msg>.*)$`},
			[]rec{{Body: "queue depth 1200", Severity: "WARN", Attrs: map[string]string{"date": "2026-11-25 10:00:00", "thread": "worker-3", "level": "WARN"}},
				{Body: "no match here", Attrs: map[string]string{"loglet.parse_error": "regex: the line does not match --format"}}}},
		{"json inside cri", criLines("2026-11-25T10:00:00Z", "stdout", `{"level":"info","msg":"hello"}`),
			parse.Config{Container: "cri", Format: "json"},
			[]rec{{Body: "hello", Severity: "INFO", Time: "2026-11-25T10:00:00Z", Stream: "stdout", Attrs: map[string]string{"level": "info"}}}},
	})
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		cfg  parse.Config
		want string
	}{
		{parse.Config{Format: "regex:(?P<a>[", MaxLineBytes: 10}, "format regex:(?P<a>[ does not compile"},
		{parse.Config{Format: "regex:\\d+", MaxLineBytes: 10}, "no named groups"},
		{parse.Config{Format: "xml", MaxLineBytes: 10}, `format "xml"`},
		{parse.Config{Format: "csv", MaxLineBytes: 10}, "--csv-fields"},
		{parse.Config{MultilineStart: "(", MaxLineBytes: 10, MultilineTimeout: time.Second}, "multiline-start"},
		{parse.Config{Container: "podman", MaxLineBytes: 10}, "container-format"},
		{parse.Config{TimeFormat: "unix", MaxLineBytes: 10}, "--time-key"},
		{parse.Config{TimeKey: "t", TimeFormat: "yesterday", MaxLineBytes: 10}, "time-format"},
	}
	for _, tc := range tests {
		if _, err := parse.Compile(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

// readPackages reads path with a source.File in --once mode, from offset
// from, and returns the packages it cut.
func readPackages(t testing.TB, path string, spec *parse.Spec, batch int, from int64) []*record.Package {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := source.Identify(f)
	if err != nil {
		t.Fatal(err)
	}
	scfg := source.Config{BatchBytes: batch, BatchWait: time.Hour, MaxLineBytes: 256 << 10, Poll: time.Hour, Parse: spec}
	var pkgs []*record.Package
	emit := func(_ context.Context, p *record.Package) error { pkgs = append(pkgs, p); return nil }
	file := source.NewFile(scfg, f, path, record.NewOrigin("src", path, nil), source.State{Identity: id, Offset: from}, emit, record.NewPool(source.InitialBufferBytes, source.BufferBytes(scfg.BatchBytes, scfg.MaxLineBytes, spec.Multiline())), &source.Stats{})
	file.SetOnce()
	if err := file.Run(context.Background(), context.Background()); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// TestCheckpointsFallBetweenRecords: a package's end offset (what the
// checkpoint records once it is acknowledged) never falls inside a
// multiline record, so an agent restarted from any package boundary reads
// whole records on.
func TestCheckpointsFallBetweenRecords(t *testing.T) {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "2026-11-25 10:00:%02d.000 INFO request %d\n", i, i)
		if i%4 == 3 {
			b.WriteString(javaTrace[strings.Index(javaTrace, "\n")+1:] + "\n")
		}
	}
	content := b.String()
	path := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := parse.Compile(parse.Config{MultilineStart: `^\d{4}-`, MultilineTimeout: time.Second, MaxLineBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	all := toRecs(readPackages(t, path, spec, 1<<20, 0))
	if len(all) != 40 {
		t.Fatalf("got %d records, want 40", len(all))
	}
	var prev int64
	seen := 0
	for _, p := range readPackages(t, path, spec, 300, 0) {
		covered := 0
		for i := range p.Records {
			covered += len(p.Body(i)) + 1
		}
		if int64(covered) != p.EndOffset-prev {
			t.Fatalf("package %d: records cover %d bytes, but the checkpoint would move %d", p.ID, covered, p.EndOffset-prev)
		}
		prev = p.EndOffset
		seen += p.Len()
		// A restart from this checkpoint reads exactly the records after it.
		rest := toRecs(readPackages(t, path, spec, 300, p.EndOffset))
		if len(rest) != len(all)-seen || (len(rest) > 0 && rest[0].Body != all[seen].Body) {
			t.Fatalf("restart at %d: %d records, want %d starting with %q", p.EndOffset, len(rest), len(all)-seen, all[seen].Body)
		}
	}
}
