package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
)

// pushed is a record as the file sink writes it, with every attribute.
type pushed = sinktest.Full

// readPushed reads the file sink, skipping a line a kill -9 tore.
func readPushed(t *testing.T, path string) []pushed {
	t.Helper()
	recs, _, err := sinktest.ReadFileAs[pushed](path)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// listening returns the address each input listens on, from the agent's
// log.
func (a *agent) listening(t *testing.T, n int) map[string]string {
	t.Helper()
	addrs := map[string]string{}
	poll.Until(t, 10*time.Second, "the agent to log where its inputs listen", func() bool {
		for _, line := range strings.Split(a.stderr.String(), "\n") {
			var l struct{ Msg, Input, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
				addrs[l.Input] = l.Addr
			}
		}
		return len(addrs) >= n
	})
	return addrs
}

// TestPushSyslog: util-linux logger sends RFC 5424 over TCP and RFC 3164
// over UDP to a running agent; every message reaches the sink with its
// fields (issue 20, must show 1).
func TestPushSyslog(t *testing.T) {
	if _, err := exec.LookPath("logger"); err != nil {
		t.Fatal("logger (util-linux) is needed")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	cfg := `{"sink":"file://` + out + `","state-dir":"` + filepath.Join(dir, "state") + `","inputs":[
		{"name":"syslog-tcp","syslog":{"listen":"tcp://127.0.0.1:0"}},
		{"name":"syslog-udp","syslog":{"listen":"udp://127.0.0.1:0"}}]}`
	a := startAgentWithEnv(t, []string{"LOGLET_CONFIG=" + cfg})
	addrs := a.listening(t, 2)
	logger := func(addr string, args ...string) {
		t.Helper()
		host, port, _ := strings.Cut(addr, ":")
		if out, err := exec.Command("logger", append([]string{"-n", host, "-P", port}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("logger: %v\n%s", err, out)
		}
	}
	logger(addrs["syslog-tcp"], "-T", "--rfc5424", "--msgid", "ID47", "--sd-id", "order@32473", "--sd-param", `id="42"`, "-t", "shop", "-p", "local4.err", "payment declined")
	logger(addrs["syslog-tcp"], "-T", "--octet-count", "-t", "shop", "-p", "user.warning", "line one\n  line two")
	logger(addrs["syslog-udp"], "-d", "--rfc3164", "-t", "cron", "-p", "cron.info", "job ran")
	var recs []pushed
	poll.Until(t, 15*time.Second, "three records in the sink", func() bool { recs = readPushed(t, out); return len(recs) >= 3 })
	byBody := map[string]pushed{}
	for _, r := range recs {
		byBody[r.Body] = r
	}
	tests := []struct {
		body, severity, input string
		attrs                 map[string]any
	}{
		{"payment declined", "ERROR", "syslog-tcp", map[string]any{"appname": "shop", "msg_id": "ID47", "facility": "local4", "structured_data.order@32473.id": "42"}},
		{"line one\n  line two", "WARN", "syslog-tcp", map[string]any{"appname": "shop", "facility": "user"}},
		{"job ran", "INFO", "syslog-udp", map[string]any{"appname": "cron", "facility": "cron"}},
	}
	for _, tt := range tests {
		r, ok := byBody[tt.body]
		if !ok {
			t.Errorf("no record %q among %+v", tt.body, recs)
			continue
		}
		if r.Severity != tt.severity || r.Attributes["loglet.input"] != tt.input || r.Time == "" {
			t.Errorf("%q: severity %q, input %v, time %q; want %s, %s and the message's time", tt.body, r.Severity, r.Attributes["loglet.input"], r.Time, tt.severity, tt.input)
		}
		for k, v := range tt.attrs {
			if r.Attributes[k] != v {
				t.Errorf("%q: %s = %v, want %v", tt.body, k, r.Attributes[k], v)
			}
		}
		if _, ok := r.Attributes["hostname"]; !ok {
			t.Errorf("%q has no hostname: %v", tt.body, r.Attributes)
		}
		if p, ok := r.Attributes["log.file.path"]; ok {
			t.Errorf("%q carries the inbox's path %v: it means nothing to the sender", tt.body, p)
		}
	}
}

// TestPushLumberjackKill9: a lumberjack sender (go-lumber's client, as
// Filebeat speaks it) sends 10,000 events in windows; the agent is killed
// with SIGKILL in the middle and started again on the same port; the
// sender resends what was not acknowledged, and every event reaches the
// sink (issue 20, must show 2 and 4).
func TestPushLumberjackKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("process test with kill -9; runs in make test")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	addr := freeport.Addr(t)
	cfg := `{"sink":"file://` + out + `","state-dir":"` + filepath.Join(dir, "state") + `","inputs":[
		{"name":"beats","lumberjack":{"listen":"` + addr + `"}}]}`
	env := []string{"LOGLET_CONFIG=" + cfg}
	a := startAgentWithEnv(t, env)
	a.listening(t, 1)

	const total, window = 10000, 250
	var acked atomic.Int64
	sent := make(chan error, 1)
	go func() {
		var c *lj.SyncClient
		for w := 0; w < total/window; w++ {
			var events []any
			for i := range window {
				n := w*window + i
				events = append(events, map[string]any{"@timestamp": "2026-12-01T10:00:00Z", "message": fmt.Sprintf("event %05d", n),
					"host": map[string]any{"name": "vm-7"}, "log": map[string]any{"file": map[string]any{"path": "/var/log/app.log"}, "offset": n * 12}})
			}
			// As Filebeat does: a window not acknowledged is sent again,
			// on a new connection, until it is.
			deadline := time.Now().Add(60 * time.Second)
			for {
				var err error
				if c == nil {
					c, err = lj.SyncDial(addr, lj.Timeout(10*time.Second))
				}
				if err == nil {
					var n int
					if n, err = c.Send(events); err == nil && n == window {
						break
					}
					c.Close()
					c = nil
				}
				if time.Now().After(deadline) {
					sent <- fmt.Errorf("window %d not acknowledged within 60s: %v", w, err)
					return
				}
				time.Sleep(50 * time.Millisecond) // a sender's back-off before it reconnects
			}
			acked.Add(window)
		}
		c.Close()
		sent <- nil
	}()
	poll.Until(t, 30*time.Second, "4,000 events acknowledged", func() bool { return acked.Load() >= 4000 })
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	killedAt := acked.Load()
	startAgentWithEnv(t, env) // on the same port: the sender reconnects
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var recs []pushed
	poll.Until(t, 30*time.Second, "all 10,000 events in the sink", func() bool {
		recs = readPushed(t, out)
		clear(seen)
		for _, r := range recs {
			seen[r.Body]++
		}
		return len(seen) >= total
	})
	dups := len(recs) - len(seen)
	t.Logf("killed after %d events were acknowledged; %d records delivered for %d events (%d sent twice, at least once)", killedAt, len(recs), total, dups)
	r := recs[len(recs)-1]
	if r.Attributes["host.name"] != "vm-7" || r.Attributes["log.file.path"] != "/var/log/app.log" || r.Attributes["log.offset"] == nil || r.Attributes["loglet.input"] != "beats" {
		t.Errorf("an event lost Filebeat's fields: %v", r.Attributes)
	}
}
