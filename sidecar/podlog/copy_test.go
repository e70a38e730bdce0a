package podlog

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

const (
	t1 = "2026-11-25T10:00:00.1Z"
	t2 = "2026-11-25T10:00:00.2Z"
	t3 = "2026-11-25T10:00:01Z"
)

// TestCopy feeds streams to a spool the way reconnects do: each stream
// resent from the mark's second, the spool must hold each line once.
func TestCopy(t *testing.T) {
	huge := strings.Repeat("x", 3*bufSize+17)
	for _, tc := range []struct {
		name    string
		spool   string // already in the spool (a previous sidecar's work)
		streams []string
		want    string
	}{
		{"first stream", "", []string{t1 + " a\n" + t2 + " b\n"}, t1 + " a\n" + t2 + " b\n"},
		{"resent lines are dropped", "", []string{t1 + " a\n" + t2 + " b\n", t1 + " a\n" + t2 + " b\n" + t3 + " c\n"},
			t1 + " a\n" + t2 + " b\n" + t3 + " c\n"},
		{"identical lines at one time are counted", "",
			[]string{t1 + " x\n" + t1 + " x\n", t1 + " x\n" + t1 + " x\n" + t1 + " x\n"}, strings.Repeat(t1+" x\n", 3)},
		{"resume from a spool a crashed sidecar left", t1 + " a\n" + t2 + " b\n", []string{t1 + " a\n" + t2 + " b\n" + t3 + " c\n"},
			t1 + " a\n" + t2 + " b\n" + t3 + " c\n"},
		{"a torn last line is ended, its whole line follows", t1 + " a\n" + t2 + " b-to", []string{t1 + " a\n" + t2 + " b-torn\n"},
			t1 + " a\n" + t2 + " b-to\n" + t2 + " b-torn\n"},
		{"a log that ends without a newline gets one", "", []string{t1 + " last words"}, t1 + " last words\n"},
		{"a line longer than the buffer passes whole", "", []string{t1 + " " + huge + "\n" + t3 + " c\n"}, t1 + " " + huge + "\n" + t3 + " c\n"},
		{"a resent long line before the mark is dropped whole", "",
			[]string{t1 + " " + huge + "\n" + t2 + " b\n", t1 + " " + huge + "\n" + t2 + " b\n" + t3 + " c\n"},
			t1 + " " + huge + "\n" + t2 + " b\n" + t3 + " c\n"},
		{"lines without a time pass", "", []string{"no time\n" + t1 + " a\n"}, "no time\n" + t1 + " a\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.spool != "" {
				os.MkdirAll(filepath.Join(dir, "app"), 0o755)
				os.WriteFile(filepath.Join(dir, "app", "api.log"), []byte(tc.spool), 0o644)
			}
			for _, in := range tc.streams {
				// Each stream is a new sidecar reading the spool afresh.
				s, err := newStream(&Options{Dir: dir}, "app")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.copy(iotest.HalfReader(strings.NewReader(in))); err != nil {
					t.Fatal(err)
				}
				s.spool.Close()
			}
			got, _ := os.ReadFile(filepath.Join(dir, "app", "api.log"))
			if string(got) != tc.want {
				t.Errorf("spool:\n%.300q\nwant:\n%.300q", got, tc.want)
			}
		})
	}
}

// TestCopyKeepsMarkAcrossStreams: one sidecar, the stream ends and is
// resent from the same second twice; the mark must not be used up.
func TestCopyKeepsMarkAcrossStreams(t *testing.T) {
	dir := t.TempDir()
	s, err := newStream(&Options{Dir: dir}, "app")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.copy(strings.NewReader(t1 + " a\n" + t1 + " a\n")); err != nil {
			t.Fatal(err)
		}
	}
	s.spool.Close()
	got, _ := os.ReadFile(filepath.Join(dir, "app", "api.log"))
	if want := strings.Repeat(t1+" a\n", 2); string(got) != want {
		t.Errorf("spool %q, want %q", got, want)
	}
}

// TestCopyBrokenStream: a connection that breaks mid-line leaves that line
// for the next stream.
func TestCopyBrokenStream(t *testing.T) {
	dir := t.TempDir()
	s, _ := newStream(&Options{Dir: dir}, "app")
	r := io.MultiReader(strings.NewReader(t1+" a\n"+t2+" b-par"), iotest.ErrReader(errors.New("connection reset")))
	if _, err := s.copy(r); err == nil {
		t.Fatal("copy of a broken stream returned no error")
	}
	if _, err := s.copy(strings.NewReader(t2 + " b-partial\n")); err != nil {
		t.Fatal(err)
	}
	s.spool.Close()
	got, _ := os.ReadFile(filepath.Join(dir, "app", "api.log"))
	if want := t1 + " a\n" + t2 + " b-partial\n"; string(got) != want {
		t.Errorf("spool %q, want %q", got, want)
	}
}

// FuzzResend: a stream copied in part, then resent whole (what a
// reconnect does), leaves each line in the spool once.
func FuzzResend(f *testing.F) {
	f.Add([]byte("a\x00b\nc\x05d"), uint8(1))
	f.Add([]byte(strings.Repeat("z", 3*bufSize)), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		// Lines from data; times rise (or stay) by the first byte of each.
		base, _ := time.Parse(time.RFC3339, "2026-11-25T10:00:00Z")
		var lines []string
		for _, text := range strings.Split(string(data), "\n") {
			if len(text) > 0 {
				base = base.Add(time.Duration(text[0]%4) * 300 * time.Millisecond)
			}
			lines = append(lines, base.Format(time.RFC3339Nano)+" "+text+"\n")
		}
		k := int(cut) % (len(lines) + 1)
		dir := t.TempDir()
		for _, in := range []string{strings.Join(lines[:k], ""), strings.Join(lines, "")} {
			s, err := newStream(&Options{Dir: dir}, "app")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.copy(strings.NewReader(in)); err != nil {
				t.Fatal(err)
			}
			s.spool.Close()
		}
		got, _ := os.ReadFile(filepath.Join(dir, "app", "api.log"))
		if want := strings.Join(lines, ""); string(got) != want {
			t.Fatalf("spool (%d bytes, %d lines):\n%.200q … %.200q\nwant (%d bytes, %d lines):\n%.200q … %.200q", len(got), strings.Count(string(got), "\n"), got, got[max(0, len(got)-200):], len(want), len(lines), want, want[max(0, len(want)-200):])
		}
	})
}
