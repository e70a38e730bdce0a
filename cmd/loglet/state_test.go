package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
)

// TestDamagedCheckpointKeepsAgentRunning: a checkpoint holding random
// bytes, cut short, empty or all NULs does not stop the agent (in a pod
// that would be a crash loop nobody can mend by hand). It is moved aside
// as <name>.corrupt, counted, logged as an error naming the file, and its
// source is read again from its start: every line arrives, duplicates
// allowed. With --start-at end too, which would otherwise skip the source
// that now looks new.
func TestDamagedCheckpointKeepsAgentRunning(t *testing.T) {
	random := make([]byte, 512)
	rand.NewChaCha8([32]byte{11}).Read(random)
	for _, damage := range []struct {
		name string
		bad  func(intact []byte) []byte
	}{
		{"random bytes", func([]byte) []byte { return random }},
		{"cut short", func(b []byte) []byte { return b[:len(b)/2] }},
		{"empty", func([]byte) []byte { return nil }},
		{"all NULs", func(b []byte) []byte { return make([]byte, len(b)) }},
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
				cps, _ := filepath.Glob(filepath.Join(state, "sources", "*.json"))
				if len(cps) != 1 {
					t.Fatalf("checkpoints after the first run: %v, want one", cps)
				}
				intact, err := os.ReadFile(cps[0])
				if err != nil {
					t.Fatal(err)
				}
				bad := damage.bad(intact)
				if err := os.WriteFile(cps[0], bad, 0o640); err != nil {
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
				if v, ok := metric(t, addr, "loglet_state_corrupt_total"); !ok || v != 1 {
					t.Errorf("loglet_state_corrupt_total = %v (present %v), want 1", v, ok)
				}
				if !strings.Contains(a.stderr.String(), `"level":"ERROR"`) || !strings.Contains(a.stderr.String(), cps[0]) {
					t.Errorf("no error log naming %s:\n%s", cps[0], lastLines(a.stderr.String(), 10))
				}
				if kept, err := os.ReadFile(cps[0] + ".corrupt"); err != nil || !bytes.Equal(kept, bad) {
					t.Errorf("%s.corrupt = %q, %v; want the damaged bytes kept", cps[0], kept, err)
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
	for _, want := range []string{cp, "format version 7", "reads up to 1", "upgrade loglet or delete the state dir"} {
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
