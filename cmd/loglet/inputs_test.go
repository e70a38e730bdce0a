package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
)

// TestInputsEachWithItsFormat: one agent with a configuration document
// reads a syslog file (RFC 3164 and 5424 lines), a JSON log and an nginx
// access log, each parsed by its own input's format, into one sink; it is
// killed with SIGKILL halfway and started again. Every line arrives once
// or more, every record carries its input's name as loglet.input, and
// each has the time and severity its format gives.
func TestInputsEachWithItsFormat(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"syslog", "app", "nginx"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, state := filepath.Join(dir, "out.ndjson"), filepath.Join(dir, "state")
	doc := fmt.Sprintf(`version: 1
sink: file://%[1]s/out.ndjson
state-dir: %[1]s/state
batch-wait: 50ms
scan-interval: 50ms
inputs:
  - name: sys
    files: [%[1]s/syslog/messages]
    format: syslog
  - name: app
    files: [%[1]s/app/*.json]
    exclude: ["*.gz.json"]
    format: json
    time-key: ts
  - name: web
    files: [%[1]s/nginx/access.log]
    format: nginx
    time-key: time_local
    time-format: 02/Jan/2006:15:04:05 -0700
    route: access
`, dir)
	cfg := filepath.Join(dir, "loglet.yaml")
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 200
	// Each line holds a marker the test finds it by, in its body.
	sys := func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf("<11>Dec  1 10:00:%02d web1 shop[42]: sys-%d payment failed", i%60, i)
		}
		return fmt.Sprintf("<14>1 2026-12-01T10:00:%02d.5Z web1 shop 42 ID7 - sys-%d order placed", i%60, i)
	}
	app := func(i int) string {
		return fmt.Sprintf(`{"ts":"2026-12-01T11:00:%02dZ","level":"warn","msg":"app-%d slow query"}`, i%60, i)
	}
	excluded := func(i int) string { return fmt.Sprintf(`{"msg":"excluded gz-%d"}`, i) }
	web := func(i int) string {
		return fmt.Sprintf(`10.0.0.1 - - [01/Dec/2026:12:00:%02d +0000] "GET /web-%d HTTP/1.1" 200 512 "-" "curl/8"`, i%60, i)
	}
	write := func(from, to int) {
		t.Helper()
		for _, f := range []struct {
			path string
			line func(int) string
		}{{"syslog/messages", sys}, {"app/app.json", app}, {"app/old.gz.json", excluded}, {"nginx/access.log", web}} {
			var b strings.Builder
			for i := from; i < to; i++ {
				b.WriteString(f.line(i) + "\n")
			}
			fh, err := os.OpenFile(filepath.Join(dir, f.path), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.WriteString(b.String()); err != nil {
				t.Fatal(err)
			}
			fh.Close()
		}
	}
	write(0, n/2)
	a := startAgent(t, "--config", cfg)
	poll.Until(t, 30*time.Second, "the first lines at the sink", func() bool {
		recs, _ := readSinkFileTorn(t, out)
		return len(recs) >= n/2
	})
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	write(n/2, n)
	startAgent(t, "--config", cfg)

	type got struct {
		input, time, severity string
		n                     int
	}
	var seen map[string]*got
	poll.Until(t, 30*time.Second, "every line of every input at the sink", func() bool {
		seen = map[string]*got{}
		data, err := os.ReadFile(out)
		if err != nil {
			return false
		}
		for _, l := range strings.Split(string(data), "\n") {
			var r struct {
				Time, Severity, Body string
				Attributes           map[string]any
			}
			if json.Unmarshal([]byte(l), &r) != nil {
				continue // a record torn by the kill
			}
			in, _ := r.Attributes["loglet.input"].(string)
			key := r.Body
			if m, ok := r.Attributes["msg"].(string); ok {
				key = m
			}
			if p, ok := r.Attributes["path"].(string); ok {
				key = p
			}
			g := seen[marker(key)]
			if g == nil {
				g = &got{input: in, time: r.Time, severity: r.Severity}
				seen[marker(key)] = g
			}
			g.n++
		}
		return len(seen) >= 3*n
	})
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("state dir from the document: %v", err)
	}
	for i := range n {
		for _, w := range []struct {
			key, input, time, severity string
		}{
			{fmt.Sprintf("sys-%d", i), "sys", map[bool]string{true: fmt.Sprintf("10:00:%02d", i%60), false: fmt.Sprintf("2026-12-01T10:00:%02d.500000000Z", i%60)}[i%2 == 0],
				map[bool]string{true: "ERROR", false: "INFO"}[i%2 == 0]},
			{fmt.Sprintf("app-%d", i), "app", fmt.Sprintf("2026-12-01T11:00:%02d.000000000Z", i%60), "WARN"},
			{fmt.Sprintf("/web-%d", i), "web", fmt.Sprintf("2026-12-01T12:00:%02d.000000000Z", i%60), ""},
		} {
			g := seen[w.key]
			switch {
			case g == nil:
				t.Errorf("%s: not at the sink", w.key)
			case g.input != w.input:
				t.Errorf("%s: loglet.input %q, want %q", w.key, g.input, w.input)
			case !strings.Contains(g.time, w.time):
				t.Errorf("%s: time %q, want the line's own (%s)", w.key, g.time, w.time)
			case g.severity != w.severity:
				t.Errorf("%s: severity %q, want %q", w.key, g.severity, w.severity)
			}
		}
	}
	if len(seen) != 3*n {
		t.Errorf("%d distinct lines at the sink, want %d: the excluded *.gz.json file was read?", len(seen), 3*n)
	}
}

// marker is the first word of s that names a test line (sys-1, app-2,
// /web-3).
func marker(s string) string {
	for _, w := range strings.Fields(s) {
		if strings.HasPrefix(w, "sys-") || strings.HasPrefix(w, "app-") || strings.HasPrefix(w, "/web-") {
			return w
		}
	}
	return s
}
