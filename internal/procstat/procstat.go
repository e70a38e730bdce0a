// Package procstat reads a process's memory from /proc/<pid>/status, for
// tests and benchmarks that hold the agent to its memory figures.
package procstat

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is a process's resident memory, in bytes.
type Memory struct {
	// Peak is the high-water mark of the resident set (VmHWM).
	Peak int64
	// Anon is resident memory of the process's own (RssAnon); File is
	// resident pages of files it maps, mostly its executable (RssFile):
	// clean page cache the kernel can drop.
	Anon, File int64
}

// Read returns pid's memory now.
func Read(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			m.Peak = n << 10
		case "RssAnon":
			m.Anon = n << 10
		case "RssFile":
			m.File = n << 10
		}
	}
	if err := sc.Err(); err != nil {
		return Memory{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return m, nil
}
