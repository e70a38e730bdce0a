package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"
)

// TestProcessorsEndToEnd: an app log with health checks, DEBUG lines,
// tokens, card numbers and e-mail addresses goes through drop, keep,
// redact and set to a file sink, and a noisy log through limit. The sink
// holds exactly the records expected, no secret is in the sink file or
// the agent's log, the counters in /metrics match what was dropped and
// redacted, and the checkpoints pass the dropped records (the app log
// ends with health checks).
func TestProcessorsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	out, state := filepath.Join(dir, "out.ndjson"), filepath.Join(dir, "state")
	doc := fmt.Sprintf(`version: 1
sink: file://%[1]s/out.ndjson
state-dir: %[1]s/state
batch-wait: 50ms
scan-interval: 50ms
inputs:
  - name: app
    files: [%[1]s/app.log]
    format: json
    processors:
      - drop: {match: 'GET /healthz'}
      - keep: {min-severity: INFO}
  - name: noisy
    files: [%[1]s/noisy.log]
    processors:
      - limit: {lines-per-second: 0.001, burst: 5}
processors:
  - redact: {builtin: [all]}
  - set: {attributes: {team: payments}}
`, dir)
	cfg := filepath.Join(dir, "loglet.yaml")
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	const (
		card  = "4111 1111 1111 1111"
		email = "jane@example.com"
		jwt   = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
		token = "abcDEF123.xyz"
	)
	secrets := []string{card, email, jwt, token, "hunter2"}
	const n = 100
	var app, want strings.Builder
	var healthz, debug, kept int
	for i := range n {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&app, `{"level":"info","msg":"GET /healthz 200","i":%d}`+"\n", i)
			healthz++
		case 1:
			fmt.Fprintf(&app, `{"level":"debug","msg":"cache miss %d"}`+"\n", i)
			debug++
		case 2:
			fmt.Fprintf(&app, `{"level":"warn","msg":"order %d charged to %s","user":"%s"}`+"\n", i, card, email)
			fmt.Fprintf(&want, "order %d charged to [REDACTED]|user=[REDACTED]\n", i)
			kept++
		case 3:
			fmt.Fprintf(&app, `{"level":"error","msg":"call %d failed: Authorization: Bearer %s","session":"%s","password":"hunter2"}`+"\n", i, token, jwt)
			fmt.Fprintf(&want, "call %d failed: Authorization: Bearer [REDACTED]|password=[REDACTED] session=[REDACTED]\n", i)
			kept++
		case 4:
			fmt.Fprintf(&app, `{"level":"info","msg":"order %d placed"}`+"\n", i)
			fmt.Fprintf(&want, "order %d placed|\n", i)
			kept++
		}
	}
	app.WriteString(`{"level":"info","msg":"GET /healthz 200"}` + "\n")
	healthz++
	var noisy strings.Builder
	for i := range 50 {
		fmt.Fprintf(&noisy, "noisy line %d\n", i)
	}
	for name, content := range map[string]string{"app.log": app.String(), "noisy.log": noisy.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	a := startAgent(t, "--config", cfg, "--metrics-addr", "127.0.0.1:0")
	addr := a.metricsAddr(t)
	poll.Until(t, 20*time.Second, "every kept record sent", func() bool {
		v, _ := metric(t, addr, "loglet_records_sent_total")
		return v >= float64(kept+5)
	})
	counters := map[string]float64{
		`loglet_records_dropped_total{input="app",processor="drop",reason="match"}`:    float64(healthz),
		`loglet_records_dropped_total{input="app",processor="keep",reason="severity"}`: float64(debug),
		`loglet_records_dropped_total{input="noisy",processor="limit",reason="rate"}`:  45,
		`loglet_redactions_total{input="app",rule="credit-card"}`:                      n / 5,
		`loglet_redactions_total{input="app",rule="email"}`:                            n / 5,
		`loglet_redactions_total{input="app",rule="bearer-token"}`:                     n / 5,
		`loglet_redactions_total{input="app",rule="password-field"}`:                   n / 5,
		`loglet_redactions_total{input="app",rule="jwt"}`:                              n / 5,
		`loglet_redactions_total{input="noisy",rule="email"}`:                          0,
		`loglet_records_sent_total`:                                                    float64(kept + 5),
	}
	for name, want := range counters {
		if got, ok := metric(t, addr, name); !ok || got != want {
			t.Errorf("%s = %v (present: %v), want %v", name, got, ok, want)
		}
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d", code)
	}

	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the sink file holds the secret %q", s)
		}
		if strings.Contains(a.stderr.String(), s) {
			t.Errorf("the agent's log holds the secret %q", s)
		}
	}
	var got strings.Builder
	var noisyGot []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var r struct {
			Body       string            `json:"body"`
			Attributes map[string]any    `json:"attributes"`
			Resource   map[string]string `json:"resource"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%v: %s", err, sc.Bytes())
		}
		if r.Attributes["team"] != "payments" {
			t.Errorf("record %q: team %v, want payments (set)", r.Body, r.Attributes["team"])
		}
		if r.Attributes["loglet.input"] == "noisy" {
			noisyGot = append(noisyGot, r.Body)
			continue
		}
		var extra []string
		for _, k := range []string{"password", "session", "user"} {
			if v, ok := r.Attributes[k]; ok {
				extra = append(extra, fmt.Sprintf("%s=%v", k, v))
			}
		}
		fmt.Fprintf(&got, "%s|%s\n", r.Body, strings.Join(extra, " "))
	}
	if got.String() != want.String() {
		t.Errorf("app records:\n%s\nwant:\n%s", got.String(), want.String())
	}
	if strings.Join(noisyGot, ",") != "noisy line 0,noisy line 1,noisy line 2,noisy line 3,noisy line 4" {
		t.Errorf("noisy records %q, want the first 5 (burst)", noisyGot)
	}
	if c := strings.Count(a.stderr.String(), "dropped records over the rate"); c != 1 {
		t.Errorf("%d limit warnings in the log, want 1", c)
	}
	for _, cp := range checkpointtest.Load(t, state) {
		fi, err := os.Stat(cp.Path)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Offset != fi.Size() {
			t.Errorf("%s: checkpoint at %d of %d bytes: dropped records must still advance it", cp.Path, cp.Offset, fi.Size())
		}
	}
}
