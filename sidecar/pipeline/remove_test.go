package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/source"
)

// The figures of TestRemoveShippedThroughOutage. The scenario is
// an app writing and rotating 10× its volume's limit through a 60 s hub
// outage; removeOutage is shorter so that the test fits the suite's
// budget, and still spans 150 scan intervals, many failed deliveries and
// the NATS client's reconnection. What an app writes during an outage
// stays on the volume whatever the agent does (nothing unshipped may go),
// so an app that outlives a 60 s outage writes less than the volume's
// room in 60 s; the test's app writes removeSlowRate during the outage
// (and until the agent delivers again) and removeRate otherwise. An app
// that rotates faster than the agent finds its new file (two rotations a
// second here) loses lines whatever the agent deletes: a file renamed
// away before the agent saw it under the glob is never read; under the
// race detector on two busy cores, 64 KiB at 384 KiB/s was too fast.
const (
	removeLimit    = 1 << 20 // the volume's sizeLimit
	removeWritten  = 10 * removeLimit
	removeRotateAt = 128 << 10 // the app rotates app.log at this size
	removeRate     = 256 << 10
	removeSlowRate = 64 << 10
	removeOutage   = 3 * time.Second
	removeLineLen  = 100
)

// removePatterns are the test's rotated patterns (the default's style).
var removePatterns = []string{"*.[0-9]*"}

// rotatingApp writes numbered lines into app.log and rotates it as
// logrotate does without copytruncate: app.log.N becomes app.log.N+1,
// app.log becomes app.log.1, and a new app.log is made. It deletes
// nothing.
type rotatingApp struct {
	dir     string
	fd      *os.File
	size    int64
	written atomic.Int64
	lines   int
	slow    atomic.Bool
	// outage is set while the hub is down: the inodes written then hold
	// lines the hub has not acknowledged, and must outlive the outage.
	outage      atomic.Bool
	mu          sync.Mutex
	outageFiles map[uint64]bool
}

func (w *rotatingApp) path(n int) string {
	if n == 0 {
		return filepath.Join(w.dir, "app.log")
	}
	return filepath.Join(w.dir, fmt.Sprintf("app.log.%d", n))
}

func (w *rotatingApp) open() error {
	fd, err := os.OpenFile(w.path(0), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	w.fd, w.size = fd, 0
	return err
}

// write appends n bytes of whole lines.
func (w *rotatingApp) write(n int) error {
	var b strings.Builder
	for b.Len() < n {
		line := fmt.Sprintf("L %08d ", w.lines)
		b.WriteString(line + strings.Repeat("x", removeLineLen-len(line)-1) + "\n")
		w.lines++
	}
	if _, err := w.fd.WriteString(b.String()); err != nil {
		return err
	}
	if w.outage.Load() {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(w.fd.Fd()), &st); err != nil {
			return err
		}
		w.mu.Lock()
		w.outageFiles[st.Ino] = true
		w.mu.Unlock()
	}
	w.size += int64(b.Len())
	w.written.Add(int64(b.Len()))
	if w.size >= removeRotateAt {
		return w.rotate()
	}
	return nil
}

