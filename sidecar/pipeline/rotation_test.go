package pipeline

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// runOnce runs the agent with --once on the globs over a shared state dir,
// as separate agent lives, and returns the bodies it delivered.
func runOnce(t *testing.T, state, out string, globs ...string) []string {
	t.Helper()
	cfg := testConfig(globs...)
	cfg.Once = true
	if err := runAgent(t, cfg, state, "file://"+out); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, r := range readOut(t, out) {
		bodies = append(bodies, r.Body)
	}
	return bodies
}

func appendN(t *testing.T, path, tag string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < to; i++ {
		fmt.Fprintf(f, "%s %04d %s\n", tag, i, strings.Repeat("-", 40))
	}
}

// wantExactly checks that bodies hold the tag lines from..to once each.
// (The old and the new file of a rotation are read side by side, so their
// lines may interleave; order within a source is checked elsewhere.)
func wantExactly(t *testing.T, bodies []string, tag string, from, to int) {
	t.Helper()
	count := map[string]int{}
	n := 0
	for _, b := range bodies {
		if strings.HasPrefix(b, tag+" ") {
			count[b]++
			n++
		}
	}
	if n != to-from {
		t.Errorf("%s: got %d lines, want %d", tag, n, to-from)
	}
	for i := from; i < to; i++ {
		if line := fmt.Sprintf("%s %04d %s", tag, i, strings.Repeat("-", 40)); count[line] != 1 {
			t.Fatalf("%s line %d arrived %d times, want once", tag, i, count[line])
		}
	}
}

// lives runs the agent over one log folder as successive lives (--once),
// sharing state, as an agent restarted between file changes would.
type lives struct {
	t                    *testing.T
	dir, state, out, log string
}

// newLives writes a 0..100 into app.log and runs a first life.
func newLives(t *testing.T, glob string) *lives {
	l := &lives{t: t, dir: t.TempDir(), state: t.TempDir(), out: filepath.Join(t.TempDir(), "out.ndjson")}
	l.log = filepath.Join(l.dir, "app.log")
	appendN(t, l.log, "a", 0, 100)
	l.run(glob)
	return l
}

func (l *lives) run(glob string) []string { return runOnce(l.t, l.state, l.out, l.dir+"/"+glob) }

// Rotation while the agent is down: the old file (renamed out of the glob)
// is found by identity in its folder and finished, the new one read whole;
// nothing is read twice.
func TestRenameRotationWhileDown(t *testing.T) {
	l := newLives(t, "*.log")
	appendN(t, l.log, "a", 100, 150) // written before the rotation, not yet read
	if err := os.Rename(l.log, l.log+".1"); err != nil {
		t.Fatal(err)
	}
	appendN(t, l.log, "a", 150, 200)
	wantExactly(t, l.run("*.log"), "a", 0, 200)
}

// A rotated file that still matches the glob stays the same source.
func TestRenameWithinGlob(t *testing.T) {
	l := newLives(t, "app.log*")
	if err := os.Rename(l.log, l.log+".1"); err != nil {
		t.Fatal(err)
	}
	appendN(t, l.log, "a", 100, 200)
	wantExactly(t, l.run("app.log*"), "a", 0, 200)
}

// copytruncate while the agent is down: the tail of the old content is read
// from the copy, then the truncated file from its start.
func TestCopytruncateWhileDown(t *testing.T) {
	l := newLives(t, "*.log")
	appendN(t, l.log, "a", 100, 150)
	copyFile(t, l.log, l.log+".1")
	if err := os.Truncate(l.log, 0); err != nil {
		t.Fatal(err)
	}
	appendN(t, l.log, "a", 150, 160) // shorter than what was read: size < offset
	wantExactly(t, l.run("*.log"), "a", 0, 160)
}

