package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/internal/shiptest"
)

// TestOnceSaysWhatItDelivered: a backfill with --once ends with one line
// saying how many files, records and bytes the hub took (issue 25).
func TestOnceSaysWhatItDelivered(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.log"), []byte("one\ntwo\nthree\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.log"), []byte("four\nfive\n"), 0o644)
	a := startAgent(t, "--path", dir+"/*.log", "--state-dir", filepath.Join(dir, "state"), "--sink", "file://"+filepath.Join(dir, "out.ndjson"), "--once")
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, line := range strings.Split(a.stderr.String(), "\n") {
		var l struct {
			Msg                   string
			Files, Records, Bytes int
			RejectedPackages      int `json:"rejected_packages"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || !strings.HasPrefix(l.Msg, "once:") {
			continue
		}
		if l.Files != 2 || l.Records != 5 || l.Bytes != 24 || l.RejectedPackages != 0 {
			t.Errorf("summary %s, want 2 files, 5 records, 24 bytes, 0 rejected", line)
		}
		return
	}
	t.Errorf("no summary line in:\n%s", a.stderr.String())
}

// TestLogsStopsQuietly: Ctrl-C on `loglet logs tail -f` ends it with exit
// 0 and no word of draining, which means nothing to a reader (issue 25).
func TestLogsStopsQuietly(t *testing.T) {
	hubAddr := freeport.Addr(t)
	start(t, nil, "hub", "--listen", hubAddr, "--data-dir", t.TempDir())
	hubURL := "nats://" + hubAddr + "/LOGLET"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.log"), []byte("hello from the hub\n"), 0o644)
	shiptest.Ship(t, hubURL, dir, 1<<20, nil)

	out := &syncBuffer{}
	cmd := commandWithEnv(nil, loglet, "logs", "tail", "-f", "--hub", hubURL)
	cmd.Stdout = out
	tail := startCommand(t, cmd, "logs tail")
	poll.Until(t, 20*time.Second, "logs tail -f to print the hub's record", func() bool { return strings.Contains(out.String(), "hello from the hub") })
	tail.cmd.Process.Signal(syscall.SIGINT)
	if code := tail.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit %d after Ctrl-C, want 0; stderr:\n%s", code, tail.stderr.String())
	}
	if s := tail.stderr.String(); strings.Contains(s, "draining") {
		t.Errorf("Ctrl-C printed %q", s)
	}
}

// TestSlimLinksNoGRPC: the slim build (the sidecar every pod pays for)
// links none of what once made it heavy: gRPC and html/template keep
// every exported method of every type alive (one import of the OTLP
// collector package grew the binary from 23.9 to 32.4 MB); k8s.io/api's
// core/v1 registers every core type with its conversion and protobuf
// code (3.2 MB; sidecar/podapi has the fields the agent reads);
// client_golang's data model is generated protobuf and brings the
// protobuf runtime (2.1 MB; internal/promtext writes the text format).
func TestSlimLinksNoGRPC(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "slim", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "google.golang.org/grpc") || pkg == "html/template" || strings.HasPrefix(pkg, "k8s.io/api/") ||
			strings.HasPrefix(pkg, "github.com/prometheus/") || pkg == "google.golang.org/protobuf/proto" {
			t.Errorf("the slim build links %s; find who imports it with go list -deps -tags slim -f '{{.ImportPath}}: {{.Imports}}' ./cmd/loglet", pkg)
		}
	}
}

// TestBuildInfo: the agent's metrics say which version runs (issue 25).
func TestBuildInfo(t *testing.T) {
	dir := t.TempDir()
	a := startAgent(t, "--path", dir+"/*.log", "--state-dir", filepath.Join(dir, "state"), "--sink", "null://", "--metrics-addr", "127.0.0.1:0")
	addr := a.metricsAddr(t)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `loglet_build_info{goversion="` + runtime.Version() + `",version="dev"} 1`
	if !strings.Contains(string(body), want) {
		t.Errorf("/metrics has no %s", want)
	}
}
