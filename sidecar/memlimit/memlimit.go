// Package memlimit plans the agent's memory from its container's limit: how
// many bytes of packages may wait for the hub (the buffer budget) and the Go
// runtime's soft limit (GOMEMLIMIT), so that a hub outage under load pauses
// reading instead of getting the agent OOM-killed.
//
// The limit comes from LOGLET_MEMORY_LIMIT (the webhook and the chart set it
// from the downward API's limits.memory) or --memory-limit, else from the
// cgroup the agent runs in. When both are known the smaller wins: a pod
// without a memory limit gets the node's allocatable memory from the
// downward API, while its cgroup knows better.
package memlimit

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// The split of a limit L (see Plan):
//
//	buffer     = min(configured, L/4)                 unless max-buffer-bytes is set
//	GOMEMLIMIT = min(L - headroom, buffer + 48 MiB)   unless GOMEMLIMIT is set
//	headroom   = max(L/4, 16 MiB)
//
// The headroom is memory outside the Go runtime's account that still counts
// against a container: the executable's resident pages (the slim build's
// text touched at run time, ~9 MiB; 31 MiB for the full build), kernel
// socket buffers, and pages the scavenger has not yet returned. The buffer
// takes a quarter because the Go heap holds, besides the packages waiting
// for the hub, the agent's own working set (read blocks, the package being
// cut, the sink's encoder) and the garbage the collector lets accumulate
// under its soft limit. With the webhook's 64 MiB: buffer 16 MiB,
// GOMEMLIMIT 48 MiB. Without a limit, GOMEMLIMIT is buffer + 48 MiB, which
// keeps the heap near what the buffer needs rather than twice it; a large
// limit gives the same.
const (
	bufferShare = 4
	// overhead is what the agent needs besides its buffer: GOMEMLIMIT is
	// never more than the buffer plus this.
	overhead    = 48 << 20
	minHeadroom = 16 << 20
	// MinBuffer is the least buffer budget (the smallest max-buffer-bytes).
	MinBuffer = 1 << 20
	// minLimit is the least limit the agent is comfortable in: below it
	// the buffer is small and the collector runs often.
	minLimit = 48 << 20
)

// Input is what Plan decides from.
type Input struct {
	// Limit is the container's memory limit in bytes; 0: none known.
	Limit int64
	// Buffer is max-buffer-bytes; BufferExplicit says the user set it.
	Buffer         int64
	BufferExplicit bool
	// GoMemLimit is the runtime's limit the user set with the GOMEMLIMIT
	// environment variable; 0: not set.
	GoMemLimit int64
}

// Budget is what the agent runs with.
type Budget struct {
	// Buffer is the budget of packages waiting for the hub.
	Buffer int64
	// GoMemLimit is the soft limit to set; 0: leave the user's GOMEMLIMIT.
	GoMemLimit int64
	// Warnings say where an explicit setting does not fit the limit.
	Warnings []string
}

// Plan splits the limit between the buffer and the Go runtime. Explicit
// settings win, never shrunk, but a warning says when they cannot fit.
func Plan(in Input) Budget {
	b := Budget{Buffer: max(in.Buffer, MinBuffer)}
	l := in.Limit
	if l > 0 && !in.BufferExplicit {
		b.Buffer = max(min(b.Buffer, l/bufferShare), MinBuffer)
	}
	headroom := max(l/bufferShare, minHeadroom)
	if in.GoMemLimit == 0 {
		b.GoMemLimit = b.Buffer + overhead
		if l > 0 {
			// A floor keeps a limit too small for the agent from driving
			// the collector into a spin; the warning below says so.
			b.GoMemLimit = max(min(b.GoMemLimit, l-headroom), b.Buffer+MinBuffer)
		}
	}
	if l <= 0 {
		return b
	}
	if l < minLimit {
		b.Warnings = append(b.Warnings, fmt.Sprintf("memory limit %s is below the %s the agent is comfortable in: it reads with a small buffer and collects garbage often; raise the container's memory limit (loglet.io/sidecar-memory)", Format(l), Format(minLimit)))
	}
	if in.BufferExplicit && in.Buffer > l/bufferShare {
		b.Warnings = append(b.Warnings, fmt.Sprintf("max-buffer-bytes %s is more than a quarter of the memory limit %s: a hub outage may get the agent OOM-killed; lower it to %s or leave it unset", Format(in.Buffer), Format(l), Format(max(l/bufferShare, MinBuffer))))
	}
	if in.GoMemLimit > l-headroom {
		b.Warnings = append(b.Warnings, fmt.Sprintf("GOMEMLIMIT %s leaves less than %s of the memory limit %s for what the Go runtime does not count; unset it to derive %s", Format(in.GoMemLimit), Format(headroom), Format(l), Format(l-headroom)))
	}
	return b
}

