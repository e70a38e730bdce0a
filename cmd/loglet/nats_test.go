//go:build !slim

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/loglet/loglet/hub"
	"github.com/loglet/loglet/hub/query"
)

// streamPackages reads the hub: how often each line is stored, and the
// highest package id stored per source.
func streamPackages(t *testing.T, url string) (lines map[string]int, top map[string]uint64) {
	t.Helper()
	r, err := query.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lines, top = map[string]int{}, map[string]uint64{}
	err = r.Tail(context.Background(), query.Filter{}, query.Options{}, func(rec query.Record) error {
		lines[rec.Body]++
		if pid, ok := top[rec.SourceID()]; !ok || rec.PackageID() > pid {
			top[rec.SourceID()] = rec.PackageID()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines, top
}

// TestNATSCrashStoresEachPackageOnce: the agent is killed with SIGKILL
// after the hub stored packages but before their checkpoint; the next run
// sends them again and the hub's duplicate window stores them once.
func TestNATSCrashStoresEachPackageOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("process test with kill -9; runs in make test")
	}
	h, err := hub.Start(context.Background(), hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown()
	dir := t.TempDir()
	const n = 100_000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "line %06d %s\n", i, strings.Repeat("z", 120))
	}
	os.WriteFile(filepath.Join(dir, "app.log"), []byte(b.String()), 0o644)
	state := filepath.Join(dir, "state")
	args := []string{"--path", dir + "/*.log", "--state-dir", state, "--sink", h.SinkURL(), "--batch-bytes", "4KiB"}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	resent := 0
	for kill := 0; kill < 5; kill++ {
		a := startAgent(t, args...)
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond) // a random moment to crash at
		a.cmd.Process.Signal(syscall.SIGKILL)
		<-a.done
		_, top := streamPackages(t, h.SinkURL())
		for _, cp := range checkpointtest.Load(t, state) {
			if stored, ok := top[cp.SourceID]; ok && stored >= cp.NextPackageID {
				resent++ // the hub holds packages the checkpoint does not cover
			}
		}
	}
	final := startAgent(t, append(args, "--once")...)
	if code := final.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("final run exited %d", code)
	}
	lines, _ := streamPackages(t, h.SinkURL())
	for i := range n {
		l := fmt.Sprintf("line %06d %s", i, strings.Repeat("z", 120))
		if lines[l] != 1 {
			t.Fatalf("%q stored %d times, want once", l, lines[l])
		}
	}
	if resent == 0 {
		t.Errorf("no kill came between a publish and its checkpoint; the test did not exercise the duplicate window (seed %d)", seed)
	}
	t.Logf("%d of 5 kills left packages stored but not checkpointed; every line is stored once", resent)
}

func TestLogsErrors(t *testing.T) {
	h, err := hub.Start(context.Background(), hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown()
	noJS := natsServer(t, &server.Options{})
	noHeaders := natsServer(t, &server.Options{NoHeaderSupport: true})
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"logs", "tail", "--hub", "nats://127.0.0.1:1/LOGLET"}, "unreachable"},
		{[]string{"logs", "tail", "--hub", noJS}, "the NATS server there has no JetStream (start nats-server with -js, or run loglet hub)"},
		{[]string{"logs", "tail", "--hub", noHeaders}, "the NATS server there takes no message headers"},
		{[]string{"logs", "tail", "--hub", h.SinkURL(), "--severity", "loud"}, `severity "loud": want one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL`},
		{[]string{"logs", "tail", "--hub", h.SinkURL(), "--where", "app"}, `where "app": want key=value`},
		{[]string{"logs", "tail", "--hub", h.SinkURL(), "--where", "app~=("}, `where "app~=("`},
		{[]string{"logs", "tail", "--hub", h.SinkURL(), "--since-time", "yesterday"}, `since-time "yesterday": want an RFC 3339 time`},
		{[]string{"logs", "tail", "--hub", h.SinkURL(), "--since", "1h", "--until", "2h"}, "is before since"},
		{[]string{"logs", "tail", "--hub", h.SinkURL(), "--count", "-f"}, "cannot be used with -f"},
		{[]string{"logs", "tail", "--hub", h.SinkURL(), "-o", "yaml"}, `output "yaml": want text, json or raw`},
		{[]string{"logs", "context", "feedfacefeedface", "3", "0", "--hub", h.SinkURL()}, "package 3 of source feedfacefeedface is not in stream LOGLET"},
		{[]string{"logs", "context", "x", "three", "0", "--hub", h.SinkURL()}, `PACKAGE_ID "three": want a number`},
		{[]string{"logs", "tail", "--hub", strings.TrimSuffix(h.SinkURL(), "LOGLET") + "OTHER"}, "has no stream OTHER"},
	}
	for _, tc := range tests {
		out, err := exec.Command(loglet, tc.args...).CombinedOutput()
		if code := exitCode(err); code != 1 || !strings.Contains(string(out), tc.want) {
			t.Errorf("loglet %s: exit %d, output %q; want exit 1 mentioning %q", strings.Join(tc.args, " "), code, out, tc.want)
		}
	}
}

