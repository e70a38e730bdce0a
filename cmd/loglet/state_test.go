package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"

	"github.com/loglet/loglet/internal/poll"
)

// TestDamagedCheckpointKeepsAgentRunning: a checkpoint journal holding
// random bytes, empty, all NULs or with a damaged record before intact ones
// does not stop the agent (in a pod that would be a crash loop nobody can
// mend by hand). It is moved aside as journal.corrupt, counted, logged as
// an error naming the file, and the source whose checkpoint it held is read
// again from its start: every line arrives, duplicates allowed. With
// --start-at end too, which would otherwise skip the source that now looks
// new. A journal cut short in its last record is what a crash in the middle
// of a write leaves (a torn tail): not damage, the tail is cut, and the
// source resumes from the checkpoint before it (written before its first
// line was read), so every line arrives too.
func TestDamagedCheckpointKeepsAgentRunning(t *testing.T) {
	random := make([]byte, 512)
	rand.NewChaCha8([32]byte{11}).Read(random)
	for _, damage := range []struct {
		name string
		bad  func(intact []byte) []byte
		// corrupt: damage, moved aside and counted; else a torn tail.
		corrupt bool
	}{
		{"random bytes", func([]byte) []byte { return random }, true},
		{"empty", func([]byte) []byte { return nil }, true},
		{"all NULs", func(b []byte) []byte { return make([]byte, len(b)) }, true},
		{"a bit flipped in a record before intact ones", func(b []byte) []byte {
			b = bytes.Clone(b)
			b[bytes.Index(b, []byte(`"op":"save"`))+2] ^= 0x20
			return b
		}, true},
		{"cut short", func(b []byte) []byte { return b[:len(b)-10] }, false},
	} {
		for _, startAt := range []string{"beginning", "end"} {
			t.Run(damage.name+"/start-at "+startAt, func(t *testing.T) {
				dir := t.TempDir()
				logs := filepath.Join(dir, "logs")
				if err := os.Mkdir(logs, 0o755); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(logs, "app.log")
				writeLines(t, path, 100, func(i int) string { return fmt.Sprintf("line %03d", i) })
				state := filepath.Join(dir, "state")
				out := filepath.Join(dir, "out.ndjson")
				args := []string{"--path", logs + "/*.log", "--state-dir", state, "--sink", "file://" + out,
					"--batch-wait", "20ms", "--scan-interval", "50ms", "--start-at", startAt}

				// A first run reads from the start and checkpoints.
				first := startAgent(t, append(args, "--start-at", "beginning", "--once")...)
				if code := first.wait(t, time.Minute); code != 0 {
					t.Fatalf("first run exited %d", code)
				}
				if cps := checkpointtest.Load(t, state); len(cps) != 1 || cps[0].Offset != fileSize(path) {
					t.Fatalf("checkpoints after the first run: %+v, want one at the end of the file", cps)
				}
				journal := filepath.Join(state, "checkpoints", "journal")
				intact, err := os.ReadFile(journal)
				if err != nil {
					t.Fatal(err)
				}
				bad := damage.bad(intact)
				if err := os.WriteFile(journal, bad, 0o640); err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				for i := 100; i < 150; i++ {
					fmt.Fprintf(f, "line %03d\n", i)
				}
				f.Close()

				a := startAgent(t, append(args, "--metrics-addr", "127.0.0.1:0")...)
				addr := a.metricsAddr(t)
				poll.Until(t, 20*time.Second, "every line of the source, read again from its start", func() bool {
					recs, _ := readSinkFileTorn(t, out)
					got := map[string]bool{}
					for _, r := range recs {
						got[r.Body] = true
					}
					for i := range 150 {
						if !got[fmt.Sprintf("line %03d", i)] {
							return false
						}
					}
					return true
				})
				if !damage.corrupt {
					if v, ok := metric(t, addr, "loglet_state_corrupt_total"); ok && v != 0 {
						t.Errorf("loglet_state_corrupt_total = %v, want 0: a torn tail is not damage", v)
					}
					if _, err := os.Stat(journal + ".corrupt"); err == nil {
						t.Errorf("a journal with a torn tail was moved aside")
					}
				} else {
					if v, ok := metric(t, addr, "loglet_state_corrupt_total"); !ok || v != 1 {
						t.Errorf("loglet_state_corrupt_total = %v (present %v), want 1", v, ok)
					}
					if !strings.Contains(a.stderr.String(), `"level":"ERROR"`) || !strings.Contains(a.stderr.String(), journal) {
						t.Errorf("no error log naming %s:\n%s", journal, lastLines(a.stderr.String(), 10))
					}
					if kept, err := os.ReadFile(journal + ".corrupt"); err != nil || !bytes.Equal(kept, bad) {
						t.Errorf("%s.corrupt = %q, %v; want the damaged bytes kept", journal, kept, err)
					}
				}
				a.cmd.Process.Signal(syscall.SIGTERM)
				if code := a.wait(t, 20*time.Second); code != 0 {
					t.Fatalf("exit code %d after SIGTERM, want 0", code)
				}
				// The next start finds an intact checkpoint and nothing to
				// move aside again.
				again := startAgent(t, append(args, "--once")...)
				if code := again.wait(t, time.Minute); code != 0 {
					t.Fatalf("third run exited %d", code)
				}
				if strings.Contains(again.stderr.String(), "damaged") {
					t.Errorf("the third run found damage again:\n%s", lastLines(again.stderr.String(), 10))
				}
			})
		}
	}
}

