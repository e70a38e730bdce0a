package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/sidecar/checkpoint"
)

// BenchmarkManyFiles runs the slim agent over many small files that exist
// before it starts (10,000 in one folder; 1,000 folders of 10) and
// reports: the time until every file was read and checkpointed, the CPU
// the agent then uses while all of them stay quiet, its open descriptors,
// and how long one /metrics scrape takes. Targets (issue 16): ≤ 10 s to
// read and checkpoint 10,000 new files, ≤ 2 % of a core idle, descriptors
// bounded by --max-open-files.
func BenchmarkManyFiles(b *testing.B) {
	bin := buildAgent(b, b.TempDir())
	for _, shape := range []struct {
		name          string
		folders, each int
	}{
		{"10000-files", 1, 10000},
		{"1000x10-files", 1000, 10},
	} {
		b.Run(shape.name, func(b *testing.B) {
			for range b.N {
				manyFiles(b, bin, shape.folders, shape.each)
			}
		})
	}
}

func manyFiles(b *testing.B, bin string, folders, each int) {
	dir, state := b.TempDir(), b.TempDir()
	const lines = 3
	for d := range folders {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range each {
			var sb strings.Builder
			for l := range lines {
				fmt.Fprintf(&sb, "file %d/%d line %d %s\n", d, i, l, strings.Repeat("x", 60))
			}
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%05d.log", i)), []byte(sb.String()), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	files := folders * each
	addr := freeport.Addr(b)
	cmd := exec.Command(bin, "agent", "--path", dir+"/*/*.log", "--state-dir", state, "--sink", "null://",
		"--metrics-addr", addr, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	m, err := startMeasured(cmd)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		m.wait()
	}()
	// Checked every 200 ms, not poll.Until's 20: a scrape of the agent's
	// metrics costs it CPU that would be counted as discovery, and reading
	// the checkpoints costs this process CPU on the same cores, so they are
	// read only once every record was sent.
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("timed out after 10m waiting for every record to be sent and every file checkpointed")
		}
		if sent, _ := scrapeCounter("http://"+addr+"/metrics", "loglet_records_sent_total"); sent < float64(files*lines) {
			continue
		}
		if n, _ := countCheckpoints(state); n >= files {
			break
		}
	}
	discovery := time.Since(t0)

	// Let the catch-up settle, then measure a quiet window.
	const window = 10 * time.Second
	time.Sleep(2 * time.Second) // not synchronisation: the settling time before a measured window
	cpu0 := processCPU(b, cmd.Process.Pid)
	time.Sleep(window)
	idle := (processCPU(b, cmd.Process.Pid) - cpu0).Seconds() / window.Seconds()
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
	s0 := time.Now()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	scrape := time.Since(s0)
	mem, _ := readMem(cmd.Process.Pid)
	b.ReportMetric(discovery.Seconds(), "s-to-read-all")
	b.ReportMetric(idle*100, "idle-%core")
	b.ReportMetric(float64(len(fds)), "open-fds")
	b.ReportMetric(scrape.Seconds()*1000, "scrape-ms")
	fmt.Printf("many files %6d (%d folders): read and checkpointed in %6.2fs; idle %5.2f%% of a core; %5d open descriptors; /metrics %d KB in %4.0f ms; RSS %.1f MiB\n",
		files, folders, discovery.Seconds(), idle*100, len(fds), n/1000, scrape.Seconds()*1000, mib(mem))
}

// countCheckpoints is how many sources in the state dir are checkpointed
// past their start: read, and acknowledged by the hub. The store only
// reads while the agent writes.
func countCheckpoints(state string) (int, error) {
	s, err := checkpoint.Open(state)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	cps, err := s.Load()
	n := 0
	for _, cp := range cps {
		if cp.Offset > 0 {
			n++
		}
	}
	return n, err
}

// processCPU is pid's user+system time so far, from /proc/<pid>/stat.
func processCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz
}

func readMem(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10, nil
		}
	}
	return 0, nil
}

// scrapeCounter reads one unlabelled counter or gauge from a /metrics page.
func scrapeCounter(url, name string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, err
	}
	f := fams[name]
	if f == nil || len(f.Metric) == 0 {
		return 0, fmt.Errorf("%s not on the page", name)
	}
	var sum float64
	for _, m := range f.Metric {
		if c := m.GetCounter(); c != nil {
			sum += c.GetValue()
		} else if g := m.GetGauge(); g != nil {
			sum += g.GetValue()
		}
	}
	return sum, nil
}
