package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/internal/procstat"
)

// TestBackpressureBoundsMemory: with the hub down, writing 1 GiB into
// watched files must not grow the agent: reading stops, memory stays
// under --max-buffer-bytes plus a fixed overhead (the issue asks < 100 MiB).
func TestBackpressureBoundsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB; runs in make test")
	}
	_, srv := newHub(t, func(int, []sinkRecord) (int, string) { return http.StatusServiceUnavailable, "down for maintenance" })
	dir := t.TempDir()
	a := startAgent(t, "--path", dir+"/*.log", "--state-dir", filepath.Join(dir, "state"), "--sink", srv.URL,
		"--metrics-addr", "127.0.0.1:0", "--scan-interval", "100ms")
	addr := a.metricsAddr(t)

	const files, perFile = 4, 256 << 20
	line := strings.Repeat("y", 199) + "\n"
	block := []byte(strings.Repeat(line, (1<<20)/len(line)))
	for i := range files {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("app-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		for written := 0; written < perFile; written += len(block) {
			if _, err := f.Write(block); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	}
	// Reading must stall: bytes read stop growing (for a whole second)
	// while sends keep failing.
	var read float64
	changed := time.Now()
	poll.Until(t, 60*time.Second, "reading to stall behind the failing hub", func() bool {
		errs, _ := metric(t, addr, "loglet_send_errors_total")
		prev := read
		if read, _ = metric(t, addr, "loglet_bytes_read_total"); read != prev {
			changed = time.Now()
		}
		return errs >= 3 && read > 0 && time.Since(changed) > time.Second
	})
	mem, err := procstat.Read(a.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	rss := mem.Peak
	t.Logf("hub down, %d MiB written: agent read %.0f MiB and holds peak RSS %.1f MiB", files*perFile>>20, read/(1<<20), float64(rss)/(1<<20))
	if read >= files*perFile {
		t.Errorf("the agent read all %d bytes although the hub acknowledged nothing", files*perFile)
	}
	if rss >= 100<<20 {
		t.Errorf("peak RSS %.1f MiB, want under 100 MiB", float64(rss)/(1<<20))
	}
}