func (w *rotatingApp) rotate() error {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return err
	}
	top := 0
	for _, e := range entries {
		var n int
		if _, err := fmt.Sscanf(e.Name(), "app.log.%d", &n); err == nil {
			top = max(top, n)
		}
	}
	for n := top; n >= 1; n-- {
		// The agent may have deleted it meanwhile, as logrotate's
		// missingok allows.
		if err := os.Rename(w.path(n), w.path(n+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(w.path(0), w.path(1)); err != nil {
		return err
	}
	if err := w.fd.Close(); err != nil {
		return err
	}
	return w.open()
}

// run writes removeWritten bytes at the app's rate.
func (w *rotatingApp) run() error {
	const chunk = 4 << 10
	next := time.Now()
	for w.written.Load() < removeWritten {
		if err := w.write(chunk); err != nil {
			return err
		}
		rate := removeRate
		if w.slow.Load() {
			rate = removeSlowRate
		}
		next = next.Add(time.Duration(chunk) * time.Second / time.Duration(rate))
		time.Sleep(time.Until(next)) // the app's pace, not a wait for the agent
	}
	return w.fd.Close()
}

// TestRemoveShippedThroughOutage: with remove-shipped: rotated, an app
// writing and rotating 10× its volume's limit through a hub outage keeps
// its volume under the limit, every line reaches the hub, and no file
// holding lines the hub has not acknowledged is deleted.
func TestRemoveShippedThroughOutage(t *testing.T) {
	hub := startNATSOutageHub(t)
	vol := t.TempDir()
	app := &rotatingApp{dir: vol, outageFiles: map[uint64]bool{}}
	if err := app.open(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(vol + "/*.log")
	cfg.Volume, cfg.VolumeLimit = vol, removeLimit
	cfg.Select = func(string) source.Choice { return source.Choice{Resource: cfg.Resource, Remove: removePatterns} }
	a, logs := startLoggedAgent(t, cfg, hub.sinkURL)

	// The volume as the kubelet measures it, sampled by the test.
	var hubDown atomic.Bool
	var maxUp, maxDown atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			used, err := VolumeUsage(vol)
			if err != nil {
				continue // a file deleted while walked; the next sample sees
			}
			m := &maxUp
			if hubDown.Load() {
				m = &maxDown
			}
			for old := m.Load(); used > old && !m.CompareAndSwap(old, used); old = m.Load() {
			}
		}
	}()
	written := make(chan error, 1)
	go func() { written <- app.run() }()

	poll.Until(t, 60*time.Second, "the app to write 40% before the outage", func() bool { return app.written.Load() >= removeWritten*4/10 })
	app.slow.Store(true)
	hubDown.Store(true)
	hub.down()
	app.outage.Store(true)
	t.Logf("hub down after %d bytes written", app.written.Load())
	time.Sleep(removeOutage) // the outage's length
	app.outage.Store(false)
	// Every file the app wrote during the outage holds lines the hub has
	// not acknowledged: each must still be on the volume.
	app.mu.Lock()
	present := inodesIn(t, vol)
	for ino := range app.outageFiles {
		if !present[ino] {
			t.Errorf("inode %d, written during the outage, was deleted before the hub acknowledged it", ino)
		}
	}
	t.Logf("%d files written during the outage, all on the volume at its end (%d files there)", len(app.outageFiles), len(present))
	app.mu.Unlock()
	hub.up()
	hubDown.Store(false)
	poll.Until(t, 30*time.Second, "the agent to deliver again", func() bool {
		v, _ := metricValue(t, a, "loglet_sink_up")
		return v == 1
	})
	app.slow.Store(false)
	if err := <-written; err != nil {
		t.Fatalf("the app: %v", err)
	}
	// Every rotated file goes once the hub acknowledged it; one the agent
	// never read would stay (and its lines be missing below).
	var left []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		entries, _ := os.ReadDir(vol)
		left = left[:0]
		for _, e := range entries {
			left = append(left, e.Name())
		}
		if len(left) == 1 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) != 1 {
		t.Errorf("rotated files left on the volume: %q", left)
	}
	close(stopSampling)
	<-sampled

	got := map[string]bool{}
	for _, b := range hub.bodies() {
		got[b] = true
	}
	lost := 0
	for i := range app.lines {
		if !got[fmt.Sprintf("L %08d ", i)+strings.Repeat("x", removeLineLen-11-1)] {
			lost++
		}
	}
	removed, _ := metricValue(t, a, "loglet_files_removed_total")
	limit, _ := metricValue(t, a, "loglet_volume_limit_bytes")
	t.Logf("limit %d B, written %d B in %d lines, outage %s; largest volume while the hub was up %d B (%.0f%%), while down %d B; %d lines lost; %.0f files removed",
		removeLimit, app.written.Load(), app.lines, removeOutage, maxUp.Load(), 100*float64(maxUp.Load())/removeLimit, maxDown.Load(), lost, removed)
	if lost > 0 {
		t.Errorf("%d of %d lines never reached the hub", lost, app.lines)
	}
	if maxUp.Load() > removeLimit {
		t.Errorf("the volume used %d bytes while the hub was up, over its limit of %d", maxUp.Load(), removeLimit)
	}
	if rotations := int(app.written.Load() / removeRotateAt); removed < float64(rotations)*0.9 {
		t.Errorf("loglet_files_removed_total = %.0f after about %d rotations", removed, rotations)
	}
	if limit != removeLimit {
		t.Errorf("loglet_volume_limit_bytes = %.0f, want %d", limit, removeLimit)
	}
	if n := strings.Count(logs.String(), "removed a rotated file"); float64(n) != removed {
		t.Errorf("%d removals logged, %.0f counted", n, removed)
	}
}

