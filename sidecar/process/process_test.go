package process_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/settings"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/process"
	"github.com/loglet/loglet/sidecar/record"
)

// rec is a record as a sink writes it.
type rec struct {
	Body       string         `json:"body"`
	Severity   string         `json:"severity"`
	Attributes map[string]any `json:"attributes"`
}

// compile reads a document's processors as the agent does.
func compile(t testing.TB, doc string, opt process.Options) *process.Chain {
	t.Helper()
	m, err := settings.ReadDocument([]byte(doc), "test")
	if err != nil {
		t.Fatal(err)
	}
	list, err := process.Parse(m["processors"], "processors", opt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := process.Compile("app", list, opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// packageOf reads content (whole lines) as one package parsed by cfg.
func packageOf(t testing.TB, cfg parse.Config, content string, resource ...record.KeyValue) *record.Package {
	t.Helper()
	p := &record.Package{Data: []byte(content), Spans: []record.Span{{Time: time.Unix(1, 0)}},
		Origin: record.NewInputOrigin("src", "/var/log/app.log", "app", resource)}
	start := 0
	for i := range len(content) {
		if content[i] == '\n' {
			p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(i)})
			start = i + 1
		}
	}
	cfg.MaxLineBytes = 1 << 20
	if cfg.MultilineStart != "" {
		cfg.MultilineTimeout = time.Second
	}
	spec, err := parse.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec.NewStage().Process(p, true)
	return p
}

// records are what a sink gets of p.
func records(t testing.TB, p *record.Package) []rec {
	t.Helper()
	var out []rec
	sc := bufio.NewScanner(bytes.NewReader(p.AppendNDJSON(nil)))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%v: %s", err, sc.Bytes())
		}
		for _, k := range []string{"log.file.path", "loglet.input", "loglet.source_id", "loglet.package_id", "loglet.offset"} {
			delete(r.Attributes, k)
		}
		out = append(out, r)
	}
	return out
}

func apply(t testing.TB, c *process.Chain, p *record.Package) []rec {
	t.Helper()
	c.Start(p.Origin, slog.New(slog.DiscardHandler)).Apply(p, time.Unix(1, 0))
	return records(t, p)
}

func bodies(rs []rec) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Body)
	}
	return out
}

func TestDropAndKeep(t *testing.T) {
	appLog := "GET /healthz 200\nGET /api/orders 200\nPOST /api/orders 500\nGET /healthz 200\n"
	jsonLog := `{"level":"debug","msg":"cache miss"}` + "\n" + `{"level":"info","msg":"order placed"}` + "\n" +
		`{"level":"warn","msg":"slow"}` + "\n" + `{"msg":"no level"}` + "\n" + `{"level":"error","msg":"failed"}` + "\n" +
		`{"level":"trace","msg":"enter"}` + "\n"
	tests := []struct {
		name, procs, format, content string
		want                         []string
		dropped                      map[string]int64 // processor/reason → records
	}{
		{"drop on the body", `processors: [{drop: {match: 'GET /healthz'}}]`, "raw", appLog,
			[]string{"GET /api/orders 200", "POST /api/orders 500"}, map[string]int64{"drop/match": 2}},
		{"drop on a field", `processors: [{drop: {field: level, match: '^(debug|trace)$'}}]`, "json", jsonLog,
			[]string{"order placed", "slow", "no level", "failed"}, map[string]int64{"drop/match": 2}},
		{"a record without the field is not dropped", `processors: [{drop: {field: user, match: '.'}}]`, "json", jsonLog,
			[]string{"cache miss", "order placed", "slow", "no level", "failed", "enter"}, map[string]int64{"drop/match": 0}},
		{"drop on a resource attribute", `processors: [{drop: {field: k8s.namespace.name, match: '^kube-'}}]`, "raw", appLog,
			nil, map[string]int64{"drop/match": 4}},
		{"keep WARN and above, records without severity kept", `processors: [{keep: {min-severity: warn}}]`, "json", jsonLog,
			[]string{"slow", "no level", "failed"}, map[string]int64{"keep/severity": 3}},
		{"keep on the body", `processors: [{keep: {match: ' 5\d\d$'}}]`, "raw", appLog,
			[]string{"POST /api/orders 500"}, map[string]int64{"keep/no-match": 3}},
		{"processors run in order, a dropped record goes no further", `processors: [{drop: {match: healthz}}, {keep: {match: POST}}]`, "raw", appLog,
			[]string{"POST /api/orders 500"}, map[string]int64{"drop/match": 2, "keep/no-match": 1}},
		{"two processors of a kind get numbered names", `processors: [{drop: {match: healthz}}, {drop: {match: POST}}]`, "raw", appLog,
			[]string{"GET /api/orders 200"}, map[string]int64{"drop/match": 2, "drop#2/match": 1}},
		{"a named processor", `processors: [{name: healthchecks, drop: {match: healthz}}]`, "raw", appLog,
			[]string{"GET /api/orders 200", "POST /api/orders 500"}, map[string]int64{"healthchecks/match": 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := compile(t, tc.procs, process.Options{})
			p := packageOf(t, parse.Config{Format: tc.format}, tc.content, record.KeyValue{Key: "k8s.namespace.name", Value: "kube-system"})
			end := p.EndOffset
			got := bodies(apply(t, c, p))
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("records %q, want %q", got, tc.want)
			}
			if p.EndOffset != end {
				t.Errorf("end offset %d, want %d: a dropped record still advances the checkpoint", p.EndOffset, end)
			}
			dropped, _ := c.Counts()
			counts := map[string]int64{}
			for _, d := range dropped {
				if d.Input != "app" {
					t.Errorf("counter input %q, want app", d.Input)
				}
				counts[d.Processor+"/"+d.Reason] = d.Records
			}
			for k, want := range tc.dropped {
				if counts[k] != want {
					t.Errorf("dropped %s = %d, want %d (all: %v)", k, counts[k], want, counts)
				}
			}
		})
	}
}

