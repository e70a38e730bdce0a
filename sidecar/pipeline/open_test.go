package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
)

// openIn counts this process's descriptors open on files in dir.
func openIn(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}

// TestMaxOpenFiles: more files than --max-open-files are all read, while
// the agent never holds more descriptors on them than the limit.
func TestMaxOpenFiles(t *testing.T) {
	const files, limit = 60, 8
	dir := t.TempDir()
	for i := range files {
		appendN(t, filepath.Join(dir, fmt.Sprintf("f%02d.log", i)), fmt.Sprintf("f%02d", i), 0, 20)
	}
	cfg := testConfig(dir + "/*.log")
	cfg.MaxOpenFiles = limit
	out := filepath.Join(t.TempDir(), "out.ndjson")
	startAgent(t, cfg, "file://"+out)
	most := 0
	poll.Until(t, 30*time.Second, "every line of every file", func() bool {
		most = max(most, openIn(t, dir))
		return len(readOut(t, out)) >= files*20
	})
	if most > limit {
		t.Errorf("the agent held %d descriptors on the log files at once, more than --max-open-files %d", most, limit)
	}
	bodies := bodiesOf(readOut(t, out))
	for i := range files {
		wantExactly(t, bodies, fmt.Sprintf("f%02d", i), 0, 20)
	}
}

// TestOnceMoreFilesThanDescriptors: --once reads every matched file to its
// end, also the ones that waited for a descriptor (a backfill of a folder
// with more files than --max-open-files).
func TestOnceMoreFilesThanDescriptors(t *testing.T) {
	const files, limit = 40, 4
	dir := t.TempDir()
	for i := range files {
		appendN(t, filepath.Join(dir, fmt.Sprintf("f%02d.log", i)), fmt.Sprintf("f%02d", i), 0, 5)
	}
	cfg := testConfig(dir + "/*.log")
	cfg.MaxOpenFiles, cfg.Once = limit, true
	out := filepath.Join(t.TempDir(), "out.ndjson")
	if err := runAgent(t, cfg, t.TempDir(), "file://"+out); err != nil {
		t.Fatal(err)
	}
	bodies := bodiesOf(readOut(t, out))
	for i := range files {
		wantExactly(t, bodies, fmt.Sprintf("f%02d", i), 0, 5)
	}
}

// TestCloseInactive: a file that stops growing is closed after
// --close-inactive, opened again by its identity when it grows, and no
// line is lost across the close, a rotation while it is closed, or a
// restart while it is closed.
func TestCloseInactive(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendN(t, log, "a", 0, 100)
	cfg := testConfig(dir + "/*.log")
	cfg.CloseInactive = 100 * time.Millisecond
	out := filepath.Join(t.TempDir(), "out.ndjson")
	stop := startAgentIn(t, cfg, state, "file://"+out)
	closed := func(what string) {
		t.Helper()
		poll.Until(t, 10*time.Second, what, func() bool { return openIn(t, dir) == 0 })
	}
	delivered := func(what string, n int) {
		t.Helper()
		poll.Until(t, 10*time.Second, what, func() bool { return len(readOut(t, out)) == n })
	}
	delivered("the first lines", 100)
	closed("the idle file to be closed")

	appendN(t, log, "a", 100, 150)
	delivered("the lines written after the close", 150)
	closed("the file to be closed again")

	// Rotation while closed: lines written just before it are in the
	// renamed file, whose name the glob does not match.
	appendN(t, log, "a", 150, 170)
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendN(t, log, "a", 170, 200)
	delivered("the lines around a rotation", 200)
	closed("both files to be closed")

	// Restart while closed.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	appendN(t, log, "a", 200, 250)
	startAgentIn(t, cfg, state, "file://"+out)
	delivered("the lines written while the agent was down", 250)
	wantExactly(t, bodiesOf(readOut(t, out)), "a", 0, 250)
}

func bodiesOf(recs []sinktest.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Body
	}
	return out
}
