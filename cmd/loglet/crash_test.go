package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"
)

const linesPerFile = 100_000

// writeLogs appends linesPerFile numbered lines to dir/<name>.log, pacing
// itself like a busy application, and rotates once at rotateAt: by rename
// (the old file becomes <name>.log.1, which the glob does not match) or by
// copytruncate (copy to <name>.log.1, truncate in place).
func writeLogs(dir, name string, rotateAt int, copytruncate bool, rotated chan<- string, done chan<- error) {
	path := filepath.Join(dir, name+".log")
	open := func() (*os.File, error) { return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644) }
	f, err := open()
	if err != nil {
		done <- err
		return
	}
	pad := strings.Repeat("x", 80)
	var chunk []byte
	for i := 1; i <= linesPerFile; i++ {
		chunk = fmt.Appendf(chunk, "%s %06d %s\n", name, i, pad)
		if i%100 != 0 && i != rotateAt {
			continue
		}
		if _, err := f.Write(chunk); err != nil {
			done <- err
			return
		}
		chunk = chunk[:0]
		if i == rotateAt {
			if copytruncate {
				err = copyTruncate(f, path)
			} else {
				f.Close()
				if err = os.Rename(path, path+".1"); err == nil {
					f, err = open()
				}
			}
			if err != nil {
				done <- err
				return
			}
			rotated <- name
		}
		time.Sleep(2 * time.Millisecond) // an application's pace, not synchronisation
	}
	done <- f.Close()
}

// copyTruncate does what logrotate's copytruncate does.
func copyTruncate(f *os.File, path string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(path + ".1")
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return f.Truncate(0)
}

type occurrence struct {
	run      int
	sourceID string
	pkg      uint64
}

// TestCrashLosesNothing is the delivery promise: lines written through a
// rename rotation and a copytruncate while the agent is killed with
// SIGKILL at random moments all arrive, and a line arrives twice only when
// its first package had not been checkpointed when the agent died.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("process test with kill -9; runs in make test")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)

	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	state := filepath.Join(dir, "state")
	out := filepath.Join(dir, "out.ndjson")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"--path", logs + "/*.log", "--state-dir", state, "--sink", "file://" + out,
		"--batch-bytes", "16KiB", "--batch-wait", "50ms", "--scan-interval", "50ms"}

	done := make(chan error, 2)
	rotated := make(chan string, 2)
	go writeLogs(logs, "A", 40_000, false, rotated, done)
	go writeLogs(logs, "B", 60_000, true, rotated, done)

	// checkpointsAt[k] is what the checkpoints said when run k was killed;
	// ends[k] is how far the sink file reached.
	var checkpointsAt []map[string]uint64
	var ends []int64
	writers := 2
	for kills := 0; writers > 0 || kills < 5; kills++ {
		a := startAgent(t, args...)
		wait := time.Duration(150+rng.IntN(600)) * time.Millisecond
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			writers--
		case name := <-rotated:
			t.Logf("killing right after %s rotated", name)
		case <-time.After(wait): // a random moment to crash at
		}
		a.cmd.Process.Signal(syscall.SIGKILL)
		<-a.done
		if ws := a.cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() {
			t.Fatalf("agent exited on its own before the kill: %v\n%s", a.cmd.ProcessState, lastLines(a.stderr.String(), 20))
		}
		checkpointsAt = append(checkpointsAt, readCheckpoints(t, state))
		// Up to its last whole line: the next start cuts a torn record
		// off, and the next run's first record starts there.
		ends = append(ends, completeSize(t, out))
	}
	t.Logf("killed the agent %d times", len(ends))

	final := startAgent(t, append(args, "--once")...)
	if code := final.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("final --once run exited %d", code)
	}

	// Read the sink run by run.
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string][]occurrence{}
	var start int64
	torn := 0
	for run := 0; run <= len(ends); run++ {
		end := fileSize(out)
		if run < len(ends) {
			end = ends[run]
		}
		recs, n := readSink(t, io.NewSectionReader(f, start, end-start))
		torn += n
		for _, r := range recs {
			seen[r.Body] = append(seen[r.Body], occurrence{run, r.Attributes.SourceID, r.Attributes.PackageID})
		}
		start = end
	}
	if torn > len(ends) {
		t.Errorf("%d torn records, more than one per kill (%d)", torn, len(ends))
	}

	pad := strings.Repeat("x", 80)
	missing, dups := 0, 0
	for _, name := range []string{"A", "B"} {
		for i := 1; i <= linesPerFile; i++ {
			line := fmt.Sprintf("%s %06d %s", name, i, pad)
			occ := seen[line]
			if len(occ) == 0 {
				if missing++; missing <= 5 {
					t.Errorf("line %q never arrived", line)
				}
				continue
			}
			for j, o := range occ[:len(occ)-1] {
				dups++
				next := occ[j+1]
				if next.run == o.run {
					t.Errorf("line %q sent twice within run %d", line, o.run)
					continue
				}
				if nextID, ok := checkpointsAt[o.run][o.sourceID]; ok && nextID > o.pkg {
					t.Errorf("line %q re-sent although its package %s/%d was checkpointed (next %d) when run %d died",
						line, o.sourceID, o.pkg, nextID, o.run)
				}
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d lines lost", missing, 2*linesPerFile)
	}
	t.Logf("%d lines delivered, %d duplicates (all from packages not yet checkpointed)", 2*linesPerFile, dups)
}

func readCheckpoints(t *testing.T, state string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, cp := range checkpointtest.Load(t, state) {
		out[cp.SourceID] = cp.NextPackageID
	}
	return out
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// completeSize is the size of path up to the end of its last whole line.
func completeSize(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return int64(bytes.LastIndexByte(b, '\n') + 1)
}