// inodesIn returns the inodes of the files in dir.
func inodesIn(t *testing.T, dir string) map[uint64]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]bool{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out[fi.Sys().(*syscall.Stat_t).Ino] = true
	}
	return out
}

// TestRemoveShippedRefuses: removeShipped deletes a shipped rotated file,
// and nothing the hub did not acknowledge to its end, nothing outside the
// volume, nothing reached through a symlink (file or folder), and nothing
// written within the close grace.
func TestRemoveShippedRefuses(t *testing.T) {
	content := strings.Repeat("a shipped line\n", 100)
	tests := []struct {
		name string
		// setup makes the file and returns the path to delete and the
		// path of the file itself (which must survive a refusal).
		setup  func(t *testing.T, vol, outside string) (path, file string)
		acked  int64 // bytes acknowledged less than the file's size
		grace  time.Duration
		change bool // the file's content changed after it was read
		want   string
	}{
		{name: "shipped", want: ""},
		{name: "not acknowledged to its end", acked: -15, want: "of 1500 bytes acknowledged"},
		{name: "content changed", change: true, want: "content is not what was read"},
		{name: "written within the close grace", grace: time.Hour, want: "written within the close grace"},
		{name: "outside the volume", want: "outside the pod's log volume",
			setup: func(t *testing.T, vol, outside string) (string, string) {
				p := filepath.Join(outside, "app.log.1")
				return p, p
			}},
		{name: "folder through a symlink", want: "reached through a symlink",
			setup: func(t *testing.T, vol, outside string) (string, string) {
				if err := os.Symlink(outside, filepath.Join(vol, "logs")); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(vol, "logs", "app.log.1"), filepath.Join(outside, "app.log.1")
			}},
		{name: "a link to the file", want: "a link is never followed",
			setup: func(t *testing.T, vol, outside string) (string, string) {
				link := filepath.Join(vol, "app.log.1")
				if err := os.Symlink(filepath.Join(outside, "app.log.1"), link); err != nil {
					t.Fatal(err)
				}
				return link, filepath.Join(outside, "app.log.1")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vol, outside := t.TempDir(), t.TempDir()
			path, file := filepath.Join(vol, "app.log.1"), filepath.Join(vol, "app.log.1")
			if tt.setup != nil {
				path, file = tt.setup(t, vol, outside)
			}
			if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			id, info := identify(t, file)
			if tt.change {
				if err := os.WriteFile(file, []byte(strings.Repeat("b", len(content))), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cp := checkpoint.Checkpoint{SourceID: "0123456789abcdef", Path: filepath.Join(vol, "app.log"), Identity: id, Offset: info.Size + tt.acked}
			a := &Agent{cfg: Config{Volume: vol}, scfg: source.Config{CloseGrace: tt.grace}}
			err := a.removeShipped(path, cp)
			_, statErr := os.Lstat(file)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("removeShipped: %v", err)
			case tt.want == "" && !errors.Is(statErr, os.ErrNotExist):
				t.Fatalf("the shipped file is still there: %v", statErr)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("removeShipped: %v, want an error saying %q", err, tt.want)
			case tt.want != "" && statErr != nil:
				t.Fatalf("refused (%v), but the file is gone: %v", err, statErr)
			}
			if _, err := os.Lstat(path); tt.want != "" && err != nil {
				t.Errorf("refused, but %s is gone: %v", path, err)
			}
			if left, _ := filepath.Glob(filepath.Join(vol, removingPrefix+"*")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestRemoveNeverTheLiveFile: with a rotated pattern that matches every
// name, the file an app writes (where its glob found it) stays, however
// long it is idle and acknowledged; a file renamed away (rotated) goes,
// in the same pass that looks at the live one.
func TestRemoveNeverTheLiveFile(t *testing.T) {
	vol, out := t.TempDir(), filepath.Join(t.TempDir(), "out.ndjson")
	live, rotated := filepath.Join(vol, "app.log"), filepath.Join(vol, "b.log")
	appendN(t, live, "a", 0, 100)
	appendN(t, rotated, "b", 0, 100)
	cfg := testConfig(vol + "/*.log")
	cfg.Volume, cfg.CloseInactive = vol, 100*time.Millisecond
	cfg.Select = func(string) source.Choice { return source.Choice{Resource: cfg.Resource, Remove: []string{"*"}} }
	a, _ := startLoggedAgent(t, cfg, "file://"+out)
	poll.Until(t, 10*time.Second, "the lines delivered", func() bool { return len(readOut(t, out)) == 200 })
	// Idle past close-inactive, acknowledged to their end, released.
	poll.Until(t, 10*time.Second, "both files released", func() bool {
		l := a.published.Load()
		return l != nil && len(l.released()) == 2
	})
	if err := os.Rename(rotated, rotated+".1"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the rotated file removed", func() bool {
		_, err := os.Stat(rotated + ".1")
		return errors.Is(err, os.ErrNotExist)
	})
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("the live file was removed: %v", err)
	}
}

// TestRemoveAfterRestart: a rotated file is deleted by the agent's next
// life once the hub acknowledged it to its end: one rotated while the
// agent was down with lines it never shipped is read first, one a crash
// left under the agent's own name between moving it aside and deleting
// it goes; a rotated file the agent never read stays.
func TestRemoveAfterRestart(t *testing.T) {
	vol, out := t.TempDir(), filepath.Join(t.TempDir(), "out.ndjson")
	for _, name := range []string{"a", "b"} {
		appendN(t, filepath.Join(vol, name+".log"), name, 0, 100)
	}
	cfg := testConfig(vol + "/*.log")
	cfg.Volume = vol
	cfg.Select = func(string) source.Choice { return source.Choice{Resource: cfg.Resource, Remove: removePatterns} }
	state, stop := startAgent(t, cfg, "file://"+out)
	poll.Until(t, 10*time.Second, "the lines delivered", func() bool { return len(readOut(t, out)) == 200 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	store, err := checkpoint.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	var bID string
	for _, cp := range cps {
		if filepath.Base(cp.Path) == "b.log" {
			bID = cp.SourceID
		}
	}
	// While the agent is down: a.log gets lines and rotates, b.log is
	// left as a crash mid-removal leaves it, and c.log.1 appears (a
	// rotated file no glob ever matched).
	appendN(t, filepath.Join(vol, "a.log"), "a", 100, 150)
	mustRename(t, filepath.Join(vol, "a.log"), filepath.Join(vol, "a.log.1"))
	mustRename(t, filepath.Join(vol, "b.log"), filepath.Join(vol, removingPrefix+bID))
	appendN(t, filepath.Join(vol, "c.log.1"), "c", 0, 100)

	startAgentIn(t, cfg, state, "file://"+out)
	poll.Until(t, 10*time.Second, "the shipped files removed", func() bool {
		entries, _ := os.ReadDir(vol)
		return len(entries) == 1 && entries[0].Name() == "c.log.1"
	})
	var bodies []string
	for _, r := range readOut(t, out) {
		bodies = append(bodies, r.Body)
	}
	wantExactly(t, bodies, "a", 0, 150)
	wantExactly(t, bodies, "b", 0, 100)
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}
