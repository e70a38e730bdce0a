// Package pageout gives back to the kernel the pages of the agent's own
// executable that only its start touched.
//
// A Go program's resident set holds every page of its executable the
// kernel mapped in, and the kernel maps pages around each one touched
// (fault-around, large folios): the slim agent, idle, held 14 MiB of its
// 19 MB binary resident, of which it used 3.7 MiB afterwards (measured by
// paging everything out and watching what came back). On a serverless
// node the pod pays for those pages. Once the agent has started, Release
// asks the kernel (madvise MADV_PAGEOUT, Linux 5.4+) to reclaim the
// executable's read-only mappings; what the agent still runs is read back
// in on its next use. Pages other processes map too (sidecars of one
// image on a classic node) are left alone by the kernel.
package pageout

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Mapping is one read-only mapping of the executable.
type Mapping struct {
	Start, End uintptr
}

// Mappings reads the read-only mappings of the file exe from maps, the
// content of /proc/self/maps: its code and constant data, never its
// writable data.
func Mappings(maps []byte, exe string) ([]Mapping, error) {
	var ms []Mapping
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// address perms offset dev inode pathname (the pathname may hold
		// spaces, so it is everything after the fifth field).
		f := bytes.Fields(sc.Bytes())
		if len(f) < 6 || len(f[1]) < 2 || f[1][1] == 'w' {
			continue
		}
		i := bytes.Index(sc.Bytes(), f[5])
		if string(sc.Bytes()[i:]) != exe {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		if !ok {
			return nil, fmt.Errorf("maps line %q: no address range", sc.Bytes())
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("maps line %q: address range not valid", sc.Bytes())
		}
		ms = append(ms, Mapping{Start: uintptr(start), End: uintptr(end)})
	}
	return ms, sc.Err()
}

// Resident is the process's resident set in bytes, from /proc/self/statm.
func Resident() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/self/statm %q: no resident field", b)
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}
