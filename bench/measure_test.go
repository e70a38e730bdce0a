package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// memory is what /proc/<pid>/status says, sampled while a process runs:
// the peak of its resident set, and of the part that is its own (anonymous)
// rather than pages of its executable file, which are clean page cache.
type memory struct {
	mu            sync.Mutex
	hwm, peakAnon int64 // KiB
	lastF         int64
}

func (m *memory) sample(pid int) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	defer f.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			if n > m.hwm && os.Getenv("LOGLET_BENCH_TRACE") != "" {
				fmt.Printf("VmHWM %d KiB at %s\n", n, time.Now().Format("15:04:05.000"))
			}
			m.hwm = max(m.hwm, n)
		case "RssAnon":
			m.peakAnon = max(m.peakAnon, n)
		case "RssFile":
			m.lastF = n
		}
	}
}

// watch samples pid every 50 ms until stop is closed. VmHWM, not the
// rusage of wait4: Go starts children with vfork, so their ru_maxrss
// includes the benchmark process's own resident set before exec.
func (m *memory) watch(pid int, stop <-chan struct{}) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		m.sample(pid)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// measured is a started process whose memory is being sampled.
type measured struct {
	cmd  *exec.Cmd
	mem  memory
	stop chan struct{}
	done chan struct{}
}

func startMeasured(cmd *exec.Cmd) (*measured, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	m := &measured{cmd: cmd, stop: make(chan struct{}), done: make(chan struct{})}
	go func() { defer close(m.done); m.mem.watch(cmd.Process.Pid, m.stop) }()
	return m, nil
}

// wait waits for the process and returns its CPU time, peak RSS (MiB)
// and the error of Wait.
func (m *measured) wait() (cpu, user, sys time.Duration, peakMiB float64, err error) {
	err = m.cmd.Wait()
	close(m.stop)
	<-m.done
	ru := m.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	user, sys = time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
	return user + sys, user, sys, float64(m.mem.hwm) / 1024, err
}
