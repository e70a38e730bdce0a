package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/logletbin"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/internal/procstat"
)

// memoryTestBytes is what TestMemoryLimitHubOutage writes while the hub is
// down (MEMORY_TEST_BYTES overrides it: 1073741824 for the issue's
// full 1 GiB).
func memoryTestBytes(t *testing.T) int64 {
	s := os.Getenv("MEMORY_TEST_BYTES")
	if s == "" {
		return 256 << 20
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1<<20 {
		t.Fatalf("MEMORY_TEST_BYTES=%q: want a byte count of at least 1048576", s)
	}
	return n
}

// TestMemoryLimitHubOutage: a sidecar under its container's 64 MiB memory
// limit, told the limit as the webhook tells it (LOGLET_MEMORY_LIMIT from
// the downward API, in bytes), keeps its peak RSS under the limit while the
// hub is down and the files grow, is not OOM-killed, and delivers every
// line once the hub is back. Where the test may create a memory cgroup
// (root, cgroup v1 or v2) the agent runs inside a real one with that limit;
// elsewhere the peak RSS (VmHWM) is held to the limit.
func TestMemoryLimitHubOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 256 MiB; runs in make test")
	}
	const limit = 64 << 20
	bin := buildSlim(t)
	downward := []string{"LOGLET_MEMORY_LIMIT=" + strconv.Itoa(limit)}
	for _, tc := range []struct {
		name  string
		env   []string
		files int
		// cgroupOnly: the kernel's account (no OOM kill, the cgroup's
		// peak charge under the limit) is the verdict, not VmHWM; see below.
		cgroupOnly bool
	}{
		// The sidecar and the node DaemonSet: the downward API's value.
		// Few files: the catch-up after the outage is the load.
		{"downward API", downward, 4, false},
		// Many files: each holds a package being read besides those the
		// budget counts, so the budget and the heap limit must leave room
		// for them. Before the budget followed the limit this row was
		// OOM-killed. Its VmHWM (69-73 MiB) is over the limit though: the
		// executable's 16 MiB of clean file pages, charged elsewhere here
		// and reclaimable in a pod, and per-file read buffers that the
		// budget does not count yet; hence the kernel's verdict only.
		{"many files", downward, 32, true},
		// Nothing set: the agent reads its cgroup's limit (only meaningful
		// inside a real cgroup).
		{"cgroup", nil, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cg, why := newMemCgroup(t, limit)
			if cg == nil && (tc.env == nil || tc.cgroupOnly) {
				t.Skipf("needs a memory cgroup: %s", why)
			}
			if cg == nil {
				t.Logf("no real memory cgroup (%s): holding VmHWM to the limit instead", why)
			}
			runHubOutage(t, bin, cg, limit, memoryTestBytes(t), tc.files, tc.cgroupOnly, tc.env)
		})
	}
}

