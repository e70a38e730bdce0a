package memlimit

import (
	"strings"
	"testing"
	"testing/fstest"
)

const mi = 1 << 20

func TestPlan(t *testing.T) {
	tests := []struct {
		name       string
		in         Input
		buffer     int64
		goMemLimit int64
		warn       string
	}{
		{"no limit: as before", Input{Buffer: 64 * mi}, 64 * mi, 112 * mi, ""},
		{"webhook default 64Mi", Input{Limit: 64 * mi, Buffer: 64 * mi}, 16 * mi, 48 * mi, ""},
		{"chart DaemonSet 256Mi", Input{Limit: 256 * mi, Buffer: 64 * mi}, 64 * mi, 112 * mi, ""},
		{"node allocatable (no limit in the pod)", Input{Limit: 15 << 30, Buffer: 64 * mi}, 64 * mi, 112 * mi, ""},
		{"128Mi", Input{Limit: 128 * mi, Buffer: 64 * mi}, 32 * mi, 80 * mi, ""},
		{"48Mi", Input{Limit: 48 * mi, Buffer: 64 * mi}, 12 * mi, 32 * mi, ""},
		{"smaller configured buffer stays", Input{Limit: 64 * mi, Buffer: 4 * mi}, 4 * mi, 48 * mi, ""},
		{"explicit buffer is kept, with a warning", Input{Limit: 64 * mi, Buffer: 64 * mi, BufferExplicit: true}, 64 * mi, 65 * mi, "max-buffer-bytes 64MiB is more than a quarter"},
		{"explicit buffer that fits", Input{Limit: 64 * mi, Buffer: 8 * mi, BufferExplicit: true}, 8 * mi, 48 * mi, ""},
		{"explicit GOMEMLIMIT is left alone", Input{Limit: 64 * mi, Buffer: 64 * mi, GoMemLimit: 40 * mi}, 16 * mi, 0, ""},
		{"explicit GOMEMLIMIT above the limit", Input{Limit: 64 * mi, Buffer: 64 * mi, GoMemLimit: 100 * mi}, 16 * mi, 0, "GOMEMLIMIT 100MiB leaves less than 16MiB"},
		{"tiny limit", Input{Limit: 32 * mi, Buffer: 64 * mi}, 8 * mi, 16 * mi, "memory limit 32MiB is below"},
		{"absurd limit keeps the floors", Input{Limit: 1 * mi, Buffer: 64 * mi}, 1 * mi, 2 * mi, "memory limit 1MiB is below"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := Plan(tc.in)
			if b.Buffer != tc.buffer || b.GoMemLimit != tc.goMemLimit {
				t.Errorf("Plan(%+v) = buffer %s, GOMEMLIMIT %s; want %s, %s", tc.in, Format(b.Buffer), Format(b.GoMemLimit), Format(tc.buffer), Format(tc.goMemLimit))
			}
			warnings := strings.Join(b.Warnings, "\n")
			if (tc.warn == "") != (warnings == "") || !strings.Contains(warnings, tc.warn) {
				t.Errorf("warnings %q, want one containing %q", warnings, tc.warn)
			}
		})
	}
}

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in    string
		limit int64
		auto  bool
		err   bool
	}{
		{"", 0, true, false},
		{"auto", 0, true, false},
		{"none", 0, false, false},
		{"0", 0, false, false},
		{"67108864", 64 * mi, false, false}, // the downward API, divisor 1
		{" 67108864\n", 64 * mi, false, false},
		{"64Mi", 64 * mi, false, false},
		{"64MiB", 64 * mi, false, false},
		{"1Gi", 1 << 30, false, false},
		{"512Ki", 512 << 10, false, false},
		{"64M", 0, false, true}, // Kubernetes M is 10^6, loglet's sizes binary: ambiguous, refused
		{"-1", 0, false, true},
		{"lots", 0, false, true},
		{"99999999999Ti", 0, false, true},
	}
	for _, tc := range tests {
		limit, auto, err := ParseLimit(tc.in)
		if limit != tc.limit || auto != tc.auto || (err != nil) != tc.err {
			t.Errorf("ParseLimit(%q) = %d, %v, %v; want %d, %v, error %v", tc.in, limit, auto, err, tc.limit, tc.auto, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), "LOGLET_MEMORY_LIMIT") {
			t.Errorf("ParseLimit(%q): error %q does not say which setting is wrong", tc.in, err)
		}
	}
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"", "auto", "none", "67108864", "64Mi", "64MiB", "1Ti", "-5", "9223372036854775807", "Mi"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		limit, auto, err := ParseLimit(s)
		if err != nil && (limit != 0 || auto) {
			t.Fatalf("ParseLimit(%q) failed but returned %d, %v", s, limit, auto)
		}
		if limit < 0 {
			t.Fatalf("ParseLimit(%q) = %d", s, limit)
		}
		// Whatever the limit, the plan keeps its floors.
		b := Plan(Input{Limit: limit, Buffer: 64 * mi})
		if b.Buffer < MinBuffer || b.GoMemLimit <= b.Buffer {
			t.Fatalf("Plan for limit %d: buffer %d, GOMEMLIMIT %d", limit, b.Buffer, b.GoMemLimit)
		}
	})
}