// TestDropKeepsObservedTimes: the records left carry the times they were
// read at, whatever was dropped before them.
func TestDropKeepsObservedTimes(t *testing.T) {
	c := compile(t, `processors: [{drop: {match: drop}}]`, process.Options{})
	p := packageOf(t, parse.Config{Format: "raw"}, "drop 1\nkeep 2\ndrop 3\ndrop 4\nkeep 5\n")
	t1, t2 := time.Unix(10, 0).UTC(), time.Unix(20, 0).UTC()
	p.Spans = []record.Span{{First: 0, Time: t1}, {First: 3, Time: t2}}
	c.Start(p.Origin, slog.New(slog.DiscardHandler)).Apply(p, t2)
	var got []string
	sc := bufio.NewScanner(bytes.NewReader(p.AppendNDJSON(nil)))
	for sc.Scan() {
		var r struct {
			Body     string    `json:"body"`
			Observed time.Time `json:"observed_time"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Body+"@"+r.Observed.Format("05"))
	}
	if want := "keep 2@10|keep 5@20"; strings.Join(got, "|") != want {
		t.Errorf("got %q, want %s", got, want)
	}
}

func TestAttributes(t *testing.T) {
	line := `{"level":"info","msg":"paid","msg_id":"m-1","password":"hunter2","token":"t0k","team":"old"}` + "\n"
	tests := []struct {
		name, procs string
		labels      []record.KeyValue
		want        map[string]any
	}{
		{"set", `processors: [{set: {attributes: {team: payments, cost_center: "42"}}}]`, nil,
			map[string]any{"level": "info", "msg_id": "m-1", "password": "hunter2", "token": "t0k", "team": "payments", "cost_center": "42"}},
		{"set from a pod label", `processors: [{set: {attributes: {owner: {from-label: team}, tier: {from-label: tier}}}}]`,
			[]record.KeyValue{{Key: "k8s.pod.label.team", Value: "checkout"}},
			map[string]any{"level": "info", "msg_id": "m-1", "password": "hunter2", "token": "t0k", "team": "old", "owner": "checkout"}},
		{"rename", `processors: [{rename: {attributes: {msg_id: message.id}}}]`, nil,
			map[string]any{"level": "info", "message.id": "m-1", "password": "hunter2", "token": "t0k", "team": "old"}},
		{"rename onto a key the record has", `processors: [{rename: {attributes: {msg_id: team}}}]`, nil,
			map[string]any{"level": "info", "team": "m-1", "password": "hunter2", "token": "t0k"}},
		{"remove", `processors: [{remove: {attributes: [password, token]}}]`, nil,
			map[string]any{"level": "info", "msg_id": "m-1", "team": "old"}},
		{"in order", `processors: [{rename: {attributes: {team: owner}}}, {set: {attributes: {team: payments}}}, {remove: {attributes: [password, token, msg_id]}}]`, nil,
			map[string]any{"level": "info", "owner": "old", "team": "payments"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := compile(t, tc.procs, process.Options{})
			p := packageOf(t, parse.Config{Format: "json"}, line+line, tc.labels...)
			got := apply(t, c, p)
			if len(got) != 2 {
				t.Fatalf("%d records, want 2", len(got))
			}
			for _, r := range got {
				if r.Body != "paid" || r.Severity != "INFO" {
					t.Errorf("body %q severity %q, want paid INFO", r.Body, r.Severity)
				}
				a, _ := json.Marshal(r.Attributes)
				w, _ := json.Marshal(tc.want)
				if string(a) != string(w) {
					t.Errorf("attributes\n %s\nwant\n %s", a, w)
				}
			}
		})
	}
}

func TestLimit(t *testing.T) {
	c := compile(t, `processors: [{limit: {lines-per-second: 10, burst: 3}}]`, process.Options{})
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	p := packageOf(t, parse.Config{Format: "raw"}, "1\n2\n3\n4\n5\n")
	run := c.Start(p.Origin, log)
	t0 := time.Unix(100, 0)
	run.Apply(p, t0)
	if got := bodies(records(t, p)); strings.Join(got, ",") != "1,2,3" {
		t.Errorf("first package: %q, want the burst of 3", got)
	}
	// 0.25 s later the bucket holds 2.5 tokens: two more pass.
	p = packageOf(t, parse.Config{Format: "raw"}, "6\n7\n8\n")
	run.Apply(p, t0.Add(250*time.Millisecond))
	if got := bodies(records(t, p)); strings.Join(got, ",") != "6,7" {
		t.Errorf("after 250ms: %q, want 6,7", got)
	}
	dropped, _ := c.Counts()
	if len(dropped) != 1 || dropped[0].Records != 3 || dropped[0].Reason != "rate" {
		t.Errorf("counted %+v, want 3 dropped for rate", dropped)
	}
	if n := strings.Count(logs.String(), "dropped records over the rate"); n != 1 {
		t.Errorf("%d log lines, want 1 within a minute:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "dropped=2") || !strings.Contains(logs.String(), "path=/var/log/app.log") {
		t.Errorf("the log line names neither the count nor the file:\n%s", logs.String())
	}
	p = packageOf(t, parse.Config{Format: "raw"}, "9\n")
	run.Apply(p, t0.Add(61*time.Second))
	p = packageOf(t, parse.Config{Format: "raw"}, strings.Repeat("x\n", 20))
	run.Apply(p, t0.Add(61*time.Second))
	if n := strings.Count(logs.String(), "dropped records over the rate"); n != 2 {
		t.Errorf("%d log lines after a minute, want 2:\n%s", n, logs.String())
	}
}

// TestLimitIsPerSource: one noisy source does not use up another's rate.
func TestLimitIsPerSource(t *testing.T) {
	c := compile(t, `processors: [{limit: {lines-per-second: 2}}]`, process.Options{})
	now := time.Unix(100, 0)
	for _, path := range []string{"a", "b"} {
		p := packageOf(t, parse.Config{Format: "raw"}, "1\n2\n3\n")
		c.Start(record.NewOrigin(path, path, nil), slog.New(slog.DiscardHandler)).Apply(p, now)
		if got := len(p.Records); got != 2 {
			t.Errorf("source %s: %d records passed, want 2", path, got)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`processors: [{dorp: {match: x}}]`, `processors[0]: unknown key "dorp": did you mean "drop"?`},
		{`processors: [{drop: {mach: x}}]`, `processors[0] (drop): unknown key "mach": did you mean "match"?`},
		{`processors: [{drop: {match: x}, keep: {match: y}}]`, `processors[0]: drop and keep in one entry`},
		{`processors: [{}]`, `processors[0]: no processor; give one of drop, keep`},
		{`processors: [{drop: {field: level}}]`, `processors[0] (drop): match: missing`},
		{`processors: [{drop: {match: '('}}]`, `processors[0] (drop): match: invalid RE2 "("`},
		{`processors: [{keep: {min-severity: LOUD}}]`, `min-severity: "LOUD": want TRACE, DEBUG, INFO, WARN, ERROR or FATAL`},
		{`processors: [{limit: {lines-per-second: fast}}]`, `processors[0] (limit): lines-per-second: want a number, got a string`},
		{`processors: [{limit: {lines-per-second: 0}}]`, `lines-per-second: 0: want a number above 0`},
		{`processors: [{redact: {builtin: [credit-cards]}}]`, `builtin: unknown rule "credit-cards": did you mean "credit-card"?`},
		{`processors: [{redact: {builtin: [email], hash: md5}}]`, `hash: "md5": the one hash is sha256`},
		{`processors: [{redact: {builtin: [email], hash: sha256}}]`, `hash: sha256 needs the redact-salt setting`},
		{`processors: [{redact: {patterns: ['a*']}}]`, `patterns[0]: "a*" matches empty text`},
		{`processors: [{set: {attributes: {team: {from-lable: x}}}}]`, `want text, or {from-label: <pod label>}`},
		{`processors: [{drop: {match: a}}, {name: drop, drop: {match: b}}]`, `"drop" names two processors`},
		{`processors: {drop: {match: a}}`, `processors: want a list of processors`},
	}
	for _, tc := range tests {
		m, err := settings.ReadDocument([]byte(tc.doc), "test")
		if err != nil {
			t.Fatal(err)
		}
		list, err := process.Parse(m["processors"], "processors", process.Options{})
		if err == nil {
			_, err = process.Compile("app", list, process.Options{})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// TestNoProcessorsCostsNothing: an input without processors has no chain,
// and a nil chain's run does nothing.
func TestNoProcessorsCostsNothing(t *testing.T) {
	c, err := process.Compile("app", nil, process.Options{})
	if err != nil || c != nil {
		t.Fatalf("Compile(nil) = %v, %v; want nil, nil", c, err)
	}
	p := packageOf(t, parse.Config{Format: "raw"}, "a\n")
	c.Start(p.Origin, nil).Apply(p, time.Now())
	if len(p.Records) != 1 {
		t.Errorf("%d records, want 1", len(p.Records))
	}
}