func runHubOutage(t *testing.T, bin string, cg *memCgroup, limit, total int64, files int, cgroupOnly bool, env []string) {
	hub := newSeqHub(t)
	dir := t.TempDir()
	args := []string{"--path", dir + "/*.log", "--state-dir", filepath.Join(dir, "state"), "--sink", hub.srv.URL,
		"--metrics-addr", "127.0.0.1:0", "--scan-interval", "100ms"}
	a := startAgentIn(t, bin, cg, env, args...)
	addr := a.metricsAddr(t)

	perFile := total / int64(files)
	lines := writeSeqFiles(t, dir, files, perFile)
	alive := func() {
		select {
		case <-a.done:
			t.Fatalf("the agent died: %v (cgroup: %s)", a.cmd.ProcessState, cg.describe(t))
		default:
		}
	}
	var read float64
	changed := time.Now()
	poll.Until(t, 120*time.Second, "reading to stall behind the hub that is down", func() bool {
		alive()
		errs, _ := metric(t, addr, "loglet_send_errors_total")
		prev := read
		if read, _ = metric(t, addr, "loglet_bytes_read_total"); read != prev {
			changed = time.Now()
		}
		return errs >= 3 && read > 0 && time.Since(changed) > time.Second
	})
	down := peakRSS(t, a)
	t.Logf("hub down, %d MiB written: the agent read %.0f MiB, peak RSS %.1f MiB (cgroup: %s)",
		total>>20, read/(1<<20), mib(down), cg.describe(t))
	if int64(read) >= int64(files)*perFile {
		t.Errorf("the agent read all %d bytes although the hub acknowledged nothing", int64(files)*perFile)
	}

	hub.up.Store(true)
	poll.Until(t, 300*time.Second, "every line at the hub once it is back", func() bool {
		alive()
		return hub.complete(files, lines)
	})
	if missing := hub.missing(files, lines); missing != "" {
		t.Errorf("lines lost: %s", missing)
	}
	peak := peakRSS(t, a)
	if now, err := procstat.Read(a.cmd.Process.Pid); err == nil {
		t.Logf("resident now: %.1f MiB anonymous, %.1f MiB of files (the executable)", mib(now.Anon), mib(now.File))
	}
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Errorf("agent exit code %d after SIGTERM, want 0 (cgroup: %s)", code, cg.describe(t))
	}
	t.Logf("all %d lines delivered; peak RSS over the run %.1f MiB under a %d MiB limit (cgroup: %s)",
		files*lines, mib(peak), limit>>20, cg.describe(t))
	if !cgroupOnly && peak >= limit {
		t.Errorf("peak RSS %.1f MiB, want under the %d MiB limit", mib(peak), limit>>20)
	}
	if charged := cg.peak(t); charged >= limit {
		t.Errorf("the cgroup's peak charge %.1f MiB reached the %d MiB limit", mib(charged), limit>>20)
	}
	if n := cg.oomKills(t); n > 0 {
		t.Errorf("the cgroup's OOM killer struck %d times", n)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func peakRSS(t *testing.T, a *agent) int64 {
	t.Helper()
	mem, err := procstat.Read(a.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return mem.Peak
}

// writeSeqFiles writes files app-<f>.log of perFile bytes of 200-byte lines
// "f<f> <seq> yyy…", and returns the lines per file.
func writeSeqFiles(t *testing.T, dir string, files int, perFile int64) int {
	t.Helper()
	const lineLen = 200
	lines := int(perFile / lineLen)
	pad := strings.Repeat("y", lineLen)
	for f := range files {
		fd, err := os.Create(filepath.Join(dir, fmt.Sprintf("app-%d.log", f)))
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriterSize(fd, 1<<20)
		for i := range lines {
			head := fmt.Sprintf("f%d %09d ", f, i)
			w.WriteString(head)
			w.WriteString(pad[:lineLen-len(head)-1])
			w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := fd.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return lines
}

// seqHub is an NDJSON hub that answers 503 until up, then takes every
// package and marks each line's sequence number, so a test can tell that
// nothing was lost without keeping gigabytes of bodies.
type seqHub struct {
	srv  *httptest.Server
	up   atomic.Bool
	mu   sync.Mutex
	seen map[int][]bool
	got  map[int]int
}

func newSeqHub(t *testing.T) *seqHub {
	h := &seqHub{seen: map[int][]bool{}, got: map[int]int{}}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

var bodyKey = []byte(`"body":"f`)

func (h *seqHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.up.Load() {
		io.Copy(io.Discard, r.Body)
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	raw, ok := gunzipBody(w, r)
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for line := range bytes.Lines(raw) {
		i := bytes.Index(line, bodyKey)
		if i < 0 {
			continue
		}
		var f, seq int
		head := line[i+len(bodyKey)-1:]
		if _, err := fmt.Sscanf(string(head[:min(len(head), 13)]), "f%d %d", &f, &seq); err != nil {
			continue
		}
		s := h.seen[f]
		if seq >= len(s) {
			s = append(s, make([]bool, seq+1-len(s))...)
			h.seen[f] = s
		}
		if !s[seq] {
			s[seq] = true
			h.got[f]++
		}
	}
}

func (h *seqHub) complete(files, lines int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for f := range files {
		if h.got[f] < lines {
			return false
		}
	}
	return true
}

// missing names the first line of each file that did not arrive.
func (h *seqHub) missing(files, lines int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for f := range files {
		s := h.seen[f]
		for i := range lines {
			if i >= len(s) || !s[i] {
				out = append(out, fmt.Sprintf("file %d from line %d (%d of %d arrived)", f, i, h.got[f], lines))
				break
			}
		}
	}
	return strings.Join(out, "; ")
}

// memCgroup is a memory cgroup made for one test, v1 or v2.
type memCgroup struct {
	dir string
	v2  bool
}

// newMemCgroup makes a memory cgroup limited to limit bytes, or says why
// it cannot (not root, no writable memory controller).
func newMemCgroup(t *testing.T, limit int64) (*memCgroup, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil, "not root"
	}
	name := fmt.Sprintf("loglet-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	cg := &memCgroup{dir: filepath.Join("/sys/fs/cgroup/memory", name)}
	limitFile := "memory.limit_in_bytes"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		// cgroup v2: a child of the root, which may hold processes.
		cg = &memCgroup{dir: filepath.Join("/sys/fs/cgroup", name), v2: true}
		limitFile = "memory.max"
	}
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		return nil, fmt.Sprintf("cannot create a memory cgroup: %v", err)
	}
	t.Cleanup(func() {
		// A cgroup goes once its processes are gone; the agent's cleanup
		// (registered later) runs first.
		if err := os.Remove(cg.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Logf("remove cgroup %s: %v", cg.dir, err)
		}
	})
	if err := os.WriteFile(filepath.Join(cg.dir, limitFile), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		return nil, fmt.Sprintf("cannot limit a memory cgroup: %v", err)
	}
	if cg.v2 {
		// No swap, as in a pod: the limit must hold in RAM.
		os.WriteFile(filepath.Join(cg.dir, "memory.swap.max"), []byte("0"), 0o644)
	}
	return cg, ""
}

func (c *memCgroup) read(t *testing.T, file string) string {
	b, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		t.Logf("cgroup: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// field reads "key N" from a flat-keyed cgroup file.
func (c *memCgroup) field(t *testing.T, file, key string) int64 {
	for line := range strings.Lines(c.read(t, file)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == key {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// peak is the most memory the cgroup was charged; 0 without one.
func (c *memCgroup) peak(t *testing.T) int64 {
	if c == nil {
		return 0
	}
	file := "memory.max_usage_in_bytes"
	if c.v2 {
		file = "memory.peak"
	}
	n, _ := strconv.ParseInt(c.read(t, file), 10, 64)
	return n
}

func (c *memCgroup) oomKills(t *testing.T) int64 {
	if c == nil {
		return 0
	}
	if c.v2 {
		return c.field(t, "memory.events", "oom_kill")
	}
	return c.field(t, "memory.oom_control", "oom_kill")
}

// describe is the cgroup's own account: its peak charge, how often it hit
// the limit (v1) and OOM kills.
func (c *memCgroup) describe(t *testing.T) string {
	if c == nil {
		return "none"
	}
	if c.v2 {
		return fmt.Sprintf("v2 memory.peak %.1f MiB, oom_kill %d", mib(c.peak(t)), c.oomKills(t))
	}
	return fmt.Sprintf("v1 max_usage %.1f MiB, failcnt %s, oom_kill %d", mib(c.peak(t)), c.read(t, "memory.failcnt"), c.oomKills(t))
}

// buildSlim builds the slim loglet, the one the webhook injects and the
// DaemonSet runs, as make build does: its executable is a third of the
// full build's, and its resident pages count against the limit too.
func buildSlim(t *testing.T) string {
	t.Helper()
	bin, err := logletbin.Build(t.TempDir(), "loglet-slim", "slim")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// startAgentIn starts the agent bin inside cg (nil: as it is): a shell
// joins the cgroup and execs the agent, so every page the agent touches is
// charged to the cgroup from its first instruction.
func startAgentIn(t *testing.T, bin string, cg *memCgroup, env []string, args ...string) *agent {
	t.Helper()
	argv := append([]string{bin, "agent", "--log-format", "json"}, args...)
	if cg != nil {
		argv = append([]string{"/bin/sh", "-c", `echo $$ > "$0" && exec "$@"`, filepath.Join(cg.dir, "cgroup.procs")}, argv...)
	}
	return startCommand(t, commandWithEnv(env, argv[0], argv[1:]...), "agent")
}

// TestMemoryBudgetFromLimit: the agent logs the budget it derived from its
// memory limit in every way the limit reaches it, and what the user set
// explicitly wins, with a warning when it cannot fit.
func TestMemoryBudgetFromLimit(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		args     []string
		buffer   string
		gomem    string
		warnings []string
	}{
		{"no limit: as before", []string{"LOGLET_MEMORY_LIMIT=none"}, nil, "64MiB", "112MiB", nil},
		{"downward API", []string{"LOGLET_MEMORY_LIMIT=67108864"}, nil, "16MiB", "48MiB", nil},
		{"flag in local mode", nil, []string{"--memory-limit", "128Mi"}, "32MiB", "80MiB", nil},
		{"explicit settings win", []string{"LOGLET_MEMORY_LIMIT=67108864", "GOMEMLIMIT=100MiB"}, []string{"--max-buffer-bytes", "32MiB"}, "32MiB", "100MiB",
			[]string{"max-buffer-bytes 32MiB is more than a quarter of the memory limit 64MiB", "GOMEMLIMIT 100MiB leaves less than 16MiB"}},
		{"explicit buffer from the environment", []string{"LOGLET_MEMORY_LIMIT=67108864", "LOGLET_MAX_BUFFER_BYTES=8MiB"}, nil, "8MiB", "48MiB", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"--path", dir + "/*.log", "--state-dir", filepath.Join(dir, "state"), "--sink", "null://", "--once"}, tc.args...)
			a := startAgentWithEnv(t, tc.env, args...)
			if code := a.wait(t, 30*time.Second); code != 0 {
				t.Fatalf("exit code %d", code)
			}
			var budget struct{ Buffer, GoMem string }
			var warnings []string
			for line := range strings.Lines(a.stderr.String()) {
				var l struct {
					Level, Msg string
					Buffer     string `json:"max_buffer_bytes"`
					GoMem      string `json:"gomemlimit"`
				}
				if json.Unmarshal([]byte(line), &l) != nil {
					continue
				}
				switch {
				case l.Msg == "memory budget":
					budget.Buffer, budget.GoMem = l.Buffer, l.GoMem
				case l.Level == "WARN":
					warnings = append(warnings, l.Msg)
				}
			}
			if budget.Buffer != tc.buffer || budget.GoMem != tc.gomem {
				t.Errorf("memory budget: max-buffer-bytes %q, GOMEMLIMIT %q; want %s, %s", budget.Buffer, budget.GoMem, tc.buffer, tc.gomem)
			}
			if len(warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d", warnings, len(tc.warnings))
			}
			for i, w := range tc.warnings {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q, want one containing %q", warnings[i], w)
				}
			}
		})
	}
}

// TestMemoryLimitBadValue: a limit in a unit Kubernetes and loglet read
// differently is refused with a message that names the setting and the
// forms it takes.
func TestMemoryLimitBadValue(t *testing.T) {
	dir := t.TempDir()
	a := startAgentWithEnv(t, []string{"LOGLET_MEMORY_LIMIT=64M"}, "--path", dir+"/*.log", "--state-dir", filepath.Join(dir, "state"), "--sink", "null://", "--once")
	if code := a.wait(t, 30*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if msg := a.stderr.String(); !strings.Contains(msg, `memory-limit: invalid value "64M"`) || !strings.Contains(msg, "64Mi") {
		t.Errorf("the error does not say what is wrong and how to write it:\n%s", msg)
	}
}
