package pageout

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Release pages out the executable's read-only mappings and returns the
// resident set before and after. A kernel without MADV_PAGEOUT (before
// 5.4), or a sandbox that refuses it (gVisor), gives an error and leaves
// everything as it was.
func Release() (before, after int64, err error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, 0, fmt.Errorf("finding the executable: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, 0, err
	}
	ms, err := Mappings(maps, exe)
	if err != nil {
		return 0, 0, err
	}
	if len(ms) == 0 {
		return 0, 0, fmt.Errorf("no mapping of %s in /proc/self/maps", exe)
	}
	before, _ = Resident()
	for _, m := range ms {
		// The range is the kernel's own mapping of the executable, not Go
		// memory: it is passed as addresses, never as a Go slice.
		for _, advice := range []int{unix.MADV_RANDOM, unix.MADV_PAGEOUT} {
			if _, _, e := unix.Syscall(unix.SYS_MADVISE, m.Start, m.End-m.Start, uintptr(advice)); e != 0 {
				return before, before, fmt.Errorf("madvise(%d) on %s %#x-%#x: %w", advice, exe, m.Start, m.End, e)
			}
		}
	}
	after, _ = Resident()
	return before, after, nil
}
