package pipeline

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
)

// TestVolumeUsageIsDu: the volume's use is what du says of it (the way
// the kubelet measures an emptyDir): blocks of files and folders, a hard
// link counted once, a symlink's target not at all.
func TestVolumeUsageIsDu(t *testing.T) {
	vol, outside := t.TempDir(), t.TempDir()
	write := func(path string, n int) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.Repeat("x", n)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(vol, "app.log"), 100_000)
	write(filepath.Join(vol, "c", "app", "0", "app.log.1"), 50_001)
	write(filepath.Join(vol, "empty"), 0)
	write(filepath.Join(outside, "big"), 1<<20)
	if err := os.Link(filepath.Join(vol, "app.log"), filepath.Join(vol, "c", "hard")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "big"), filepath.Join(vol, "link")); err != nil {
		t.Fatal(err)
	}
	got, err := VolumeUsage(vol)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("du", "-s", "-x", "--block-size=1", vol).Output()
	if err != nil {
		t.Fatalf("du (coreutils, in every image the tests run in): %v", err)
	}
	want, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatalf("du said %q: %v", out, err)
	}
	if got != want {
		t.Errorf("VolumeUsage = %d, du says %d", got, want)
	}
	if got < 150_000 || got >= 1<<20 {
		t.Errorf("VolumeUsage = %d: want the files' 150 kB (a hard link once, not the link's 1 MiB target)", got)
	}
}

// TestVolumeGauge: loglet_volume_used_bytes and loglet_volume_limit_bytes
// report the volume, and the agent warns once each time its use crosses
// 80 % of the limit: not at every sample while it stays above, again
// after it went back below 75 %.
func TestVolumeGauge(t *testing.T) {
	const limit = 1 << 20
	vol := t.TempDir()
	cfg := testConfig(vol + "/*.log")
	cfg.Volume, cfg.VolumeLimit = vol, limit
	a, logs := startLoggedAgent(t, cfg, "file://"+filepath.Join(t.TempDir(), "out.ndjson"))
	gauge := func() float64 { v, _ := metricValue(t, a, "loglet_volume_used_bytes"); return v }
	warnings := func() int { return strings.Count(logs.String(), "log volume is nearly full") }
	fill := func(name string, n int) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(vol, name), []byte(strings.Repeat("x", n)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 10*time.Second, "loglet_volume_limit_bytes", func() bool {
		v, _ := metricValue(t, a, "loglet_volume_limit_bytes")
		return v == limit
	})
	for round := 1; round <= 2; round++ {
		fill("fill.bin", 850<<10)
		poll.Until(t, 10*time.Second, fmt.Sprintf("warning %d", round), func() bool { return warnings() == round })
		// More samples above the mark: no more warnings.
		fill("more.bin", 20<<10)
		poll.Until(t, 10*time.Second, "a sample with more.bin", func() bool { return gauge() >= 870<<10 })
		fill("more.bin", 40<<10)
		poll.Until(t, 10*time.Second, "a later sample", func() bool { return gauge() >= 890<<10 })
		if n := warnings(); n != round {
			t.Fatalf("%d warnings after round %d's samples above 80 %%, want %d:\n%s", n, round, round, logs)
		}
		if err := os.Remove(filepath.Join(vol, "fill.bin")); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(vol, "more.bin")); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 10*time.Second, "the gauge back under 75 %", func() bool { return gauge() < 0.75*limit })
		poll.Until(t, 10*time.Second, "the 'room again' line", func() bool {
			return strings.Count(logs.String(), "log volume has room again") == round
		})
	}
	line := ""
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "nearly full") {
			line = l
			break
		}
	}
	for _, want := range []string{"level=WARN", "limit=1MiB", "percent=8", "remove-shipped"} {
		if !strings.Contains(line, want) {
			t.Errorf("the warning %q does not say %q", line, want)
		}
	}
}
