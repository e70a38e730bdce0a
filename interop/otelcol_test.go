//go:build interop

package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
)

// TestOtelcolExports: the OpenTelemetry Collector reads a file with its
// file_log receiver (a regex parser for time, severity and an attribute;
// an add operator for the resource) and exports with two otlp_http
// exporters, protobuf and JSON, each to an http input of the agent. Every
// line arrives once on each input with its body, time, severity, the
// collector's resource and its attributes (issue 20, must show 3).
func TestOtelcolExports(t *testing.T) {
	otelcol := client(t, "OTELCOL", "hack/otelcol.sh")
	dir := t.TempDir()
	const total = 1000
	in := filepath.Join(dir, "inventory.log")
	levels := []string{"INFO", "WARN", "ERROR"}
	var b strings.Builder
	for i := range total {
		fmt.Fprintf(&b, "2026-12-01T10:%02d:%02d.250Z %s order %04d shipped user=u%d\n", i/60%60, i%60, levels[i%3], i, i%7)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "out.ndjson")
	a := startAgent(t, `{"sink":"file://`+out+`","state-dir":"`+filepath.Join(dir, "state")+`","inputs":[
		{"name":"otlp-proto","http":{"listen":"127.0.0.1:0"}},
		{"name":"otlp-json","http":{"listen":"127.0.0.1:0"}}]}`)
	addrs := a.listening(t, 2)

	// The collector's own metrics server is off: it would take :8888,
	// which two runs at once would fight over.
	conf := filepath.Join(dir, "otelcol.yaml")
	writeFile(t, conf, `receivers:
  file_log:
    include: ["`+in+`"]
    start_at: beginning
    include_file_path: true
    operators:
      - type: regex_parser
        regex: '^(?P<time>\S+) (?P<level>[A-Z]+) (?P<msg>.*) user=(?P<user>\S+)$'
        timestamp:
          parse_from: attributes.time
          layout_type: gotime
          layout: '2006-01-02T15:04:05.000Z07:00'
        severity:
          parse_from: attributes.level
      - type: move
        from: attributes.msg
        to: body
      - type: remove
        field: attributes.time
      - type: remove
        field: attributes.level
      - type: add
        field: resource["service.name"]
        value: inventory
exporters:
  otlp_http:
    endpoint: http://`+addrs["otlp-proto"]+`
  otlp_http/json:
    endpoint: http://`+addrs["otlp-json"]+`
    encoding: json
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [file_log]
      exporters: [otlp_http, otlp_http/json]
`)
	startProcess(t, "otelcol", nil, otelcol, "--config", conf)

	var recs []record
	poll.Until(t, 60*time.Second, "every line on both inputs", func() bool { recs = readSink(t, out); return len(recs) >= 2*total })
	type key struct{ input, body string }
	got := map[key]int{}
	bad := 0
	for _, r := range recs {
		input, _ := r.Attributes["loglet.input"].(string)
		got[key{input, r.Body}]++
		var i, minute, second int
		if _, err := fmt.Sscanf(r.Body, "order %d shipped", &i); err != nil {
			t.Errorf("%s: a body no line of the file holds: %+v", input, r)
			continue
		}
		minute, second = i/60%60, i%60
		want := map[string]any{"user": fmt.Sprintf("u%d", i%7), "log.file.path": in, "log.file.name": "inventory.log",
			"otel.scope.name": "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver"}
		wantTime := fmt.Sprintf("2026-12-01T10:%02d:%02d.250000000Z", minute, second)
		ok := r.Severity == levels[i%3] && r.Time == wantTime && r.Resource["service.name"] == "inventory"
		for k, v := range want {
			ok = ok && r.Attributes[k] == v
		}
		if !ok {
			if bad++; bad <= 5 {
				t.Errorf("%s %q: severity %s, time %s, resource %v, attributes %v; want %s, %s, service.name inventory, %v",
					input, r.Body, r.Severity, r.Time, r.Resource, r.Attributes, levels[i%3], wantTime, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d records without the collector's fields", bad, len(recs))
	}
	for _, input := range []string{"otlp-proto", "otlp-json"} {
		for i := range total {
			if n := got[key{input, fmt.Sprintf("order %04d shipped", i)}]; n != 1 {
				t.Errorf("%s: line %d arrived %d times, want once", input, i, n)
			}
		}
	}
}
