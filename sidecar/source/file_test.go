package source

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/record"
)

type got struct {
	body  string
	flags record.Flag
	part  uint16
}

// readOnce reads content from a real file with File in --once mode and
// returns the records of every package, and the packages.
func readOnce(t *testing.T, content string, cfg Config) ([]got, []*record.Package) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return readFile(t, path, cfg, State{})
}

func readFile(t *testing.T, path string, cfg Config, st State) ([]got, []*record.Package) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Identity.Inode == 0 {
		st.Identity, _, err = Identify(f)
		if err != nil {
			t.Fatal(err)
		}
	}
	var pkgs []*record.Package
	emit := func(_ context.Context, p *record.Package) error { pkgs = append(pkgs, p); return nil }
	file := NewFile(cfg, f, path, record.NewOrigin("src", path, nil), st, emit, record.NewPool(InitialBufferBytes, BufferBytes(cfg.BatchBytes, cfg.MaxLineBytes, false)), &Stats{})
	file.SetOnce()
	if err := file.Run(context.Background(), context.Background()); err != nil {
		t.Fatal(err)
	}
	var recs []got
	for _, p := range pkgs {
		for i, e := range p.Records {
			recs = append(recs, got{string(p.Body(i)), e.Flags, e.Part})
		}
	}
	return recs, pkgs
}

func cfg(batch, maxLine int) Config {
	return Config{BatchBytes: batch, BatchWait: time.Second, MaxLineBytes: maxLine, Poll: time.Second}
}

func TestFileRecords(t *testing.T) {
	split := record.FlagSplit
	last := record.FlagSplit | record.FlagLastPart
	tests := []struct {
		name    string
		content string
		cfg     Config
		want    []got
	}{
		{"lines", "a\nbb\nccc\n", cfg(1024, 64), []got{{"a", 0, 0}, {"bb", 0, 0}, {"ccc", 0, 0}}},
		{"crlf", "a\r\nb\r\n", cfg(1024, 64), []got{{"a", 0, 0}, {"b", 0, 0}}},
		{"empty lines kept", "\n\nx\n", cfg(1024, 64), []got{{"", 0, 0}, {"", 0, 0}, {"x", 0, 0}}},
		{"unterminated last line shipped in once mode", "a\nb", cfg(1024, 64), []got{{"a", 0, 0}, {"b", 0, 0}}},
		{"empty file", "", cfg(1024, 64), nil},
		{"long line split and marked", strings.Repeat("x", 40) + "\nok\n", cfg(1024, 16),
			[]got{{strings.Repeat("x", 16), split, 1}, {strings.Repeat("x", 16), split, 2}, {strings.Repeat("x", 8), last, 3}, {"ok", 0, 0}}},
		{"line of exactly the limit is whole", strings.Repeat("y", 16) + "\n", cfg(1024, 16),
			[]got{{strings.Repeat("y", 16), 0, 0}}},
		{"line one over the limit", strings.Repeat("y", 17) + "\n", cfg(1024, 16),
			[]got{{strings.Repeat("y", 16), split, 1}, {"y", last, 2}}},
		{"split keeps runes whole", strings.Repeat("é", 10) + "\n", cfg(1024, 16),
			[]got{{strings.Repeat("é", 8), split, 1}, {strings.Repeat("é", 2), last, 2}}},
		{"lines across many small packages", "1\n2\n3\n4\n5\n6\n", cfg(4, 16),
			[]got{{"1", 0, 0}, {"2", 0, 0}, {"3", 0, 0}, {"4", 0, 0}, {"5", 0, 0}, {"6", 0, 0}}},
		{"binary garbage kept", "\x00\xff\xfe\x01\n", cfg(1024, 64), []got{{"\x00\xff\xfe\x01", 0, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, _ := readOnce(t, tc.content, tc.cfg)
			if len(recs) != len(tc.want) {
				t.Fatalf("got %d records %+v, want %d %+v", len(recs), recs, len(tc.want), tc.want)
			}
			for i := range recs {
				if recs[i] != tc.want[i] {
					t.Errorf("record %d = %+v, want %+v", i, recs[i], tc.want[i])
				}
			}
		})
	}
}

func TestFilePackagesAndOffsets(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		b.WriteString(strings.Repeat("z", i%50))
		b.WriteByte('\n')
	}
	content := b.String()
	recs, pkgs := readOnce(t, content, cfg(1000, 256))
	if len(recs) != 1000 {
		t.Fatalf("got %d records, want 1000", len(recs))
	}
	var prevEnd int64
	for i, p := range pkgs {
		if p.ID != uint64(i) {
			t.Errorf("package %d has id %d", i, p.ID)
		}
		if len(p.Data) > 1000 {
			t.Errorf("package %d holds %d bytes, over batch-bytes 1000", i, len(p.Data))
		}
		// Each package ends where the next begins: the checkpoint offset
		// of one is the first byte of the next.
		size := int64(len(p.Data)) // the lines as read, newlines included
		if p.EndOffset != prevEnd+size {
			t.Errorf("package %d ends at %d, want %d", i, p.EndOffset, prevEnd+size)
		}
		prevEnd = p.EndOffset
	}
	if last := pkgs[len(pkgs)-1]; !last.End || last.EndOffset != int64(len(content)) {
		t.Errorf("last package End=%v EndOffset=%d, want End at %d", last.End, last.EndOffset, len(content))
	}
}

func TestFileResumesFromOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	recs, pkgs := readFile(t, path, cfg(1024, 64), State{Offset: 4, NextPackageID: 9})
	if len(recs) != 2 || recs[0].body != "two" || recs[1].body != "three" {
		t.Fatalf("from offset 4 got %+v, want two, three", recs)
	}
	if pkgs[0].ID != 9 {
		t.Errorf("first package id %d, want 9 (continued from the checkpoint)", pkgs[0].ID)
	}
}

func TestFileTenMiBLine(t *testing.T) {
	line := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16)
	recs, _ := readOnce(t, string(line)+"\nnext\n", cfg(512<<10, 256<<10))
	var joined []byte
	for i, r := range recs[:len(recs)-1] {
		if r.flags&record.FlagSplit == 0 || r.part != uint16(i+1) {
			t.Fatalf("part %d not marked: %+v", i, r.flags)
		}
		if len(r.body) > 256<<10 {
			t.Fatalf("part %d is %d bytes, over the limit", i, len(r.body))
		}
		joined = append(joined, r.body...)
	}
	if !bytes.Equal(joined, line) {
		t.Fatalf("parts join to %d bytes, want the %d-byte line", len(joined), len(line))
	}
	if got := recs[len(recs)-2]; got.flags&record.FlagLastPart == 0 {
		t.Errorf("last part not marked last")
	}
	if recs[len(recs)-1].body != "next" {
		t.Errorf("line after the long one: %q", recs[len(recs)-1].body)
	}
}

// FuzzSplit checks that whatever bytes a file holds, the records (parts
// joined) give back every line, and no record exceeds the limit.
func FuzzSplit(f *testing.F) {
	f.Add([]byte("a\nb\r\nccc"), 4, 8)
	f.Add([]byte("\x00\xff\n\n\nxyz"), 1, 3)
	f.Fuzz(func(t *testing.T, content []byte, batch, maxLine int) {
		batch, maxLine = 1+abs(batch)%64, 4+abs(maxLine)%32
		path := filepath.Join(t.TempDir(), "f.log")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		recs, _ := readFile(t, path, cfg(batch, maxLine), State{})
		var lines []string
		cur := ""
		for _, r := range recs {
			if len(r.body) > maxLine {
				t.Fatalf("record of %d bytes over limit %d", len(r.body), maxLine)
			}
			cur += r.body
			if r.flags&record.FlagSplit == 0 || r.flags&record.FlagLastPart != 0 {
				lines = append(lines, cur)
				cur = ""
			}
		}
		if cur != "" {
			lines = append(lines, cur)
		}
		var want []string
		if len(content) > 0 {
			terminated := content[len(content)-1] == '\n'
			want = strings.Split(strings.TrimSuffix(string(content), "\n"), "\n")
			for i := range want {
				// A CR is part of the line ending only before a newline.
				if i < len(want)-1 || terminated {
					want[i] = strings.TrimSuffix(want[i], "\r")
				}
			}
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") || len(lines) != len(want) {
			t.Fatalf("lines %q, want %q", lines, want)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