// TestNewerCheckpointVersionStopsAgent: a checkpoint of a newer format (a
// downgrade) is neither misread nor moved aside: the agent exits 1 saying
// what to do, and the newer agent's state is left as it was.
func TestNewerCheckpointVersionStopsAgent(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	writeLines(t, filepath.Join(logs, "app.log"), 10, func(i int) string { return fmt.Sprint(i) })
	// A checkpoint file of the format before the journal; a newer journal
	// is refused the same way (sidecar/checkpoint's tests).
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(state, "sources"), 0o750); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(state, "sources", "0123456789abcdef.json")
	data := []byte(`{"version":7,"source_id":"0123456789abcdef","path":"` + logs + `/app.log","offset":5}`)
	if err := os.WriteFile(cp, data, 0o640); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.ndjson")
	a := startAgent(t, "--path", logs+"/*.log", "--state-dir", state, "--sink", "file://"+out)
	if code := a.wait(t, 20*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	for _, want := range []string{cp, "format version 7", "reads up to 2", "upgrade loglet or delete the state dir"} {
		if !strings.Contains(a.stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, lastLines(a.stderr.String(), 5))
		}
	}
	if b, err := os.ReadFile(cp); err != nil || !bytes.Equal(b, data) {
		t.Errorf("the newer checkpoint was changed: %q, %v", b, err)
	}
	if fileSize(out) != 0 {
		t.Errorf("the agent delivered %d bytes from a state it cannot read", fileSize(out))
	}
}