// An agent killed after it started on a copytruncated file's new content
// but before it finished the old content's tail from the copy: the next
// life finds the copy although the inode is read again (as the new
// content's source), and finishes it.
func TestCopytruncateCopyUnfinishedAtCrash(t *testing.T) {
	l := newLives(t, "*.log")
	appendN(t, l.log, "a", 100, 150) // not read before the copytruncate
	copyFile(t, l.log, l.log+".1")
	if err := os.Truncate(l.log, 0); err != nil {
		t.Fatal(err)
	}
	appendN(t, l.log, "b", 0, 10)

	// What the killed life left: the new content read and checkpointed,
	// the old content's checkpoint where the copytruncate found it.
	id, info := identify(t, l.log)
	store, err := checkpoint.Open(l.state)
	if err != nil {
		t.Fatal(err)
	}
	err = store.Save(checkpoint.Checkpoint{SourceID: "0123456789abcdef", Path: l.log, Identity: id, Offset: info.Size, NextPackageID: 1, Updated: time.Now()})
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	bodies := l.run("*.log")
	wantExactly(t, bodies, "a", 0, 150)
	wantExactly(t, bodies, "b", 0, 0) // acknowledged by the killed life
}

// copytruncate where the new content outgrew the old offset before the
// agent looked: the changed first bytes tell it is not the same content.
func TestCopytruncateNewContentLonger(t *testing.T) {
	l := newLives(t, "*.log")
	copyFile(t, l.log, l.log+".1")
	if err := os.Truncate(l.log, 0); err != nil {
		t.Fatal(err)
	}
	appendN(t, l.log, "b", 0, 300)
	bodies := l.run("*.log")
	wantExactly(t, bodies, "a", 0, 100)
	wantExactly(t, bodies, "b", 0, 300)
}

// A file deleted and replaced (an inode may be reused) is a new source,
// read from its start.
func TestReplacedFileIsNewSource(t *testing.T) {
	l := newLives(t, "*.log")
	if err := os.Remove(l.log); err != nil {
		t.Fatal(err)
	}
	appendN(t, l.log, "b", 0, 300)
	bodies := l.run("*.log")
	wantExactly(t, bodies, "a", 0, 100)
	wantExactly(t, bodies, "b", 0, 300)
	recs := readOut(t, l.out)
	if recs[0].Attributes.SourceID == recs[len(recs)-1].Attributes.SourceID {
		t.Errorf("the replacement file kept the old source id")
	}
	if cps := checkpointtest.Load(t, l.state); len(cps) != 1 || cps[0].SourceID != recs[len(recs)-1].Attributes.SourceID {
		t.Errorf("checkpoints left: %+v, want only the new file's", cps)
	}
}

// Package ids continue across agent lives.
func TestPackageIDsContinue(t *testing.T) {
	l := newLives(t, "*.log")
	first := readOut(t, l.out)
	appendN(t, l.log, "a", 100, 1000)
	l.run("*.log")
	all := readOut(t, l.out)
	last := first[len(first)-1].Attributes.PackageID
	if next := all[len(first)].Attributes.PackageID; next != last+1 {
		t.Errorf("second life starts at package %d, want %d", next, last+1)
	}
}

func TestStartAtEnd(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	out := filepath.Join(t.TempDir(), "out.ndjson")
	appendN(t, filepath.Join(dir, "old.log"), "old", 0, 100)
	cfg := testConfig(dir + "/*.log")
	cfg.StartAtEnd, cfg.Once = true, true
	if err := runAgent(t, cfg, state, "file://"+out); err != nil {
		t.Fatal(err)
	}
	appendN(t, filepath.Join(dir, "old.log"), "old", 100, 110)
	bodies := runOnce(t, state, out, dir+"/*.log")
	wantExactly(t, bodies, "old", 100, 110)
}

func TestExclude(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	out := filepath.Join(t.TempDir(), "out.ndjson")
	appendN(t, filepath.Join(dir, "keep.log"), "keep", 0, 10)
	appendN(t, filepath.Join(dir, "debug.log"), "debug", 0, 10)
	cfg := testConfig(dir + "/*.log")
	cfg.Exclude, cfg.Once = []string{"debug*"}, true
	if err := runAgent(t, cfg, state, "file://"+out); err != nil {
		t.Fatal(err)
	}
	bodies := []string{}
	for _, r := range readOut(t, out) {
		bodies = append(bodies, r.Body)
	}
	wantExactly(t, bodies, "keep", 0, 10)
	wantExactly(t, bodies, "debug", 0, 0)
}

