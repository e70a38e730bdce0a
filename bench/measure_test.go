package bench

import (
	"os/exec"
	"syscall"
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
	mem  procstat.Memory // valid after wait
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

// wait waits for the process and returns its CPU time, peak RSS (MiB)
// and the error of Wait.
func (m *measured) wait() (cpu, user, sys time.Duration, peakMiB float64, err error) {
	err = m.cmd.Wait()
	close(m.stop)
	<-m.done
	ru := m.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	user, sys = time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
	return user + sys, user, sys, float64(m.mem.Peak) / (1 << 20), err
}
