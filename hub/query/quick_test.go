package query

import (
	"encoding/json"
	"testing"
	"time"
)

// agentLine is a record line in the agent's key order (time, observed
// time, body, severity when there is one, attributes, resource), as
// record.AppendNDJSON writes it.
func agentLine(t testing.TB, tm, body, sev string, attrs map[string]any) []byte {
	t.Helper()
	type line struct {
		Time       string            `json:"time"`
		Observed   string            `json:"observed_time"`
		Body       string            `json:"body"`
		Severity   string            `json:"severity,omitempty"`
		Attributes map[string]any    `json:"attributes"`
		Resource   map[string]string `json:"resource"`
	}
	b, err := json.Marshal(line{tm, tm, body, sev, attrs, map[string]string{"k8s.namespace.name": "shop"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestQuickFields: the time and severity read without decoding are those
// a full decode gives, whatever the body and attributes hold; a line of
// another shape is left to the full decode.
func TestQuickFields(t *testing.T) {
	const tm = "2026-12-01T10:00:00.000000000Z"
	for _, tc := range []struct {
		name, body, sev string
		attrs           map[string]any
		quick           bool // read without the full decode
	}{
		{"plain", "hello", "ERROR", nil, true},
		{"no severity", "hello", "", map[string]any{"a": "b"}, true},
		{"severity text in the body", `x "severity":"FATAL" y`, "INFO", nil, true},
		{"severity text in the body, none of its own", `"severity":"FATAL"`, "", nil, true},
		{"severity attribute, none of its own", "b", "", map[string]any{"severity": "FATAL", "level": "fatal"}, false},
		{"severity attribute and its own", "b", "ERROR", map[string]any{"severity": "FATAL"}, true},
		{"nested severity attribute", "b", "WARN", map[string]any{"x": map[string]any{"severity": "FATAL"}}, true},
		{"escapes in the body", "a\\\"b\n\"severity\\\":\"", "DEBUG", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := agentLine(t, tm, tc.body, tc.sev, tc.attrs)
			gotT, gotS, ok := quickFields(line)
			var full Record
			if err := json.Unmarshal(line, &full); err != nil {
				t.Fatal(err)
			}
			if ok != tc.quick || (ok && (gotT != full.Time || gotS != full.Severity)) {
				t.Errorf("%s: quick %q %q %v, full decode %q %q; want quick %v", line, gotT, gotS, ok, full.Time, full.Severity, tc.quick)
			}
		})
	}
	for _, line := range []string{
		`{"body":"x","time":"2026-12-01T10:00:00Z","severity":"ERROR"}`,
		`{"time":"2026-12-01T10:00:00Z","attributes":{},"severity":"ERROR"}`,
		`{"time":"2026-12-01\u0054","severity":"ERROR"}`,
		`{"time":"2026-12-01T10:00:00Z","severity":"ERR\u004fR"}`,
		`{"time":"unterminated`,
		`{"time":"t","severity":"unterminated`,
	} {
		if tm, sev, ok := quickFields([]byte(line)); ok {
			t.Errorf("%s: quick read %q %q; want it left to the full decode", line, tm, sev)
		}
	}
}

// FuzzQuickFields: on any line quickFields does not panic; on a line of
// the agent's shape it reads what a full decode reads.
func FuzzQuickFields(f *testing.F) {
	f.Add([]byte(`{"time":"t","severity":"x"}`), "body", "ERROR", "k", "v")
	f.Add([]byte(`{"time":"t\"","severity`), `"severity":"X"`, "", "severity", "FATAL")
	f.Add([]byte{}, "\\\"", "W\\", `"attributes":`, `"severity":"`)
	f.Fuzz(func(t *testing.T, raw []byte, body, sev, key, value string) {
		quickFields(raw)
		line := agentLine(t, "2026-12-01T10:00:00Z", body, sev, map[string]any{key: value})
		gotT, gotS, ok := quickFields(line)
		if !ok {
			return // left to the full decode: always right
		}
		var full Record
		if err := json.Unmarshal(line, &full); err != nil {
			t.Fatal(err)
		}
		if gotT != full.Time || gotS != full.Severity {
			t.Fatalf("%s: quick %q %q, full decode %q %q", line, gotT, gotS, full.Time, full.Severity)
		}
	})
}

// FuzzParseTime: ParseTime reads what time.Parse reads, and refuses what
// it refuses.
func FuzzParseTime(f *testing.F) {
	f.Add("2026-12-01T10:00:00.123456789Z")
	f.Add("2026-02-29T10:00:00.000000000Z")
	f.Add("2024-02-29T23:59:59.999999999Z")
	f.Add("2026-13-01T10:00:00.000000000Z")
	f.Add("2026-12-01T10:00:00Z")
	f.Add("2026-12-01T10:00:00.000000000+01:00")
	f.Add("2026-12-01T24:00:00.000000000Z")
	f.Add("2026-12-01T10:00:60.000000000Z")
	f.Add("+026-12-01T10:00:00.000000000Z")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		want, werr := time.Parse(time.RFC3339Nano, s)
		if (err != nil) != (werr != nil) || (err == nil && !got.Equal(want)) {
			t.Fatalf("ParseTime(%q) = %v, %v; time.Parse: %v, %v", s, got, err, want, werr)
		}
	})
}
