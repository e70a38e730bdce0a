package podlog

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// spoolWith writes the container app's spool files (newest first: api.log,
// api-1.log, …) into a new folder and returns it.
func spoolWith(t testing.TB, files ...[]byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range files {
		name := "api.log"
		if i > 0 {
			name = "api-" + string(rune('0'+i)) + ".log"
		}
		if err := os.WriteFile(filepath.Join(dir, "app", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestResumeMarkDamagedSpool: a spool damaged by a crash, a full disk or
// anything else still gives a mark, and never one past a line the spool
// lacks: lines may come twice, none may be skipped.
func TestResumeMarkDamagedSpool(t *testing.T) {
	future := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339Nano)
	for _, tc := range []struct {
		name  string
		files []string // api.log, api-1.log, …
		want  string   // the mark's time; "" for none (the log is read again)
	}{
		{"whole lines", []string{t1 + " a\n" + t2 + " b\n"}, t2},
		{"cut short in a line", []string{t1 + " a\n" + t2 + " b-to"}, t2},
		{"cut short in a time", []string{t1 + " a\n2026-11-25T10:0"}, t1},
		{"NULs after the last line (a crash before the data reached the disk)", []string{t1 + " a\n" + t2 + " b\n\x00\x00\x00\x00"}, t2},
		{"NULs only", []string{"\x00\x00\x00\x00\x00\x00"}, ""},
		{"NULs only, lines in the rotated file", []string{"\x00\x00\x00\x00", t1 + " a\n" + t2 + " b\n"}, t2},
		{"random bytes after the last line", []string{t1 + " a\n\xff\xfe\x01garbage\nmore garbage"}, t1},
		{"a line dated in the future is no mark", []string{t1 + " a\n" + future + " from a broken clock or bit\n"}, t1},
		{"random bytes only", []string{"\xff\xfe\x01\x02 \n\x03"}, ""},
		{"empty", []string{""}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var files [][]byte
			for _, f := range tc.files {
				files = append(files, []byte(f))
			}
			dir := spoolWith(t, files...)
			s, err := newStream(&Options{Dir: dir}, "app")
			if err != nil {
				t.Fatalf("newStream on a damaged spool: %v", err)
			}
			s.spool.Close()
			got := ""
			if !s.mark.time.IsZero() {
				got = s.mark.time.UTC().Format(time.RFC3339Nano)
			}
			if want, _ := time.Parse(time.RFC3339Nano, tc.want); tc.want != "" {
				tc.want = want.UTC().Format(time.RFC3339Nano)
			}
			if got != tc.want {
				t.Errorf("mark at %q, want %q", got, tc.want)
			}
		})
	}
}

// TestResumeMarkLongLastLine: a spool whose last line is far longer than
// any line (random bytes without a newline, 16 MiB) is read for its mark
// in bounded memory: the sidecar's memory limit is small.
func TestResumeMarkLongLastLine(t *testing.T) {
	dir := spoolWith(t, append([]byte(t1+" a\n"), bytes.Repeat([]byte("x"), 16<<20)...))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := newStream(&Options{Dir: dir}, "app")
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	s.spool.Close()
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("reading the mark allocated %d MiB, want at most 4", alloc>>20)
	}
}

// FuzzResumeMark: whatever bytes the spool holds, reading the resume mark
// neither fails nor panics, keeps the spool's bytes (it may only end a
// torn line), and gives a mark no later than a minute from now (a later
// one would drop the container's lines until then).
func FuzzResumeMark(f *testing.F) {
	f.Add([]byte(t1 + " a\n" + t2 + " b\n"))
	f.Add([]byte(t1 + " a\n" + t2 + " b-to"))
	f.Add([]byte(strings.Repeat("\x00", 64)))
	f.Add([]byte(t1 + " a\n\x00\x00\x00"))
	f.Add([]byte("9999-12-31T23:59:59Z from the future\n"))
	f.Add([]byte("\n\n\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := spoolWith(t, data)
		now := time.Now()
		s, err := newStream(&Options{Dir: dir}, "app")
		if err != nil {
			t.Fatalf("newStream: %v", err)
		}
		s.spool.Close()
		if s.mark.time.After(now.Add(time.Minute)) {
			t.Fatalf("mark at %v, later than now (%v)", s.mark.time, now)
		}
		got, err := os.ReadFile(filepath.Join(dir, "app", "api.log"))
		if err != nil && len(data) > 0 {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, data) || len(got) > len(data)+1 {
			t.Fatalf("the spool changed: %q, was %q", got, data)
		}
	})
}
