package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/parse"
)

// TestBadInput: whatever a log file holds, every byte arrives as valid
// JSON records and the agent keeps going.
func TestBadInput(t *testing.T) {
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*7919 + i/13)
	}
	huge := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16)
	tests := []struct {
		name    string
		content []byte
		check   func(t *testing.T, bodies []string)
	}{
		{"binary garbage", garbage, func(t *testing.T, bodies []string) {
			// Every line of the garbage arrives, as valid UTF-8 (JSON
			// decoding already proved that), with invalid bytes replaced.
			want := strings.Split(strings.TrimSuffix(string(garbage), "\n"), "\n")
			if len(bodies) != len(want) {
				t.Fatalf("got %d records, want %d lines", len(bodies), len(want))
			}
			for i := range want {
				if bodies[i] != strings.TrimSuffix(string([]rune(want[i])), "\r") {
					t.Fatalf("line %d differs", i)
				}
			}
		}},
		{"invalid UTF-8", []byte("caf\xe9 ok\n\xff\xfe\n"), func(t *testing.T, bodies []string) {
			if len(bodies) != 2 || bodies[0] != "caf\uFFFD ok" || bodies[1] != "\uFFFD\uFFFD" {
				t.Fatalf("got %q", bodies)
			}
		}},
		{"10 MiB line", append(append(huge, '\n'), "after\n"...), func(t *testing.T, bodies []string) {
			if got := strings.Join(bodies[:len(bodies)-1], ""); got != string(huge) {
				t.Fatalf("the parts join to %d bytes, want the %d-byte line", len(got), len(huge))
			}
			if len(bodies) != 40+1 {
				t.Errorf("got %d parts, want 40 (256 KiB each) and the next line", len(bodies)-1)
			}
			if bodies[len(bodies)-1] != "after" {
				t.Errorf("line after: %q", bodies[len(bodies)-1])
			}
		}},
		{"empty file", nil, func(t *testing.T, bodies []string) {
			if len(bodies) != 0 {
				t.Fatalf("got %d records from an empty file", len(bodies))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "app.log"), tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out.ndjson")
			cfg := testConfig(dir + "/*.log")
			cfg.Once = true
			_, stop := startAgent(t, cfg, "file://"+out)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			var bodies []string
			for _, r := range readOut(t, out) {
				if !utf8.ValidString(r.Body) {
					t.Fatalf("body not UTF-8: %q", r.Body)
				}
				bodies = append(bodies, r.Body)
			}
			tc.check(t, bodies)
		})
	}
}

// TestEmptyFileThenLines: a file that starts empty is still followed.
func TestEmptyFileThenLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.ndjson")
	startAgent(t, testConfig(dir+"/*.log"), "file://"+out)
	appendLines(t, path, "first", "second")
	poll.Until(t, 10*time.Second, "two records", func() bool { return len(readOut(t, out)) == 2 })
}

// TestFileDeletedWhileRead: an application keeps writing to a file after it
// was deleted; the agent reads it to its end, then releases it and forgets
// its checkpoint.
func TestFileDeletedWhileRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	out := filepath.Join(t.TempDir(), "out.ndjson")
	state, _ := startAgent(t, testConfig(dir+"/*.log"), "file://"+out)
	writeN(t, w, 0, 1000)
	poll.Until(t, 10*time.Second, "the agent to read the file", func() bool { return len(readOut(t, out)) > 0 })
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	writeN(t, w, 1000, 2000)
	poll.Until(t, 10*time.Second, "every line, also those written after the delete", func() bool { return len(readOut(t, out)) == 2000 })
	for i, r := range readOut(t, out) {
		if want := lineN(i); r.Body != want {
			t.Fatalf("record %d = %q, want %q", i, r.Body, want)
		}
	}
	poll.Until(t, 10*time.Second, "the checkpoint of the deleted file to be removed", func() bool {
		return len(checkpointtest.Load(t, state)) == 0
	})
}

func lineN(i int) string { return fmt.Sprintf("line %s %04d", strings.Repeat("=", i%7), i) }

func writeN(t *testing.T, w *os.File, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(lineN(i) + "\n")
	}
	if _, err := w.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// TestMultilineFlushedByTimeout: a record whose next start line never comes