func TestCgroup(t *testing.T) {
	v1 := func(files map[string]string) fstest.MapFS {
		fsys := fstest.MapFS{}
		for k, v := range files {
			fsys[k] = &fstest.MapFile{Data: []byte(v)}
		}
		return fsys
	}
	v2 := func(files map[string]string) fstest.MapFS {
		fsys := v1(files)
		fsys["cgroup.controllers"] = &fstest.MapFile{Data: []byte("cpu memory pids\n")}
		return fsys
	}
	const v1Self = "9:name=systemd:/\n4:memory:/kubepods/pod1/c1\n3:cpuset:/\n"
	tests := []struct {
		name  string
		sys   fstest.MapFS
		self  string
		limit int64
		from  string
		err   string
	}{
		{"v2 in a container (cgroup namespace)", v2(map[string]string{"memory.max": "67108864\n"}), "0::/\n", 64 * mi, "memory.max", ""},
		{"v2 unlimited", v2(map[string]string{"memory.max": "max\n"}), "0::/\n", 0, "", ""},
		{"v2 root has no memory.max", v2(nil), "0::/\n", 0, "", ""},
		{"v2 nested, parent binds", v2(map[string]string{
			"kubepods/memory.max":         "50331648\n",
			"kubepods/pod1/c1/memory.max": "67108864\n",
		}), "0::/kubepods/pod1/c1\n", 48 * mi, "kubepods/memory.max", ""},
		{"v1 seen from the host", v1(map[string]string{
			"memory/memory.limit_in_bytes":                  "9223372036854771712\n",
			"memory/kubepods/pod1/c1/memory.limit_in_bytes": "67108864\n",
		}), v1Self, 64 * mi, "memory/kubepods/pod1/c1/memory.limit_in_bytes", ""},
		{"v1 in a container: the mount is its own cgroup", v1(map[string]string{
			"memory/memory.limit_in_bytes": "67108864\n",
		}), v1Self, 64 * mi, "memory/memory.limit_in_bytes", ""},
		{"v1 unlimited", v1(map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}), "4:memory:/\n", 0, "", ""},
		{"v1 memory among other controllers", v1(map[string]string{
			"memory/a/memory.limit_in_bytes": "1048576\n",
		}), "4:cpu,memory:/a\n", 1 * mi, "memory/a/memory.limit_in_bytes", ""},
		{"no cgroup fs at all", v1(nil), "", 0, "", ""},
		{"garbage", v1(map[string]string{"memory/memory.limit_in_bytes": "lots\n"}), "4:memory:/\n", 0, "", `"lots" is no byte count`},
		{"escaping path stays inside", v1(map[string]string{"memory/memory.limit_in_bytes": "1048576\n"}), "4:memory:/../../etc\n", 1 * mi, "memory/memory.limit_in_bytes", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			limit, from, err := Cgroup(tc.sys, tc.self)
			if limit != tc.limit || from != tc.from {
				t.Errorf("Cgroup = %d from %q, want %d from %q", limit, from, tc.limit, tc.from)
			}
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func FuzzCgroup(f *testing.F) {
	f.Add("67108864\n", "4:memory:/a\n", false)
	f.Add("max\n", "0::/\n", true)
	f.Add("9223372036854771712", "4:cpu,memory:/../x\n", false)
	f.Add("-1", "garbage", true)
	f.Fuzz(func(t *testing.T, content, self string, v2 bool) {
		fsys := fstest.MapFS{
			"memory/memory.limit_in_bytes":   {Data: []byte(content)},
			"memory/a/memory.limit_in_bytes": {Data: []byte(content)},
			"memory.max":                     {Data: []byte(content)},
			"a/memory.max":                   {Data: []byte(content)},
		}
		if v2 {
			fsys["cgroup.controllers"] = &fstest.MapFile{Data: []byte("memory")}
		}
		limit, from, err := Cgroup(fsys, self)
		if limit < 0 || (err != nil && limit != 0) || (limit > 0) != (from != "") {
			t.Fatalf("Cgroup(%q, %q) = %d, %q, %v", content, self, limit, from, err)
		}
	})
}

func TestResolve(t *testing.T) {
	cgroup := func(limit string) fstest.MapFS {
		return fstest.MapFS{"memory/memory.limit_in_bytes": {Data: []byte(limit + "\n")}}
	}
	const self = "4:memory:/\n"
	tests := []struct {
		name, setting string
		sys           fstest.MapFS
		limit         int64
		from          string
		buffer        int64
		warn, err     string
	}{
		{"downward API, no cgroup limit", "67108864", cgroup("9223372036854771712"), 64 * mi, "memory-limit", 16 * mi, "", ""},
		{"allocatable from the downward API, the cgroup binds", "16106127360", cgroup("67108864"), 64 * mi, "/sys/fs/cgroup/memory/memory.limit_in_bytes", 16 * mi, "", ""},
		{"auto reads the cgroup", "auto", cgroup("134217728"), 128 * mi, "/sys/fs/cgroup/memory/memory.limit_in_bytes", 32 * mi, "", ""},
		{"none ignores the cgroup", "none", cgroup("67108864"), 0, "", 64 * mi, "", ""},
		{"an unreadable cgroup is a warning", "auto", cgroup("lots"), 0, "", 64 * mi, "planning memory without it", ""},
		{"a bad setting is an error", "64M", cgroup("67108864"), 0, "", 0, "", "memory-limit: invalid value \"64M\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Resolve(tc.setting, 64*mi, false, 0, tc.sys, self)
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
			if err != nil {
				return
			}
			if r.Limit != tc.limit || r.From != tc.from || r.Buffer != tc.buffer {
				t.Errorf("Resolve = limit %d from %q, buffer %s; want %d from %q, %s", r.Limit, r.From, Format(r.Buffer), tc.limit, tc.from, Format(tc.buffer))
			}
			warnings := strings.Join(r.Warnings, "\n")
			if (tc.warn == "") != (warnings == "") || !strings.Contains(warnings, tc.warn) {
				t.Errorf("warnings %q, want one containing %q", warnings, tc.warn)
			}
		})
	}
}