// identify is source.Identify of the file at path.
func identify(t *testing.T, path string) (record.Identity, source.FileInfo) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id, info, err := source.Identify(f)
	if err != nil {
		t.Fatal(err)
	}
	return id, info
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// header is the same first 1,100 bytes of every version of a file below:
// more than the 1 KiB the head fingerprint covers.
var header = "header " + strings.Repeat("h", 1092) + "\n"

// writeVersion replaces path's content in place (same inode) with the
// header and lines tag 0..n.
func writeVersion(t *testing.T, path, tag string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString(header)
	for i := range n {
		fmt.Fprintf(&b, "%s %04d %s\n", tag, i, strings.Repeat("-", 40))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A file rewritten in place while the agent is down, with the same first
// bytes and longer content, is not resumed at the old offset: the bytes
// before it changed, so it is read again from its start.
func TestRewrittenInPlaceWhileDown(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	out := filepath.Join(t.TempDir(), "out.ndjson")
	log := filepath.Join(dir, "app.log")
	writeVersion(t, log, "a", 2000)
	wantExactly(t, runOnce(t, state, out, dir+"/*.log"), "a", 0, 2000)
	writeVersion(t, log, "b", 4000)
	wantAtLeastOnce(t, runOnce(t, state, out, dir+"/*.log"), "b", 0, 4000)
}

// A file deleted and created again while the agent is down can get the
// old inode back and, written by the same program, the same first bytes.
// ext4 hands the lowest free inode of a group to the next new file: on a
// file system of its own (a loop-mounted image, so no other process takes
// the inode first) that is the one just freed.
func TestInodeReusedWhileDown(t *testing.T) {
	dir, state := privateExt4(t), t.TempDir()
	out := filepath.Join(t.TempDir(), "out.ndjson")
	log := filepath.Join(dir, "app.log")
	writeVersion(t, log, "a", 2000)
	wantExactly(t, runOnce(t, state, out, dir+"/*.log"), "a", 0, 2000)
	old := inode(t, log)
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	writeVersion(t, log, "b", 4000)
	if got := inode(t, log); got != old {
		t.Fatalf("the new file got inode %d, not the freed %d: the premise of this test does not hold", got, old)
	}
	wantAtLeastOnce(t, runOnce(t, state, out, dir+"/*.log"), "b", 0, 4000)
}

// privateExt4 mounts a new 32 MiB ext4 image at a temporary folder for the
// test. It needs root (mount) and mkfs.ext4: without root the test is
// skipped, saying so; as root a failure to mount fails it.
func privateExt4(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to loop-mount an ext4 image (inode reuse is only deterministic on a file system of its own)")
	}
	img, dir := filepath.Join(t.TempDir(), "fs.ext4"), t.TempDir()
	for _, args := range [][]string{{"truncate", "-s", "32M", img}, {"mkfs.ext4", "-q", "-F", img}, {"mount", "-o", "loop", img, dir}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// wantAtLeastOnce checks that bodies hold every tag line from..to, in
// order of their first arrival (a re-read may send some twice).
func wantAtLeastOnce(t *testing.T, bodies []string, tag string, from, to int) {
	t.Helper()
	seen := map[string]bool{}
	next := from
	for _, b := range bodies {
		if !strings.HasPrefix(b, tag+" ") || seen[b] {
			continue
		}
		seen[b] = true
		if want := fmt.Sprintf("%s %04d %s", tag, next, strings.Repeat("-", 40)); b != want {
			t.Fatalf("%s: got %q where line %d was due", tag, b, next)
		}
		next++
	}
	if next != to {
		t.Errorf("%s: lines %d..%d never arrived", tag, next, to-1)
	}
}