// ParseLimit reads a memory-limit setting: "auto" or "" (the cgroup's
// limit), "none" or "0" (no limit), or bytes: a plain number (what the
// downward API gives) or one with a binary unit, Ki, Mi, Gi, Ti (as
// Kubernetes writes them) or KiB, MiB, GiB, TiB. auto says to read the
// cgroup.
func ParseLimit(s string) (limit int64, auto bool, err error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "auto":
		return 0, true, nil
	case "none", "0":
		return 0, false, nil
	}
	num, mult := s, int64(1)
	for i, u := range []string{"Ki", "Mi", "Gi", "Ti"} {
		if rest, ok := strings.CutSuffix(s, u); ok {
			num, mult = rest, 1<<(10*(i+1))
		} else if rest, ok := strings.CutSuffix(s, u+"B"); ok {
			num, mult = rest, 1<<(10*(i+1))
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, false, fmt.Errorf("memory-limit: invalid value %q: want bytes (67108864), a size with a binary unit (64Mi, 64MiB), auto (the cgroup's limit) or none (flag --memory-limit, env LOGLET_MEMORY_LIMIT)", s)
	}
	return n * mult, false, nil
}

// Format prints n bytes in MiB, or in bytes when it is not whole MiB; 0 is
// no limit.
func Format(n int64) string {
	if n == 0 {
		return "none"
	}
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + "MiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}

// Resolved is the plan with where its limit came from.
type Resolved struct {
	Budget
	// Limit is the limit planned for (0: none) and From where it was found.
	Limit int64
	From  string
}

// Resolve finds the limit — setting (memory-limit), and the cgroup's unless
// setting is none — and the user's GOMEMLIMIT (explicit is what
// debug.SetMemoryLimit(-1) returns when the GOMEMLIMIT environment variable
// is set, else 0), and plans. A cgroup it cannot read is a warning, never a
// reason not to start.
func Resolve(setting string, buffer int64, bufferExplicit bool, explicit int64, sys fs.FS, self string) (Resolved, error) {
	limit, auto, err := ParseLimit(setting)
	if err != nil {
		return Resolved{}, err
	}
	r := Resolved{Limit: limit}
	if limit > 0 {
		r.From = "memory-limit"
	}
	var cgroupWarning string
	if auto || limit > 0 {
		n, from, err := Cgroup(sys, self)
		if err != nil {
			cgroupWarning = fmt.Sprintf("%v; planning memory without it", err)
		}
		// The smaller binds: the downward API's value is the node's
		// allocatable memory when the container has no limit.
		if n > 0 && (r.Limit == 0 || n < r.Limit) {
			r.Limit, r.From = n, "/sys/fs/cgroup/"+from
		}
	}
	r.Budget = Plan(Input{Limit: r.Limit, Buffer: buffer, BufferExplicit: bufferExplicit, GoMemLimit: explicit})
	if cgroupWarning != "" {
		r.Warnings = append(r.Warnings, cgroupWarning)
	}
	return r, nil
}
