// Package bench measures the agent end to end: the built binary reads a
// 1 GiB file of nginx-style lines once (--once) into a sink, and the
// benchmark reports wall-clock throughput, throughput per CPU-second
// (user+sys) and peak RSS, the figures DESIGN.md's targets are set in.
package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// inputBytes is the size of the generated input (LOGLET_BENCH_BYTES
// overrides it for a quick look).
func inputBytes() int64 {
	if s := os.Getenv("LOGLET_BENCH_BYTES"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return 1 << 30
}

// benchDir keeps the input between runs: writing 1 GiB takes longer than
// reading it.
func benchDir(b *testing.B) string {
	dir := os.Getenv("LOGLET_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "loglet-bench")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

// writeInput writes ~200-byte nginx combined-format lines up to size.
func writeInput(b *testing.B, path string, size int64) {
	if fi, err := os.Stat(path); err == nil && fi.Size() >= size {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	paths := []string{"/api/v1/orders", "/static/app.js", "/healthz", "/api/v1/users/42/profile", "/login"}
	agents := []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "curl/8.5.0", "kube-probe/1.31"}
	t := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var n int64
	for i := 0; n < size; i++ {
		line := fmt.Sprintf("10.%d.%d.%d - - [%s] \"GET %s?id=%d HTTP/1.1\" %d %d \"https://shop.example.com/\" \"%s\" rt=%d.%03d\n",
			i%256, (i/256)%256, i%97, t.Add(time.Duration(i)*time.Millisecond).Format("02/Jan/2006:15:04:05 -0700"),
			paths[i%len(paths)], i, []int{200, 200, 200, 404, 500}[i%5], 512+i%4096, agents[i%len(agents)], i%3, i%1000)
		w.WriteString(line)
		n += int64(len(line))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

func buildAgent(b *testing.B, dir string) string {
	bin := filepath.Join(dir, "loglet")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "slim", "-o", bin, "../cmd/loglet")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func BenchmarkAgent(b *testing.B) {
	dir := benchDir(b)
	input := filepath.Join(dir, "nginx.log")
	size := inputBytes()
	writeInput(b, input, size)
	fi, err := os.Stat(input)
	if err != nil {
		b.Fatal(err)
	}
	bin := buildAgent(b, b.TempDir())
	cases := []struct{ name, out string }{
		{"null", ""},
		{"file", filepath.Join(dir, "out.ndjson")},
	}
	// The kernel's cost of writing the output to a disk file system varies
	// widely with the page cache's state on a VM; tmpfs shows the agent's
	// own cost of the same work.
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		cases = append(cases, struct{ name, out string }{"tmpfs", "/dev/shm/loglet-bench-out.ndjson"})
	}
	for _, tc := range cases {
		sinkURL := "null://"
		if tc.out != "" {
			sinkURL = "file://" + tc.out
		}
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				if tc.out != "" {
					os.Remove(tc.out)
					defer os.Remove(tc.out)
				}
				state := b.TempDir()
				cmd := exec.Command(bin, "agent", "--once", "--path", input, "--state-dir", state, "--sink", sinkURL, "--log-level", "warn")
				cmd.Stderr = os.Stderr
				start := time.Now()
				if err := cmd.Run(); err != nil {
					b.Fatalf("agent: %v", err)
				}
				wall := time.Since(start)
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
				mb := float64(fi.Size()) / 1e6
				b.ReportMetric(mb/wall.Seconds(), "MB/s")
				b.ReportMetric(mb/cpu.Seconds(), "MB/cpu-s")
				b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
				fmt.Printf("agent → %-5s %6.0f MB in %5.2fs wall, %5.2fs CPU (user %.2fs, sys %.2fs): %5.0f MB/s, %5.0f MB per CPU-second, peak RSS %.1f MiB\n",
					tc.name, mb, wall.Seconds(), cpu.Seconds(), time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds(),
					mb/wall.Seconds(), mb/cpu.Seconds(), float64(ru.Maxrss)/1024)
			}
		})
	}
}
