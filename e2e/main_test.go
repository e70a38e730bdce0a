package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// The binaries under test, built once for the run: the full loglet (the
// webhook) and the slim build the loglet image stands for (the sidecar).
var loglet, logletSlim string

func TestMain(m *testing.M) {
	// charts.Apply uses controller-runtime's client, which warns at length
	// when no logger is set.
	ctrllog.SetLogger(logr.Discard())
	// Every process the run starts descends from this one; as a child
	// subreaper it also inherits those whose parent ended before them, so
	// a child still alive after the run is a process left behind.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER):", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "loglet-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	loglet, logletSlim = filepath.Join(dir, "loglet"), filepath.Join(dir, "loglet-slim")
	for _, b := range []struct{ out, tags string }{{loglet, ""}, {logletSlim, "slim"}} {
		build := exec.Command("go", "build", "-tags", b.tags, "-o", b.out, "github.com/loglet/loglet/cmd/loglet")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build loglet:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	printReport(os.Stdout)
	if left := leftBehind(); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "FAIL: processes left behind by the run (killed now):")
		for pid, cmd := range left {
			fmt.Fprintf(os.Stderr, "  %d %s\n", pid, cmd)
			syscall.Kill(pid, syscall.SIGKILL)
		}
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// leftBehind returns this process's living children (pid → command line).
func leftBehind() map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		var state byte
		var ppid int
		if _, err := fmt.Sscanf(string(stat[i+1:]), " %c %d", &state, &ppid); err != nil || ppid != os.Getpid() || state == 'Z' {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out[pid] = string(bytes.ReplaceAll(bytes.TrimRight(cmd, "\x00"), []byte{0}, []byte{' '}))
	}
	return out
}
