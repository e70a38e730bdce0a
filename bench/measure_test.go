package bench

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/procstat"
)

// watch samples pid's memory every 50 ms until stop is closed, keeping
// the peaks: VmHWM, not the rusage of wait4, as Go starts children with
// vfork and their ru_maxrss includes the benchmark's own resident set.
func watch(pid int, stop <-chan struct{}) procstat.Memory {
	var peak procstat.Memory
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if m, err := procstat.Read(pid); err == nil {
			peak.Peak, peak.Anon, peak.File = max(peak.Peak, m.Peak), max(peak.Anon, m.Anon), m.File
		}
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

// measured is a started process whose memory is being sampled.
type measured struct {
	cmd  *exec.Cmd
	mem  procstat.Memory // peaks, valid after wait
	stop chan struct{}
	done chan struct{}
}

func startMeasured(cmd *exec.Cmd) (*measured, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	m := &measured{cmd: cmd, stop: make(chan struct{}), done: make(chan struct{})}
	go func() { defer close(m.done); m.mem = watch(cmd.Process.Pid, m.stop) }()
	return m, nil
}

// wait waits for the process and returns its CPU time, peak memory and
// the error of Wait.
func (m *measured) wait() (cpu, user, sys time.Duration, mem procstat.Memory, err error) {
	err = m.cmd.Wait()
	close(m.stop)
	<-m.done
	ru := m.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	user, sys = time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
	return user + sys, user, sys, m.mem, err
}

// runMeasured runs cmd to its end and measures it; the benchmark fails if
// cmd does.
func runMeasured(b *testing.B, cmd *exec.Cmd) (cpu, user, sys time.Duration, mem procstat.Memory) {
	b.Helper()
	m, err := startMeasured(cmd)
	if err != nil {
		b.Fatal(err)
	}
	cpu, user, sys, mem, err = m.wait()
	if err != nil {
		b.Fatalf("%s: %v", cmd.Args[:2], err)
	}
	return cpu, user, sys, mem
}

// mib is n bytes in MiB.
func mib(n int64) float64 { return float64(n) / (1 << 20) }

// benchSeconds is how long the timed benchmarks write: BENCH_SECONDS
// (default 20).
func benchSeconds() int { return benchSecondsOr(20) }

// benchSecondsOr is BENCH_SECONDS, or def when it is not set: for a
// benchmark of many short runs, whose default must be shorter.
func benchSecondsOr(def int) int {
	if s, err := strconv.Atoi(os.Getenv("BENCH_SECONDS")); err == nil && s > 0 {
		return s
	}
	return def
}

// requestBody is what an agent posted, gunzipped when it compressed it.
func requestBody(r *http.Request) ([]byte, error) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		body = z
	}
	return io.ReadAll(body)
}

// eachThread calls fn with the file name of each thread of pid
// (/proc/<pid>/task/*/<name>); a thread that ended meanwhile is skipped.
func eachThread(b *testing.B, pid int, name string, fn func(task string, raw []byte)) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tasks {
		if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/%s", pid, t.Name(), name)); err == nil {
			fn(t.Name(), raw)
		}
	}
}