// natsServer starts a NATS server with options o on a free port and
// returns its URL.
func natsServer(t *testing.T, o *server.Options) string {
	t.Helper()
	o.Host, o.Port, o.NoLog, o.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true
	ns, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	return ns.ClientURL() + "/LOGLET"
}

// TestLogsQuery: loglet logs prints what a user asks for, as text (time,
// severity, where from, body), json or raw; counts; reads the last N;
// and reports and skips a message that is not a loglet package.
func TestLogsQuery(t *testing.T) {
	h, err := hub.Start(context.Background(), hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown()
	dir := t.TempDir()
	var b strings.Builder
	for i := range 100 {
		level := "info"
		if i%10 == 9 {
			level = "error"
		}
		fmt.Fprintf(&b, `{"time":"2026-12-01T10:%02d:%02dZ","level":%q,"msg":"request %d done","status":%d}`+"\n", i/60, i%60, level, i, 200+i%3)
	}
	os.WriteFile(filepath.Join(dir, "app.log"), []byte(b.String()), 0o644)
	a := startAgent(t, "--path", dir+"/*.log", "--format", "json", "--time-key", "time", "--state-dir", t.TempDir(), "--sink", h.SinkURL(), "--once")
	if code := a.wait(t, time.Minute); code != 0 {
		t.Fatalf("agent exited %d", code)
	}
	nc, err := nats.Connect(h.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("loglet.default.x", []byte("someone else's message")); err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	run := func(args ...string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(loglet, append([]string{"logs", "tail", "--hub", h.SinkURL()}, args...)...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("loglet logs tail %s: %v\n%s", strings.Join(args, " "), err, e.String())
		}
		return o.String(), e.String()
	}
	out, errOut := run("--severity", "ERROR", "--tail", "2")
	want := "2026-12-01T10:01:29.000000000Z ERROR app.log request 89 done\n2026-12-01T10:01:39.000000000Z ERROR app.log request 99 done\n"
	if out != want {
		t.Errorf("--severity ERROR --tail 2 printed\n%s\nwant\n%s", out, want)
	}
	if !regexp.MustCompile(`skipped LOGLET message \d+ on loglet.default.x: not a loglet package`).MatchString(errOut) {
		t.Errorf("stderr %q: want the message it skipped, named", errOut)
	}
	out, _ = run("-o", "json", "--tail", "1")
	var rec struct {
		Body       string         `json:"body"`
		Severity   string         `json:"severity"`
		Attributes map[string]any `json:"attributes"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.Body != "request 99 done" || rec.Severity != "ERROR" || rec.Attributes["status"] != 200.0 {
		t.Errorf("-o json --tail 1: %q (%v); want the record of request 99 as JSON", out, err)
	}
	if out, _ := run("--count", "--where", "status=201"); out != "33\n" {
		t.Errorf("--count --where status=201: %q, want 33", out)
	}
	if out, _ := run("-o", "raw", "--grep", "request 4[2-3] ", "--since-time", "2026-12-01T10:00:00Z", "--until", "2026-12-01T10:00:42Z"); out != "request 42 done\n" {
		t.Errorf("-o raw --grep --since-time --until: %q", out)
	}
}
