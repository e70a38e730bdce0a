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
// (and until the agent delivers again) and removeRate otherwise.
const (
	removeLimit    = 1 << 20 // the volume's sizeLimit
	removeWritten  = 10 * removeLimit
	removeRotateAt = 64 << 10 // the app rotates app.log at this size
	removeRate     = 384 << 10
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
	poll.Until(t, 60*time.Second, "every rotated file removed", func() bool {
		entries, _ := os.ReadDir(vol)
		return len(entries) == 1
	})
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
