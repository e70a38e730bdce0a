//go:build !slim

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"

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
	err = r.Tail(context.Background(), query.Filter{}, false, func(rec query.Record) error {
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
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"logs", "tail", "--hub", "nats://127.0.0.1:1/LOGLET"}, "unreachable"},
		{[]string{"logs", "context", "feedfacefeedface", "3", "0", "--hub", h.SinkURL()}, "package 3 of loglet.*.feedfacefeedface is not in the stream"},
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
