//go:build interop

// Package interop runs loglet's push inputs against real clients nobody
// here wrote and that take minutes to build: rsyslog, Filebeat and the
// OpenTelemetry Collector (issue 20, must show 1 to 3). make interop
// builds or installs them (hack/rsyslog.sh, hack/filebeat.sh,
// hack/otelcol.sh), passes their paths in RSYSLOGD, FILEBEAT and OTELCOL
// and runs these tests with -tags interop. Without the tag, make test and
// go test ./... do not see the package at all; with it, a client that is
// not there fails its test rather than skipping it.
package interop

import (
	"bytes"
	"encoding/json"
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

// loglet is the agent binary TestMain builds, as a user runs it.
var loglet string

func TestMain(m *testing.M) { os.Exit(logletbin.Main(m, &loglet)) }

// client is the path of a client binary from its variable, make interop
// sets it; a test without its client fails, it is not skipped.
func client(t *testing.T, variable, script string) string {
	t.Helper()
	p := os.Getenv(variable)
	if p == "" {
		t.Fatalf("%s is not set: run make interop, or %s=$(%s)", variable, variable, script)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%s: %v (%s builds or installs it)", variable, p, err, script)
	}
	return p
}

// syncBuffer is a process's output, read while it runs.
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

// process is a running program; the end of the test kills it and, when the
// test failed, logs the end of what it wrote.
type process struct {
	name   string
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{}
}

// startProcess starts bin with env as its whole environment (nil: the
// test's own).
func startProcess(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), output: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout = p.output
	p.cmd.Stderr = p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output (last 40 lines):\n%s", name, lastLines(p.output.String(), 40))
		}
	})
	return p
}

// kill9 kills the process with SIGKILL and waits for it to be gone.
func (p *process) kill9() {
	p.cmd.Process.Kill()
	<-p.done
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startAgent runs loglet agent with cfg, the configuration document as
// JSON (LOGLET_CONFIG), logging JSON so the test can read where its inputs
// listen. The agent refuses LOGLET_ variables it does not know and the
// document says everything, so none is inherited from the caller.
func startAgent(t *testing.T, cfg string) *process {
	t.Helper()
	env := []string{"LOGLET_CONFIG=" + cfg}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOGLET_") {
			env = append(env, kv)
		}
	}
	return startProcess(t, "loglet agent", env, loglet, "agent", "--log-format", "json")
}

// listening returns the address each of the agent's n inputs listens on,
// from its log.
func (p *process) listening(t *testing.T, n int) map[string]string {
	t.Helper()
	addrs := map[string]string{}
	poll.Until(t, 15*time.Second, "the agent to log where its inputs listen", func() bool {
		select {
		case <-p.done:
			t.Fatalf("the agent exited before it listened: %v\n%s", p.cmd.ProcessState, lastLines(p.output.String(), 10))
		default:
		}
		for _, line := range strings.Split(p.output.String(), "\n") {
			var l struct{ Msg, Input, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
				addrs[l.Input] = l.Addr
			}
		}
		return len(addrs) >= n
	})
	return addrs
}

// record is a record as the file sink writes it.
type record = sinktest.Full

// readSink reads the file sink, skipping a line a kill -9 tore.
func readSink(t *testing.T, path string) []record {
	t.Helper()
	recs, _, err := sinktest.ReadFileAs[record](path)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// writeFile writes a configuration file of a client.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
