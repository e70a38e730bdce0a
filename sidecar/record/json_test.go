package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAppendString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "GET /healthz 200", `"GET /healthz 200"`},
		{"long plain", strings.Repeat("abcdefgh", 9) + "x", `"` + strings.Repeat("abcdefgh", 9) + `x"`},
		{"quote and backslash", `say "hi" \o/`, `"say \"hi\" \\o/"`},
		{"quote at every word position", `0123456"`, `"0123456\""`},
		{"controls", "a\tb\r\nc\x00\x1f", `"a\tb\r\nc\u0000\u001f"`},
		{"utf8", "héllo wörld ✓", `"héllo wörld ✓"`},
		{"invalid utf8 replaced per byte", "ok\xff\xfeok", `"ok\ufffd\ufffdok"`},
		{"truncated rune", "abc\xe2\x9c", `"abc\ufffd\ufffd"`},
		{"del is plain", "a\x7fb", "\"a\x7fb\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendString(nil, []byte(tc.in)))
			if got != tc.want {
				t.Fatalf("AppendString(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzAppendString checks that any bytes become valid JSON that decodes to
// the input with each invalid UTF-8 byte replaced by U+FFFD.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain text line", "\"\\\x00\xff", "héllo\xe2\x9c", strings.Repeat("x", 17) + "\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := AppendString(nil, in)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("AppendString(%q) = %s: not JSON: %v", in, out, err)
		}
		if want := string([]rune(string(in))); got != want {
			t.Fatalf("AppendString(%q) decodes to %q, want %q", in, got, want)
		}
	})
}

func TestAppendNDJSON(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	data := "first\"lineseconda long line"
	p := &Package{
		Origin: NewOrigin("0123456789abcdef", "/var/log/app/a.log", []KeyValue{{"host.name", "node-1"}}),
		ID:     7,
		Data:   []byte(data),
		Records: []Entry{
			{Start: 0, End: 10},
			{Start: 10, End: 16},
			{Start: 16, End: 22, Flags: FlagSplit, Part: 1},
			{Start: 22, End: uint32(len(data)), Flags: FlagSplit | FlagLastPart, Part: 2},
		},
		Spans: []Span{{First: 0, Time: t0}, {First: 2, Time: t0.Add(time.Second)}},
	}
	lines := strings.Split(strings.TrimSuffix(string(p.AppendNDJSON(nil)), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	type rec struct {
		Time       string         `json:"time"`
		Observed   string         `json:"observed_time"`
		Body       string         `json:"body"`
		Attributes map[string]any `json:"attributes"`
		Resource   map[string]any `json:"resource"`
	}
	want := []struct {
		body, time string
		part       float64
		last       any
	}{
		{`first"line`, "2026-11-25T10:00:00.123456789Z", 0, nil},
		{"second", "2026-11-25T10:00:00.123456789Z", 0, nil},
		{"a long", "2026-11-25T10:00:01.123456789Z", 1, false},
		{" line", "2026-11-25T10:00:01.123456789Z", 2, true},
	}
	for i, line := range lines {
		var r rec
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d not JSON: %v\n%s", i, err, line)
		}
		w := want[i]
		if r.Body != w.body || r.Time != w.time || r.Observed != w.time {
			t.Errorf("line %d: body %q time %s observed %s, want %q %s", i, r.Body, r.Time, r.Observed, w.body, w.time)
		}
		a := r.Attributes
		if a["log.file.path"] != "/var/log/app/a.log" || a["loglet.source_id"] != "0123456789abcdef" ||
			a["loglet.package_id"] != float64(7) || a["loglet.offset"] != float64(i) {
			t.Errorf("line %d: attributes %v", i, a)
		}
		if w.part != 0 && (a["loglet.split.part"] != w.part || a["loglet.split.last"] != w.last) {
			t.Errorf("line %d: split attributes %v, want part %v last %v", i, a, w.part, w.last)
		}
		if w.part == 0 && a["loglet.split.part"] != nil {
			t.Errorf("line %d: unsplit record marked split: %v", i, a)
		}
		if r.Resource["host.name"] != "node-1" {
			t.Errorf("line %d: resource %v", i, r.Resource)
		}
	}
}

func BenchmarkAppendNDJSON(b *testing.B) {
	line := `10.1.2.3 - - [25/Nov/2026:10:00:00 +0000] "GET /api/v1/orders?id=12345 HTTP/1.1" 200 1234 "https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36" rt=0.123`
	p := &Package{Origin: NewOrigin("0123456789abcdef", "/var/log/nginx/access.log", []KeyValue{{"host.name", "node-1"}}), Spans: []Span{{Time: time.Now()}}}
	for len(p.Data) < 512<<10 {
		start := len(p.Data)
		p.Data = append(p.Data, line...)
		p.Records = append(p.Records, Entry{Start: uint32(start), End: uint32(len(p.Data))})
	}
	b.SetBytes(int64(len(p.Data)))
	var buf []byte
	for b.Loop() {
		buf = p.AppendNDJSON(buf[:0])
	}
}

// TestWriteNDJSON: written in chunks, a package's NDJSON is byte for byte
// what AppendNDJSON gives, whatever its size against the chunk; a writer's
// error stops the encoding and is returned.
func TestWriteNDJSON(t *testing.T) {
	line := strings.Repeat("x", 190)
	for _, records := range []int{0, 1, 150, 1000, 5000} {
		p := &Package{Origin: NewOrigin("0123456789abcdef", "/var/log/app.log", nil), ID: 3,
			Spans: []Span{{Time: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}}}
		for i := range records {
			start := len(p.Data)
			p.Data = fmt.Appendf(p.Data, "%06d %s", i, line)
			p.Records = append(p.Records, Entry{Start: uint32(start), End: uint32(len(p.Data))})
		}
		var w bytes.Buffer
		buf, err := p.WriteNDJSON(&w, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := p.AppendNDJSON(nil); !bytes.Equal(w.Bytes(), want) {
			t.Errorf("%d records: written %d bytes differ from the %d appended", records, w.Len(), len(want))
		}
		if len(buf) != 0 || cap(buf) > 2*ndjsonChunk {
			t.Errorf("%d records: buffer returned with %d bytes, capacity %d: it should be emptied and about a chunk", records, len(buf), cap(buf))
		}
	}
	p := &Package{Origin: NewOrigin("s", "/a.log", nil), Data: []byte(strings.Repeat("y", 100<<10)), Records: []Entry{{End: 100 << 10}, {End: 100 << 10}}}
	wantErr := errors.New("disk full")
	if _, err := p.WriteNDJSON(failWriter{wantErr}, nil); !errors.Is(err, wantErr) {
		t.Errorf("a failing writer: %v, want %v", err, wantErr)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
