//go:build interop

package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
)

// TestFilebeatKill9: Filebeat reads a file of 100,000 lines and ships it
// with its logstash output to the agent's lumberjack input. The agent is
// killed with SIGKILL once it has acknowledged 10,000 events, and
// started again on the same port; Filebeat sends again what was not
// acknowledged, and every line arrives, at least once, with
// Filebeat's fields: host.name, log.file.path and log.offset (issue 20,
// must show 2).
func TestFilebeatKill9(t *testing.T) {
	filebeat := client(t, "FILEBEAT", "hack/filebeat.sh")
	dir := t.TempDir()
	const total = 100000
	in := filepath.Join(dir, "app.log")
	offsets := writeLines(t, in, total)

	out := filepath.Join(dir, "out.ndjson")
	addr := freeport.Addr(t)
	cfg := `{"sink":"file://` + out + `","state-dir":"` + filepath.Join(dir, "state") + `","inputs":[
		{"name":"beats","lumberjack":{"listen":"` + addr + `"}}]}`
	a := startAgent(t, cfg)
	a.listening(t, 1)

	// Filebeat's backoff (1s, doubling up to 60s) is shortened so that
	// the reconnection after the restart does not dominate the test; the
	// batch size is smaller than the default 2048 so that the kill falls
	// between batches acknowledged and batches not. Filebeat's stats
	// endpoint says how many events the agent acknowledged, which the
	// sink, written in packages, tells too late to kill in the middle.
	stats := freeport.Addr(t)
	statsHost, statsPort, _ := net.SplitHostPort(stats)
	conf := filepath.Join(dir, "filebeat.yml")
	writeFile(t, conf, `filebeat.inputs:
  - type: log
    paths: ["`+in+`"]
output.logstash:
  hosts: ["`+addr+`"]
  bulk_max_size: 512
  backoff.init: 100ms
  backoff.max: 1s
  timeout: 10s
filebeat.registry.flush: 1s
http.enabled: true
http.host: `+statsHost+`
http.port: `+statsPort+`
logging.level: info
`)
	startProcess(t, "filebeat", nil, filebeat, "-e", "-c", conf, "--strict.perms=false",
		"--path.home", dir, "--path.data", filepath.Join(dir, "data"), "--path.logs", filepath.Join(dir, "logs"))

	var acked int
	poll.Until(t, 60*time.Second, "the agent to acknowledge 10,000 of Filebeat's events", func() bool {
		acked = ackedEvents(stats)
		return acked >= 10000
	})
	a.kill9()
	// What the killed agent acknowledged in all: the rest has to come
	// from Filebeat again, to the new agent.
	acked = ackedEvents(stats)
	atKill := len(readSink(t, out))
	if acked >= total || atKill >= total {
		t.Fatalf("the agent had acknowledged %d events and delivered %d records of %d before the kill: the test did not kill it in the middle", acked, atKill, total)
	}
	startAgent(t, cfg)

	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var recs []record
	poll.Until(t, 3*time.Minute, "all 100,000 lines in the sink", func() bool {
		recs = readSink(t, out)
		clear(seen)
		for _, r := range recs {
			seen[r.Body]++
		}
		return len(seen) >= total
	})
	t.Logf("killed when Filebeat had %d events acknowledged, with %d records in the sink; %d records delivered for %d lines (%d delivered twice or more: at least once)",
		acked, atKill, len(recs), total, len(recs)-len(seen))
	bad := 0
	for _, r := range recs {
		want, ok := offsets[r.Body]
		if !ok {
			t.Errorf("a record no line of the file holds: %+v", r)
		}
		off, _ := r.Attributes["log.offset"].(float64)
		if !ok || r.Attributes["host.name"] != host || r.Attributes["log.file.path"] != in || int64(off) != want || r.Attributes["loglet.input"] != "beats" {
			if bad++; bad <= 5 {
				t.Errorf("%q lost Filebeat's fields: %v; want host.name %s, log.file.path %s, log.offset %d", r.Body, r.Attributes, host, in, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d records without Filebeat's fields", bad, len(recs))
	}
}

// ackedEvents is the number of events Filebeat's output has had
// acknowledged, from its stats endpoint; 0 while it does not answer.
func ackedEvents(addr string) int {
	resp, err := http.Get("http://" + addr + "/stats")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var s struct {
		Libbeat struct {
			Output struct {
				Events struct{ Acked int }
			}
		}
	}
	if json.NewDecoder(resp.Body).Decode(&s) != nil {
		return 0
	}
	return s.Libbeat.Output.Events.Acked
}

// writeLines writes n distinct lines to path and returns each line's
// offset, which Filebeat reports as log.offset.
func writeLines(t *testing.T, path string, n int) map[string]int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	offsets := make(map[string]int64, n)
	var off int64
	for i := range n {
		line := fmt.Sprintf("2026-12-01T10:00:00Z INFO request %06d served in %d ms", i, i%997)
		offsets[line] = off
		k, _ := fmt.Fprintln(w, line)
		off += int64(k)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return offsets
}
