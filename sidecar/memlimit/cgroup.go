package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// unlimited is where a cgroup v1 limit means none: the kernel writes the
// largest page-aligned count (9223372036854771712), never a real size.
const unlimited = 1 << 62

// Cgroup returns the memory limit of the cgroup the agent runs in, the
// smallest on its way up to the mount (a parent's limit binds too), and
// the file that set it; 0 and "" when there is none. sys is the root of
// /sys/fs/cgroup and self the content of /proc/self/cgroup. On cgroup v2
// (sys holds cgroup.controllers) it reads memory.max; on v1, the memory
// controller's memory.limit_in_bytes. In a container the mount shows the
// container's own cgroup at its root, so when the path /proc/self/cgroup
// names is not under the mount, the root alone is read.
func Cgroup(sys fs.FS, self string) (int64, string, error) {
	dir, file := "memory", "memory.limit_in_bytes"
	want := func(controllers string) bool { return hasMemory(controllers) }
	if _, err := fs.Stat(sys, "cgroup.controllers"); err == nil {
		dir, file = ".", "memory.max"
		want = func(controllers string) bool { return controllers == "" }
	}
	var own string
	for line := range strings.Lines(self) {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(strings.TrimRight(line, "\n"), ":", 3)
		if len(parts) == 3 && want(parts[1]) {
			own = parts[2]
			break
		}
	}
	start := path.Join(dir, path.Clean("/" + own)[1:])
	if _, err := fs.Stat(sys, start); err != nil {
		start = dir
	}
	var limit int64
	var from string
	for p := start; ; p = path.Dir(p) {
		n, err := readLimit(sys, path.Join(p, file))
		if err != nil {
			return 0, "", err
		}
		if n > 0 && (limit == 0 || n < limit) {
			limit, from = n, path.Join(p, file)
		}
		if p == dir || p == "." {
			return limit, from, nil
		}
	}
}

func hasMemory(controllers string) bool {
	for c := range strings.SplitSeq(controllers, ",") {
		if c == "memory" {
			return true
		}
	}
	return false
}

// readLimit reads one limit file: 0 for none (absent, "max", unlimited).
func readLimit(sys fs.FS, name string) (int64, error) {
	b, err := fs.ReadFile(sys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cgroup memory limit %s: %w", name, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("cgroup memory limit %s: %q is no byte count", name, s)
	}
	if n >= unlimited {
		return 0, nil
	}
	return n, nil
}
