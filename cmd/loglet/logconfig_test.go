package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/logconfig"
	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
)

// configMapVolume is a ConfigMap volume as the kubelet keeps it: the data
// in a timestamped folder, ..data a symlink to it, each key a symlink
// through ..data. An update writes a new timestamped folder, points
// ..data_tmp at it and renames ..data_tmp over ..data (one atomic
// rename), then removes the old folder.
type configMapVolume struct {
	dir string
	n   int
}

// newConfigMapVolume is an empty mount of an optional ConfigMap.
func newConfigMapVolume(t *testing.T, dir string) *configMapVolume {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &configMapVolume{dir: dir}
}

// podVolume lays out a sidecar's volume as the webhook and the kubelet
// do for a pod labelled app=web: the downward API's labels and these
// folders.
func podVolume(t *testing.T, vol string, dirs ...string) {
	t.Helper()
	for _, d := range append(dirs, "podinfo") {
		if err := os.MkdirAll(filepath.Join(vol, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(vol, "podinfo", "labels"), []byte("app=\"web\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// byBody reads the file sink's records so far, by body.
func byBody(t *testing.T, out string) map[string][]sinktest.Full {
	t.Helper()
	recs, _, err := sinktest.ReadFileAs[sinktest.Full](out)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	by := map[string][]sinktest.Full{}
	for _, r := range recs {
		by[r.Body] = append(by[r.Body], r)
	}
	return by
}

func (v *configMapVolume) write(t *testing.T, key string, data []byte) {
	t.Helper()
	v.n++
	ts := fmt.Sprintf("..2026_12_02_06_%02d_00.%09d", v.n, v.n)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.dir, ts, key), data, 0o644); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(v.dir, "..data"))
	if err := os.Symlink(ts, filepath.Join(v.dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(v.dir, "..data_tmp"), filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(v.dir, key)); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join("..data", key), filepath.Join(v.dir, key)); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// rendered is the controller's ConfigMap document with one LogConfig,
// web, selecting app=web, with these inputs.
func rendered(t *testing.T, inputs ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"version": logconfig.Version, "configs": []any{map[string]any{
		"kind": logconfig.KindLogConfig, "name": "web", "selector": map[string]any{"matchLabels": map[string]string{"app": "web"}},
		"inputs": inputs,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lineWriter appends numbered lines to a file until stopped, as an app
// logs: next is the number of the next line.
type lineWriter struct {
	path   string
	format string // fmt format of a line, given its number
	next   atomic.Int64
	stop   chan struct{}
	done   chan error
}

func startWriter(path, format string, from int64) *lineWriter {
	w := &lineWriter{path: path, format: format, stop: make(chan struct{}), done: make(chan error, 1)}
	w.next.Store(from)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			w.done <- err
			return
		}
		defer f.Close()
		for {
			select {
			case <-w.stop:
				w.done <- nil
				return
			default:
			}
			var chunk []byte
			n := w.next.Load()
			for i := n; i < n+20; i++ {
				chunk = fmt.Appendf(chunk, w.format+"\n", i)
			}
			if _, err := f.Write(chunk); err != nil {
				w.done <- err
				return
			}
			w.next.Store(n + 20)
			time.Sleep(2 * time.Millisecond) // an application's pace, not synchronisation
		}
	}()
	return w
}

// halt stops the writer and returns how many lines it wrote in all.
func (w *lineWriter) halt(t *testing.T) int64 {
	t.Helper()
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
	return w.next.Load()
}

// TestLogConfigReloadWithoutRestart is issue 21's "must show" 2: a sidecar
// runs with a LogConfig input (raw lines of /var/log/app/*.log); the
// mounted ConfigMap is swapped the way the kubelet does it to another
// input (JSON of /var/log/app/*.json). The new input's records arrive
// without a restart; the old input's lines written before the swap arrive
// once each; what is written to the old file after its input was
// released is never read. Then kill -9 while the new input is written,
// and a restart: every line of the new input arrives, a line twice only
// if its package was not checkpointed when the agent died.
func TestLogConfigReloadWithoutRestart(t *testing.T) {
	vol, dir := t.TempDir(), t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	podVolume(t, vol, "c/app/0")
	cm := newConfigMapVolume(t, filepath.Join(dir, "logconfig"))
	cm.write(t, logconfig.ConfigMapKey, rendered(t, map[string]any{"name": "access", "files": []string{"/var/log/app/*.log"}}))
	logs := filepath.Join(vol, "c", "app", "0")
	env := []string{
		// What the webhook writes: the LogConfig's input as it was at
		// injection, the mounted file and the shared folders.
		`LOGLET_CONFIG={"version":1,"inputs":[{"name":"web/access","files":["` + logs + `/*.log"]}]}`,
		"LOGLET_LOGCONFIG_FILE=" + filepath.Join(cm.dir, logconfig.ConfigMapKey),
		`LOGLET_CONTAINER_MOUNTS={"app":{"/var/log/app":"c/app/0"}}`,
		`LOGLET_CONTAINER_IMAGES={"app":"ghcr.io/example/web:1.4.2"}`,
		"LOGLET_STDOUT=off",
		"LOGLET_POD_VOLUME=" + vol,
		"LOGLET_POD_NAME=web-1",
		"LOGLET_POD_NAMESPACE=shop",
		"LOGLET_STATE_DIR=" + filepath.Join(vol, "state"),
		"LOGLET_SINK=file://" + out,
		"LOGLET_BATCH_WAIT=50ms",
		"LOGLET_SCAN_INTERVAL=50ms",
		"LOGLET_CHECKPOINT_INTERVAL=50ms",
	}
	a := startAgentWithEnv(t, env, "--mode=sidecar", "--metrics-addr", "127.0.0.1:0")
	metricsAddr := a.metricsAddr(t)

	count := func() (map[string]int, map[string]sinktest.Full) {
		recs, _, err := sinktest.ReadFileAs[sinktest.Full](out)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		n, last := map[string]int{}, map[string]sinktest.Full{}
		for _, r := range recs {
			n[r.Body]++
			last[r.Body] = r
		}
		return n, last
	}
	old := startWriter(filepath.Join(logs, "access.log"), "old %06d", 0)
	poll.Until(t, 10*time.Second, "the old input's first lines", func() bool {
		n, _ := count()
		return n["old 000100"] > 0
	})
	oldBefore := old.halt(t)

	// The LogConfig edited: another input, another path, another format.
	cm.write(t, logconfig.ConfigMapKey, rendered(t, map[string]any{"name": "events", "files": []string{"/var/log/app/*.json"}, "format": "json"}))
	swapped := time.Now()
	t.Logf("ConfigMap swapped at %s", swapped.UTC().Format(time.RFC3339Nano))
	events := startWriter(filepath.Join(logs, "events.json"), `{"level":"warn","msg":"new %06d"}`, 0)
	poll.Until(t, 10*time.Second, "the new input's records", func() bool {
		n, _ := count()
		return n["new 000000"] > 0
	})
	took := firstObserved(t, out, "new ").Sub(swapped)
	t.Logf("the new input took effect in %s: the swap to its first record's observed_time (seen by the test %s after)", took, time.Since(swapped))
	// The old file's source is released once read to its end: lines
	// written to it from then on are not the agent's to read.
	poll.Until(t, 10*time.Second, "the old input's file released", func() bool {
		return strings.Contains(a.stderr.String(), `"msg":"released a finished file"`)
	})
	late := startWriter(filepath.Join(logs, "access.log"), "late %06d", 0)
	if v, _ := metric(t, metricsAddr, `loglet_logconfig_reloads_total{result="applied"}`); v != 2 {
		t.Errorf("loglet_logconfig_reloads_total{result=\"applied\"} = %v, want 2 (the start and the swap)", v)
	}

	// kill -9 while both files are written, once a checkpoint of the new
	// input was written.
	state := filepath.Join(vol, "state")
	poll.Until(t, 10*time.Second, "a checkpoint of the new input", func() bool {
		for _, cp := range checkpointtest.Load(t, state) {
			if strings.HasSuffix(cp.Path, "events.json") && cp.NextPackageID > 1 {
				return true
			}
		}
		return false
	})
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	if ws := a.cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() {
		t.Fatalf("agent exited on its own before the kill: %v", a.cmd.ProcessState)
	}
	checkpointsAtKill := readCheckpoints(t, state)
	killedAt := completeSize(t, out)

	b := startAgentWithEnv(t, env, "--mode=sidecar")
	written := events.next.Load() // lines written so far, while the agent was down too
	poll.Until(t, 10*time.Second, "new records after the restart", func() bool {
		n, _ := count()
		return n[fmt.Sprintf("new %06d", written-1)] > 0
	})
	eventsWritten := events.halt(t)
	late.halt(t)
	poll.Until(t, 20*time.Second, "every line of the new input", func() bool {
		n, _ := count()
		return n[fmt.Sprintf("new %06d", eventsWritten-1)] > 0
	})
	b.cmd.Process.Signal(syscall.SIGTERM)
	if code := b.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d after SIGTERM", code)
	}

	// The sink run by run: before the kill and after.
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type occ struct {
		run      int
		sourceID string
		pkg      uint64
	}
	seen := map[string][]occ{}
	torn := 0
	for run, span := range [][2]int64{{0, killedAt}, {killedAt, fileSize(out)}} {
		recs, n, err := sinktest.ParseAs[sinktest.Full](io.NewSectionReader(f, span[0], span[1]-span[0]))
		if err != nil {
			t.Fatal(err)
		}
		torn += n
		for _, r := range recs {
			id, _ := r.Attributes["loglet.source_id"].(string)
			pkg, _ := r.Attributes["loglet.package_id"].(float64)
			seen[r.Body] = append(seen[r.Body], occ{run, id, uint64(pkg)})
			in, _ := r.Attributes["loglet.input"].(string)
			switch {
			case strings.HasPrefix(r.Body, "late "):
				t.Fatalf("%q was written to the old input's file after it was released, and was read", r.Body)
			case strings.HasPrefix(r.Body, "old ") && (in != "web/access" || r.Severity != ""):
				t.Fatalf("%q: input %q, severity %q; want web/access, raw", r.Body, in, r.Severity)
			case strings.HasPrefix(r.Body, "new ") && (in != "web/events" || r.Severity != "WARN"):
				t.Fatalf("%q: input %q, severity %q; want web/events, parsed as JSON (WARN)", r.Body, in, r.Severity)
			}
		}
	}
	if torn > 1 {
		t.Errorf("%d torn records, more than the one kill", torn)
	}
	for i := range oldBefore {
		if body := fmt.Sprintf("old %06d", i); len(seen[body]) != 1 {
			t.Fatalf("%q, written before the swap, arrived %d times; want once", body, len(seen[body]))
		}
	}
	dups := 0
	for i := range eventsWritten {
		body := fmt.Sprintf("new %06d", i)
		o := seen[body]
		if len(o) == 0 {
			t.Fatalf("%q never arrived", body)
		}
		for j, first := range o[:len(o)-1] {
			dups++
			if o[j+1].run == first.run {
				t.Fatalf("%q sent twice within run %d", body, first.run)
			}
			if next, ok := checkpointsAtKill[first.sourceID]; ok && next > first.pkg {
				t.Fatalf("%q re-sent although its package %s/%d was checkpointed (next %d) at the kill", body, first.sourceID, first.pkg, next)
			}
		}
	}
	t.Logf("old input: %d lines once each; new input: %d lines, %d sent again after the kill (not checkpointed then); swap took effect in %s",
		oldBefore, eventsWritten, dups, took)
}

// TestLogConfigStdoutInput: a LogConfig input with stdout: true, added
// while the sidecar runs, reads the container's stdout copies (CRI lines,
// as loglet exec writes them with stdout: wrap) with its own format from
// the swap on; before, they were read as the pod's own stdout (raw). Each
// line arrives once.
func TestLogConfigStdoutInput(t *testing.T) {
	vol, dir := t.TempDir(), t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	stdout := filepath.Join(vol, "stdout", "app")
	podVolume(t, vol, "stdout/app")
	cm := newConfigMapVolume(t, filepath.Join(dir, "logconfig"))
	// The mount is there, the ConfigMap not yet (optional): the file
	// appears later.
	env := []string{
		"LOGLET_LOGCONFIG_FILE=" + filepath.Join(cm.dir, logconfig.ConfigMapKey),
		`LOGLET_CONTAINER_IMAGES={"app":"ghcr.io/example/web:1.4.2"}`,
		"LOGLET_STDOUT=wrap",
		"LOGLET_POD_VOLUME=" + vol,
		"LOGLET_POD_NAME=web-1",
		"LOGLET_POD_NAMESPACE=shop",
		"LOGLET_STATE_DIR=" + filepath.Join(vol, "state"),
		"LOGLET_SINK=file://" + out,
		"LOGLET_BATCH_WAIT=50ms",
		"LOGLET_SCAN_INTERVAL=50ms",
	}
	a := startAgentWithEnv(t, env, "--mode=sidecar")
	cri := startWriter(filepath.Join(stdout, "stdout.log"), `2026-12-02T06:00:00.000000000Z stdout F {"level":"error","msg":"line %06d"}`, 0)
	count := func() map[string][]sinktest.Full { return byBody(t, out) }
	poll.Until(t, 10*time.Second, "stdout read as raw lines", func() bool {
		return len(count()[`{"level":"error","msg":"line 000100"}`]) > 0
	})
	cm.write(t, logconfig.ConfigMapKey, rendered(t, map[string]any{"name": "stdout", "stdout": true, "format": "json"}))
	swapped := time.Now()
	poll.Until(t, 10*time.Second, "stdout parsed by the LogConfig input", func() bool {
		for _, rs := range count() {
			if rs[0].Attributes["loglet.input"] == "web/stdout" {
				return true
			}
		}
		return false
	})
	t.Logf("the stdout input took effect in %s: the ConfigMap's appearance to its first record's observed_time (seen by the test %s after)",
		firstObserved(t, out, "line ").Sub(swapped), time.Since(swapped))
	written := cri.halt(t)
	poll.Until(t, 10*time.Second, "every stdout line", func() bool {
		return len(count()[fmt.Sprintf("line %06d", written-1)]) > 0
	})
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d after SIGTERM", code)
	}
	by := count()
	parsed := 0
	for i := range written {
		raw, asJSON := by[fmt.Sprintf(`{"level":"error","msg":"line %06d"}`, i)], by[fmt.Sprintf("line %06d", i)]
		if len(raw)+len(asJSON) != 1 {
			t.Fatalf("line %d arrived %d times raw and %d times parsed; want once", i, len(raw), len(asJSON))
		}
		if len(asJSON) == 1 {
			parsed++
			if r := asJSON[0]; r.Severity != "ERROR" || r.Attributes["loglet.input"] != "web/stdout" || r.Attributes["log.iostream"] != "stdout" ||
				r.Resource["k8s.container.name"] != "app" {
				t.Fatalf("line %d: %+v; want severity ERROR, input web/stdout, stream stdout, container app", i, r)
			}
		} else if parsed > 0 {
			t.Fatalf("line %d arrived raw after line(s) parsed by the new input: the inputs mixed", i)
		}
	}
	t.Logf("%d stdout lines, %d parsed by the LogConfig input", written, parsed)
}

// firstObserved is the earliest observed_time of the delivered records
// whose body starts with prefix: when the agent read the first of them.
func firstObserved(t *testing.T, out, prefix string) time.Time {
	t.Helper()
	recs, _, err := sinktest.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var first time.Time
	for _, r := range recs {
		if !strings.HasPrefix(r.Body, prefix) {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, r.Observed)
		if err != nil {
			t.Fatalf("observed_time %q: %v", r.Observed, err)
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	if first.IsZero() {
		t.Fatalf("no record starts with %q", prefix)
	}
	return first
}