// TestKillDuringSinkWriteLeavesNoTornLine: the agent writing a file sink
// is killed with SIGKILL while it writes (as soon as the file's last line
// is incomplete, or at a random moment), again and again, and restarted.
// Each start cuts off the torn record the kill left, so afterwards every
// line of the sink is a JSON record, and every line of the source is there.
func TestKillDuringSinkWriteLeavesNoTornLine(t *testing.T) {
	if testing.Short() {
		t.Skip("process test with kill -9; runs in make test")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(logs, "app.log")
	out := filepath.Join(dir, "out.ndjson")
	args := []string{"--path", logs + "/*.log", "--state-dir", filepath.Join(dir, "state"), "--sink", "file://" + out,
		"--batch-wait", "20ms", "--scan-interval", "50ms"}
	pad := strings.Repeat("x", 1000)
	lines := 0
	appendLines := func(n int) {
		f, err := os.OpenFile(src, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		for range n {
			b = fmt.Appendf(b, "line %07d %s\n", lines, pad)
			lines++
		}
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	// tail is the sink file's size and last byte (0 if it is empty or
	// absent).
	tail := func() (int64, byte) {
		f, err := os.Open(out)
		if err != nil {
			return 0, 0
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || fi.Size() == 0 {
			return 0, 0
		}
		b := []byte{0}
		f.ReadAt(b, fi.Size()-1)
		return fi.Size(), b[0]
	}
	torn := func() bool { _, b := tail(); return b != 0 && b != '\n' }

	const maxRounds, wantTears = 30, 3
	tears, repairs := 0, 0
	tornBefore := false
	for round := 0; round < maxRounds && tears < wantTears; round++ {
		appendLines(2000) // about 2 MB: several writes of the sink
		size0, _ := tail()
		a := startAgent(t, args...)
		poll.Until(t, 20*time.Second, "the agent to write to the sink", func() bool { size, _ := tail(); return size > size0 })
		// Kill the moment a write is seen half done, or at a random
		// moment of the writes.
		for deadline := time.Now().Add(time.Duration(rng.IntN(300)) * time.Millisecond); time.Now().Before(deadline) && !torn(); {
		}
		a.cmd.Process.Signal(syscall.SIGKILL)
		<-a.done
		if ws := a.cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() {
			t.Fatalf("agent exited on its own before the kill: %v\n%s", a.cmd.ProcessState, lastLines(a.stderr.String(), 20))
		}
		if tornBefore && strings.Contains(a.stderr.String(), "cut off a torn last record") {
			repairs++
		}
		tornBefore = torn()
		if tornBefore {
			tears++
		}
	}
	t.Logf("%d kills left a torn record", tears)
	if tears == 0 {
		t.Fatalf("no kill in %d tries landed in the middle of a write: the test did not exercise the repair", maxRounds)
	}

	final := startAgent(t, append(args, "--once")...)
	if code := final.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("final --once run exited %d", code)
	}
	if tornBefore && strings.Contains(final.stderr.String(), "cut off a torn last record") {
		repairs++
	}
	if repairs != tears {
		t.Errorf("%d starts reported cutting off a torn record, want %d (one after each torn kill)", repairs, tears)
	}

	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("the sink ends without a newline: %q", data[max(len(data)-60, 0):])
	}
	seen := map[string]bool{}
	invalid := 0
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var rec sinkRecord
		if err := json.Unmarshal(line, &rec); err != nil {
			if invalid++; invalid <= 3 {
				t.Errorf("sink line %d is not JSON (%v): %.80q", i+1, err, line)
			}
			continue
		}
		seen[rec.Body] = true
	}
	if invalid > 0 {
		t.Errorf("%d lines of the sink are not JSON", invalid)
	}
	missing := 0
	for i := range lines {
		if !seen[fmt.Sprintf("line %07d %s", i, pad)] {
			if missing++; missing <= 3 {
				t.Errorf("source line %d never arrived", i)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d source lines lost", missing, lines)
	}
}

// TestOneWriterPerStateDir: a second agent given the state dir of a
// running one (a DaemonSet's update with maxSurge, or one --state-dir for
// two agents) waits, saying which process holds it, instead of writing the
// same checkpoint journal; once the first one is gone, it goes on from
// where that one's checkpoints say, and reads what was written meanwhile.
func TestOneWriterPerStateDir(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	log := filepath.Join(dir, "app.log")
	write := func(from, to int) {
		t.Helper()
		f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			fmt.Fprintf(f, "line %d\n", i)
		}
		f.Close()
	}
	outA, outB := filepath.Join(dir, "a.ndjson"), filepath.Join(dir, "b.ndjson")
	args := func(out string) []string {
		return []string{"--path", log, "--state-dir", state, "--sink", "file://" + out, "--batch-wait", "50ms", "--scan-interval", "50ms"}
	}
	write(0, 100)
	a := startAgent(t, args(outA)...)
	poll.Until(t, 10*time.Second, "the first agent's records", func() bool { return len(readSinkFile(t, outA)) == 100 })
	b := startAgent(t, args(outB)...)
	poll.Until(t, 10*time.Second, "the second agent to say it waits", func() bool {
		return strings.Contains(b.stderr.String(), "written by another loglet agent") && strings.Contains(b.stderr.String(), fmt.Sprintf("pid %d", a.cmd.Process.Pid))
	})
	write(100, 200)
	poll.Until(t, 10*time.Second, "the first agent to read the new lines", func() bool { return len(readSinkFile(t, outA)) == 200 })
	if recs, _ := readSinkFileTorn(t, outB); len(recs) > 0 {
		t.Fatalf("the waiting agent sent %d records while the first one held the state dir", len(recs))
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("first agent exited %d", code)
	}
	write(200, 300)
	poll.Until(t, 10*time.Second, "the second agent to read what was written after the first one left", func() bool {
		return len(readSinkFile(t, outB)) >= 100
	})
	for _, r := range readSinkFile(t, outB) {
		var n int
		if _, err := fmt.Sscanf(r.Body, "line %d", &n); err != nil || n < 200 {
			t.Errorf("the second agent sent %q again: the first one's checkpoint covers it", r.Body)
		}
	}
}
