package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/internal/procstat"
)

// BenchmarkWakeups runs the slim agent on one file that an application
// writes every 10 ms (200-byte lines: 50 a tick at 1 MB/s, 5 at 100 KB/s,
// none when idle), to null://, and prints per rate, over 3 runs (median
// and range): context switches a second (every thread's), CPU % of a core,
// reads a second (loglet_reads_total) and RSS at the end. A file written
// 100 times a second should be read a few times a second.
func BenchmarkWakeups(b *testing.B) {
	bin := buildAgent(b, b.TempDir())
	secs := min(benchSeconds(), 15)
	for _, rate := range []int{1_000_000, 100_000, 0} {
		name := fmt.Sprintf("%dKBps", rate/1000)
		if rate == 0 {
			name = "idle"
		}
		b.Run(name, func(b *testing.B) {
			var cs, cpu, reads, rss []float64
			for range 3 {
				c, p, r, m := wakeups(b, bin, rate, secs)
				cs, cpu, reads, rss = append(cs, c), append(cpu, p), append(reads, r), append(rss, m)
			}
			b.Logf("%s: context switches/s %s, CPU %% %s, reads/s %s, RSS MiB %s (%d s a run, 3 runs: median [min-max])",
				name, mmr(cs), mmr(cpu), mmr(reads), mmr(rss), secs)
		})
	}
}

// mmr is "median [min-max]" of three or more figures.
func mmr(v []float64) string {
	s := slices.Sorted(slices.Values(v))
	return fmt.Sprintf("%.1f [%.1f-%.1f]", s[len(s)/2], s[0], s[len(s)-1])
}

// wakeups runs one measurement.
func wakeups(b *testing.B, bin string, rate, secs int) (cs, cpuPct, readsPerSec, rssMiB float64) {
	dir := b.TempDir()
	path := filepath.Join(dir, "app.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	addr := freeport.Addr(b)
	cmd := exec.Command(bin, "agent", "--path", path, "--state-dir", filepath.Join(dir, "state"), "--sink", "null://",
		"--metrics-addr", addr, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	metrics := "http://" + addr + "/metrics"
	poll.Until(b, 10*time.Second, "the agent's metrics", func() bool { _, err := scrapeCounter(metrics, "loglet_reads_total"); return err == nil })

	pid := cmd.Process.Pid
	cs0, cpu0 := switches(b, pid), processCPU(b, pid)
	r0, _ := scrapeCounter(metrics, "loglet_reads_total")
	line := strings.Repeat("x", 199) + "\n"
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for time.Since(start) < time.Duration(secs)*time.Second {
		<-tick.C
		if n := rate / 100 / len(line); n > 0 {
			if _, err := f.WriteString(strings.Repeat(line, n)); err != nil {
				b.Fatal(err)
			}
		}
	}
	el := time.Since(start).Seconds()
	cs1, cpu1 := switches(b, pid), processCPU(b, pid)
	r1, _ := scrapeCounter(metrics, "loglet_reads_total")
	m, err := procstat.Read(pid)
	if err != nil {
		b.Fatal(err)
	}
	return float64(cs1-cs0) / el, (cpu1 - cpu0).Seconds() / el * 100, (r1 - r0) / el, mib(m.Anon + m.File)
}

// switches is the context switches (voluntary and not) of every thread of
// pid so far.
func switches(b *testing.B, pid int) int64 {
	var n int64
	eachThread(b, pid, "status", func(_ string, raw []byte) {
		for _, l := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	})
	return n
}