// is delivered once no line arrived for --multiline-timeout.
func TestMultilineFlushedByTimeout(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	spec, err := parse.Compile(parse.Config{MultilineStart: `^\d{4}-`, MultilineTimeout: 200 * time.Millisecond, MaxLineBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir + "/*.log")
	cfg.Parse = spec
	cfg.BatchWait = 20 * time.Millisecond
	out := filepath.Join(t.TempDir(), "out.ndjson")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	startAgent(t, cfg, "file://"+out)
	appendLines(t, path, "2026-11-25 10:00:00 ERROR boom", "java.lang.RuntimeException: boom", "\tat Main.main(Main.java:3)")
	poll.Until(t, 10*time.Second, "the stack trace after the timeout", func() bool { return len(readOut(t, out)) == 1 })
	rec := readOut(t, out)[0]
	if rec.Body != "2026-11-25 10:00:00 ERROR boom\njava.lang.RuntimeException: boom\n\tat Main.main(Main.java:3)" || rec.Severity != "ERROR" {
		t.Errorf("record %q severity %q", rec.Body, rec.Severity)
	}
}

// startWatching runs an agent over glob (under a new folder, returned)
// whose next scan is an hour away, so only file events can find what
// appears, and returns once its first scan is done.
func startWatching(t *testing.T, glob string) (dir, out string) {
	t.Helper()
	dir = t.TempDir()
	cfg := testConfig(dir + glob)
	cfg.ScanInterval = time.Hour
	out = filepath.Join(t.TempDir(), "out.ndjson")
	a, sk := newAgent(t, cfg, t.TempDir(), "file://"+out)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx); sk.Close() }()
	t.Cleanup(func() { cancel(); <-done })
	poll.Until(t, 10*time.Second, "the first scan", a.Ready)
	return dir, out
}

// writeLog creates path's folders and writes lines to it.
func writeLog(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFolderCreatedLater: files in a folder that did not exist when the
// agent started (a container's subPath on the shared volume) are found by
// the folder's creation, not by the next scan.
func TestFolderCreatedLater(t *testing.T) {
	dir, out := startWatching(t, "/c/app/0/*.log")
	writeLog(t, filepath.Join(dir, "c", "app", "0", "app.log"), "first", "second")
	poll.Until(t, 10*time.Second, "the new folder's two records", func() bool { return len(readOut(t, out)) == 2 })
}

// TestContainerFolderAddedLater: in node mode's layout a pod's folder gets
// its containers' folders one by one, as they start; a later container's
// file is found by its folder's creation, not by the next scan.
func TestContainerFolderAddedLater(t *testing.T) {
	dir, out := startWatching(t, "/*/*/*.log")
	writeLog(t, filepath.Join(dir, "shop_web_1", "init", "0.log"), "from the init container")
	poll.Until(t, 10*time.Second, "the init container's record", func() bool { return len(readOut(t, out)) == 1 })
	writeLog(t, filepath.Join(dir, "shop_web_1", "app", "0.log"), "from the app")
	poll.Until(t, 10*time.Second, "the app's record", func() bool { return len(readOut(t, out)) == 2 })
}

// TestFolderMadeAgain: a folder removed and made again (a pod deleted and
// created again under the same name, in sidecar mode's layout) is watched
// again: a file that appears in it later is found by its event.
func TestFolderMadeAgain(t *testing.T) {
	dir, out := startWatching(t, "/c/app/0/*.log")
	writeLog(t, filepath.Join(dir, "c", "app", "0", "app.log"), "before")
	poll.Until(t, 10*time.Second, "the first record", func() bool { return len(readOut(t, out)) == 1 })
	if err := os.RemoveAll(filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	writeLog(t, filepath.Join(dir, "c", "app", "0", "app.log"), "again")
	poll.Until(t, 10*time.Second, "the record of the folder made again", func() bool { return len(readOut(t, out)) == 2 })
	writeLog(t, filepath.Join(dir, "c", "app", "0", "later.log"), "later")
	poll.Until(t, 10*time.Second, "the record of a file made later in it", func() bool { return len(readOut(t, out)) == 3 })
}
