package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/logletbin"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
)

// These tests run the built binary as a user would: real files, real
// signals, real kill -9.

var loglet string

func TestMain(m *testing.M) { os.Exit(logletbin.Main(m, &loglet)) }

// agent is a running loglet agent process.
type agent struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

func startAgent(t *testing.T, args ...string) *agent {
	t.Helper()
	return startAgentWithEnv(t, nil, args...)
}

// startAgentWithEnv starts the agent with extra environment variables,
// as the webhook hands settings to a sidecar.
func startAgentWithEnv(t *testing.T, env []string, args ...string) *agent {
	t.Helper()
	return start(t, env, append([]string{"agent", "--log-format", "json"}, args...)...)
}

// start runs loglet with args and extra environment variables; the end of
// the test kills it and, if the test failed, logs the end of its stderr.
func start(t *testing.T, env []string, args ...string) *agent {
	t.Helper()
	return startCommand(t, commandWithEnv(env, loglet, args...), args[0])
}

// startCommand starts cmd, a loglet command (what names it in the log of
// a failed test); the end of the test kills it.
func startCommand(t *testing.T, cmd *exec.Cmd, what string) *agent {
	t.Helper()
	a := &agent{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("loglet %s stderr:\n%s", what, lastLines(a.stderr.String(), 40))
		}
	})
	return a
}

// wait waits for the agent to exit and returns its exit code.
func (a *agent) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-a.done:
		return a.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("agent still running after %s", within)
		return -1
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type sinkRecord = sinktest.Record

// readSink parses NDJSON records and counts torn ones.
func readSink(t *testing.T, r io.Reader) ([]sinkRecord, int) {
	t.Helper()
	recs, torn, err := sinktest.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	return recs, torn
}

// readSinkFileTorn parses a file sink a running agent may be appending
// to (sinktest.ReadFile), and counts torn records.
func readSinkFileTorn(t *testing.T, path string) ([]sinkRecord, int) {
	t.Helper()
	recs, torn, err := sinktest.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return recs, torn
}

// readSinkFile is readSinkFileTorn for a file no kill -9 can have torn.
func readSinkFile(t *testing.T, path string) []sinkRecord {
	t.Helper()
	recs, torn := readSinkFileTorn(t, path)
	if torn > 0 {
		t.Fatalf("%s: %d lines are not JSON records", path, torn)
	}
	return recs
}

// metric scrapes one sample from /metrics; ok is false if it is absent.
func metric(t *testing.T, addr, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f, true
		}
	}
	return 0, false
}

// syncBuffer is a bytes.Buffer safe to read while the process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// metricsAddr returns the address the agent serves metrics on (started
// with --metrics-addr 127.0.0.1:0), from its log.
func (a *agent) metricsAddr(t *testing.T) string {
	t.Helper()
	var addr string
	poll.Until(t, 10*time.Second, "the agent to log its metrics address", func() bool {
		for _, line := range strings.Split(a.stderr.String(), "\n") {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "serving metrics" {
				addr = l.Addr
				return true
			}
		}
		return false
	})
	return addr
}

// commandWithEnv is exec.Command with extra environment variables.
func commandWithEnv(env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}
