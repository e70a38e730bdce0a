package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/internal/logletbin"
)

// startHub runs `loglet hub` on a free port, with args added, and returns
// its sink URL and process id.
func startHub(b *testing.B, bin string, args ...string) (sinkURL string, pid int) {
	hub := exec.Command(bin, append([]string{"hub", "--listen", "127.0.0.1:0", "--data-dir", b.TempDir(), "--max-age", "0"}, args...)...)
	out, err := hub.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := hub.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { hub.Process.Signal(syscall.SIGTERM); hub.Wait() })
	r := bufio.NewReader(out)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatalf("hub: %v", err)
		}
		if s, ok := strings.CutPrefix(line, "hub ready: agents use --sink "); ok {
			return strings.TrimSpace(s), hub.Process.Pid
		}
	}
}

func buildFull(b *testing.B, dir string) string {
	bin, err := logletbin.Build(dir, "loglet-full", "")
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

// BenchmarkHub measures the agent shipping to the embedded hub: the 1 GiB
// input read once (agent CPU and end-to-end throughput), and delivery
// latency (line written → readable at the hub) at a steady 10 MB/s.
func BenchmarkHub(b *testing.B) {
	dir := benchDir(b)
	tmp := b.TempDir()
	agent, full := buildAgent(b, tmp), buildFull(b, tmp)
	b.Run("throughput", func(b *testing.B) {
		input := writeInput(b, dir, "nginx", inputBytes())
		fi, _ := os.Stat(input)
		for range b.N {
			sinkURL, _ := startHub(b, full)
			warm(b, input)
			cmd := exec.Command(agent, "agent", "--once", "--path", input, "--state-dir", b.TempDir(), "--sink", sinkURL, "--log-level", "warn")
			cmd.Stderr = os.Stderr
			t0 := time.Now()
			cpu, _, _, mem := runMeasured(b, cmd)
			peak := mib(mem.Peak)
			wall := time.Since(t0)
			mb := float64(fi.Size()) / 1e6
			b.ReportMetric(mb/cpu.Seconds(), "MB/cpu-s")
			b.ReportMetric(mb/wall.Seconds(), "MB/s")
			fmt.Printf("%-15s %6.0f MB in %5.2fs wall (acknowledged by the hub), agent CPU %5.2fs: %5.0f MB/s end to end, %5.0f MB per agent CPU-second, agent peak RSS %.1f MiB\n",
				"raw→hub", mb, wall.Seconds(), cpu.Seconds(), mb/wall.Seconds(), mb/cpu.Seconds(), peak)
		}
	})
	b.Run("latency", func(b *testing.B) {
		const rate, seconds = 10 << 20, 10 // 10 MiB/s for 10 s
		for range b.N {
			sinkURL, _ := startHub(b, full)
			logs := b.TempDir()
			path := filepath.Join(logs, "app.log")
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command(agent, "agent", "--path", path, "--state-dir", b.TempDir(), "--sink", sinkURL, "--log-level", "warn")
			cmd.Stderr = os.Stderr
			m, err := startMeasured(cmd)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			r, err := query.Open(ctx, sinkURL)
			if err != nil {
				b.Fatal(err)
			}
			var (
				mu  sync.Mutex
				lat []time.Duration
			)
			done := make(chan error, 1)
			go func() {
				done <- r.Tail(ctx, query.Filter{}, query.Options{Follow: true}, func(rec query.Record) error {
					now := time.Now()
					if i := strings.LastIndex(rec.Body, " t="); i >= 0 {
						if ns, err := strconv.ParseInt(rec.Body[i+3:], 10, 64); err == nil {
							mu.Lock()
							lat = append(lat, now.Sub(time.Unix(0, ns)))
							mu.Unlock()
						}
					}
					return nil
				})
			}()
			// Write 10 MiB/s in 10 ms steps of ~200-byte lines.
			pad := strings.Repeat("x", 160)
			step := rate / 100
			lines := 0
			start := time.Now()
			for tick := 0; tick < seconds*100; tick++ {
				time.Sleep(time.Until(start.Add(time.Duration(tick) * 10 * time.Millisecond))) // pacing the writer, not synchronisation
				var sb strings.Builder
				for sb.Len() < step {
					fmt.Fprintf(&sb, "%s t=%d\n", pad, time.Now().UnixNano())
					lines++
				}
				f.WriteString(sb.String())
			}
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				n := len(lat)
				mu.Unlock()
				if n >= lines {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			<-done
			r.Close()
			cmd.Process.Signal(syscall.SIGTERM)
			cpu, _, _, mem, _ := m.wait()
			peak := mib(mem.Peak)
			slices.Sort(lat)
			p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))].Round(time.Millisecond) }
			b.ReportMetric(float64(p(0.99).Milliseconds()), "p99-ms")
			fmt.Printf("%-15s %d of %d lines at 10 MiB/s for %ds: delivery latency p50 %s, p99 %s, max %s; agent CPU %.1f%% of a core, peak RSS %.1f MiB\n",
				"latency@10MB/s", len(lat), lines, seconds, p(0.5), p(0.99), lat[len(lat)-1].Round(time.Millisecond),
				100*cpu.Seconds()/float64(seconds), peak)
		}
	})
}
