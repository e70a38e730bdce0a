package source

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/decode"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
)

// TestWideLinesAcrossReads: a UTF-16 newline whose two bytes arrive in
// two reads (and a BOM that arrives a byte at a time) still ends its line,
// and over-long UTF-16 lines are cut at code units, never between the
// halves of a surrogate pair.
func TestWideLinesAcrossReads(t *testing.T) {
	tests := []struct {
		name   string
		enc    string
		chunks []string
		max    int
		want   []string // decoded bodies
	}{
		{"le newline split", "utf-16le", []string{"h\x00\n", "\x00i\x00\n\x00"}, 64, []string{"h", "i"}},
		{"be newline split", "utf-16be", []string{"\x00h\x00", "\n\x00i\x00\n"}, 64, []string{"h", "i"}},
		{"bom a byte at a time", "utf-8", []string{"\xff", "\xfe", "h\x00\n\x00"}, 64, []string{"h"}},
		{"utf-8 bom a byte at a time", "utf-8", []string{"\xef", "\xbb", "\xbf", "h\n"}, 64, []string{"h"}},
		// 20 bytes of "ab" then a surrogate pair over bytes 20-23: a cut at
		// 22 would split it, so the first part ends at 20.
		{"long line cut before a pair", "utf-16le", []string{strings.Repeat("a\x00", 10) + "\x3d\xd8\x00\xde" + "z\x00\n\x00"}, 22,
			[]string{strings.Repeat("a", 10), "😀z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := parse.Compile(parse.Config{Encoding: tt.enc, MaxLineBytes: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "w.log")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			var pkgs []*record.Package
			emit := func(_ context.Context, p *record.Package) error { pkgs = append(pkgs, p); return nil }
			c := Config{BatchBytes: 1024, BatchWait: time.Hour, MaxLineBytes: tt.max, Poll: time.Hour, Parse: spec}
			file := NewFile(c, f, path, record.NewOrigin("s", path, nil), State{}, emit, record.NewPool(InitialBufferBytes, BufferBytes(1024, tt.max, false)), &Stats{})
			w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ctx := context.Background()
			for _, chunk := range tt.chunks {
				if _, err := w.WriteString(chunk); err != nil {
					t.Fatal(err)
				}
				if _, err := file.readAvailable(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := file.flush(ctx, true, false); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pkgs {
				for i := range p.Records {
					got = append(got, string(p.Body(i)))
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("records %q, want %q", got, tt.want)
			}
		})
	}
}

// TestInvalidTextCountedAndLoggedOnce: records whose text is not valid
// UTF-8 are counted (the agent's total and the source's), and the
// source's first is logged once, with the encoding it looks like.
func TestInvalidTextCountedAndLoggedOnce(t *testing.T) {
	spec, err := parse.Compile(parse.Config{MaxLineBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	// 你好世界 and 谢谢 in GBK, a valid line, and GBK again.
	content := "\xc4\xe3\xba\xc3\xca\xc0\xbd\xe7\nok\n\xd0\xbb\xd0\xbb \xc4\xe3\n"
	path := filepath.Join(t.TempDir(), "gbk.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	c := Config{BatchBytes: 16, BatchWait: time.Hour, MaxLineBytes: 1024, Poll: time.Hour, Parse: spec, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	stats := &Stats{}
	emit := func(context.Context, *record.Package) error { return nil }
	file := NewFile(c, f, path, record.NewOrigin("s", path, nil), State{}, emit, record.NewPool(InitialBufferBytes, BufferBytes(16, 1024, false)), stats)
	file.SetOnce()
	if err := file.Run(context.Background(), context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, m := stats.InvalidText.Load(), file.InvalidRecords(); n != 2 || m != 2 {
		t.Errorf("counted %d (stats) and %d (source), want 2 records", n, m)
	}
	out := logs.String()
	if strings.Count(out, "level=WARN") != 1 || !strings.Contains(out, "looks like gbk; set encoding: gbk") || !strings.Contains(out, path) {
		t.Errorf("log %q: want one warning naming the file and the hint", out)
	}
}

// FuzzSplitWide: a UTF-16LE file (with its BOM) of any bytes reads as the
// lines of its whole text decoded at once: split at newlines only, never
// inside a character, a CR before a newline and a BOM at a line's start
// left out, a bad code unit a U+FFFD in its own line and nowhere else.
func FuzzSplitWide(f *testing.F) {
	f.Add([]byte("h\x00\n\x00i\x00\r\x00\n\x00"), 5)
	f.Add([]byte("\x0a\x01\x0a\x00\x3d\xd8\x00\xde\n\x00\x3d\xd8\n\x00z"), 1)
	f.Add([]byte("\xff\xfea\x00\n\x00\xff\xfeb\x00"), 64)
	f.Fuzz(func(t *testing.T, content []byte, batch int) {
		batch = 2 + abs(batch)%64
		spec, err := parse.Compile(parse.Config{Encoding: "utf-16le", MaxLineBytes: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "w.log")
		if err := os.WriteFile(path, append([]byte{0xff, 0xfe}, content...), 0o644); err != nil {
			t.Fatal(err)
		}
		c := Config{BatchBytes: batch, BatchWait: time.Hour, MaxLineBytes: 1 << 16, Poll: time.Hour, Parse: spec}
		recs, _ := readFile(t, path, c, State{})
		var got []string
		for _, r := range recs {
			got = append(got, r.body)
		}
		// The whole text decoded at once, split at its newlines.
		dec, _ := decode.Lookup("utf-16le")
		text, _ := dec.NewDecoder().Append(nil, content)
		var want []string
		if len(content) > 0 {
			lines := strings.Split(string(text), "\n")
			terminated := strings.HasSuffix(string(text), "\n")
			if terminated {
				lines = lines[:len(lines)-1]
			}
			for i, l := range lines {
				if i < len(lines)-1 || terminated {
					l = strings.TrimSuffix(l, "\r") // a CR only before a newline
				}
				want = append(want, strings.TrimPrefix(l, "\ufeff"))
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != len(want) {
			t.Fatalf("content % x (batch %d): records %q, want %q", content, batch, got, want)
		}
	})
}
