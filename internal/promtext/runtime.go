package promtext

import (
	"bytes"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"syscall"
)

// RegisterRuntime adds the process_* and go_* series dashboards read of
// every Go program, under client_golang's names and meanings, so a
// dashboard made for either works on the agent.
func RegisterRuntime(r *Registry) error {
	gauge := func(name, help string, f func() float64) Collector { return NewGaugeFunc(name, help, f) }
	// stat is a family read from /proc/self/stat; where there is none (not
	// Linux), it has no sample.
	stat := func(name, help string, typ Type, pick func(procStat) float64) Collector {
		return NewFunc(Desc{Name: name, Help: help, Type: typ}, func(emit Emit) {
			if s, ok := readStat(); ok {
				emit(pick(s))
			}
		})
	}
	for _, c := range []Collector{
		stat("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", TypeCounter, func(s procStat) float64 { return s.cpu }),
		stat("process_resident_memory_bytes", "Resident memory size in bytes.", TypeGauge, func(s procStat) float64 { return s.rss }),
		stat("process_virtual_memory_bytes", "Virtual memory size in bytes.", TypeGauge, func(s procStat) float64 { return s.vsize }),
		stat("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", TypeGauge, func(s procStat) float64 { return s.start }),
		NewFunc(Desc{Name: "process_open_fds", Help: "Number of open file descriptors.", Type: TypeGauge},
			func(emit Emit) {
				if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
					emit(float64(len(fds)))
				}
			}),
		NewFunc(Desc{Name: "process_max_fds", Help: "Maximum number of open file descriptors.", Type: TypeGauge},
			func(emit Emit) {
				var l syscall.Rlimit
				if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
					emit(float64(l.Cur))
				}
			}),
		NewFunc(Desc{Name: "go_info", Help: "Information about the Go environment.", Type: TypeGauge, Labels: []string{"version"}},
			func(emit Emit) { emit(1, runtime.Version()) }),
		gauge("go_goroutines", "Number of goroutines that currently exist.", func() float64 { return runtimeMetric("/sched/goroutines:goroutines") }),
		gauge("go_threads", "Number of OS threads created.", func() float64 { n, _ := runtime.ThreadCreateProfile(nil); return float64(n) }),
		gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", func() float64 {
			return runtimeMetric("/memory/classes/heap/objects:bytes")
		}),
		gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", func() float64 {
			return runtimeMetric("/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes")
		}),
		gauge("go_memstats_stack_inuse_bytes", "Number of bytes in use by the stack allocator.", func() float64 {
			return runtimeMetric("/memory/classes/heap/stacks:bytes")
		}),
		gauge("go_memstats_sys_bytes", "Number of bytes obtained from system.", func() float64 { return runtimeMetric("/memory/classes/total:bytes") }),
		gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", func() float64 {
			return runtimeMetric("/gc/heap/goal:bytes")
		}),
	} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// runtimeMetric sums runtime/metrics samples, which unlike
// runtime.ReadMemStats do not stop the world.
func runtimeMetric(names ...string) float64 {
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	var sum float64
	for _, v := range s {
		switch v.Value.Kind() {
		case metrics.KindUint64:
			sum += float64(v.Value.Uint64())
		case metrics.KindFloat64:
			sum += v.Value.Float64()
		}
	}
	return sum
}

type procStat struct{ cpu, rss, vsize, start float64 }

// userHZ is the kernel's USER_HZ, the unit of /proc's CPU times: 100 on
// every Linux architecture Go supports (client_golang's procfs assumes the
// same).
const userHZ = 100

// readStat reads /proc/self/stat (proc(5)); ok is false where there is no
// /proc.
func readStat() (procStat, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name, field 2, is in parentheses and may hold spaces
	// and parentheses of its own: fields are counted from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 22 {
		return procStat{}, false
	}
	num := func(n int) float64 { v, _ := strconv.ParseUint(string(f[n-3]), 10, 64); return float64(v) }
	s := procStat{
		cpu:   (num(14) + num(15)) / userHZ,
		vsize: num(23),
		rss:   num(24) * float64(os.Getpagesize()),
	}
	if boot, ok := bootTime(); ok {
		s.start = boot + num(22)/userHZ
	}
	return s, true
}

// bootTime is the btime line of /proc/stat: when the machine booted, in
// seconds since the epoch.
func bootTime() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			return float64(n), err == nil
		}
	}
	return 0, false
}
