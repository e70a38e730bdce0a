package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
)

// pushSender sends messages to an input that listens: each message's text
// is given whole; flush sends what was buffered.
type pushSender interface {
	send(msgs []string) error
	close()
}

// pushProtocols are the push inputs benchmarked: how the agent's input is
// configured, and a client that speaks the protocol.
var pushProtocols = []struct {
	name  string
	input func(addr string) string
	dial  func(b *testing.B, addr string) pushSender
}{
	{"syslog-tcp", func(addr string) string { return `{"name":"p","syslog":{"listen":"tcp://` + addr + `"}}` }, dialSyslog},
	{"lumberjack", func(addr string) string { return `{"name":"p","lumberjack":{"listen":"` + addr + `"}}` }, dialLumberjack},
	{"otlp-http", func(addr string) string { return `{"name":"p","http":{"listen":"` + addr + `"}}` }, dialOTLP},
}

// otlpSender posts OTLP/HTTP protobuf export requests, as the SDKs'
// otlploghttp exporters do (one resource, one scope, a batch of records).
type otlpSender struct{ url string }

func dialOTLP(b *testing.B, addr string) pushSender {
	return &otlpSender{url: "http://" + addr + "/v1/logs"}
}

func (s *otlpSender) send(msgs []string) error {
	str := func(v string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}
	}
	recs := make([]*logspb.LogRecord, len(msgs))
	now := uint64(time.Now().UnixNano())
	for i, m := range msgs {
		recs[i] = &logspb.LogRecord{TimeUnixNano: now, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO, SeverityText: "INFO", Body: str(m),
			Attributes: []*commonpb.KeyValue{{Key: "http.route", Value: str("/checkout")}},
			TraceId:    []byte("0123456789abcdef"), SpanId: []byte("01234567")}
	}
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name", Value: str("checkout")}}},
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "shop/checkout"}, LogRecords: recs}},
	}}}
	body, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	for {
		resp, err := http.Post(s.url, "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests:
			time.Sleep(10 * time.Millisecond) // the exporter's back-off
		default:
			return fmt.Errorf("status %d", resp.StatusCode)
		}
	}
}

func (s *otlpSender) close() {}

type syslogSender struct {
	c net.Conn
	w *bufio.Writer
}

func dialSyslog(b *testing.B, addr string) pushSender {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	return &syslogSender{c: c, w: bufio.NewWriterSize(c, 64<<10)}
}

func (s *syslogSender) send(msgs []string) error {
	for _, m := range msgs {
		// RFC 5424, octet counting as rsyslog forwards.
		line := "<14>1 2026-12-01T10:00:00.000Z web01 app 42 - - " + m
		fmt.Fprintf(s.w, "%d %s", len(line), line)
	}
	return s.w.Flush()
}

func (s *syslogSender) close() { s.c.Close() }

type lumberjackSender struct{ c *lj.SyncClient }

func dialLumberjack(b *testing.B, addr string) pushSender {
	// Filebeat's logstash output compresses at level 3 by default.
	c, err := lj.SyncDial(addr, lj.CompressionLevel(3), lj.Timeout(30*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	return &lumberjackSender{c: c}
}

func (s *lumberjackSender) send(msgs []string) error {
	events := make([]any, len(msgs))
	for i, m := range msgs {
		events[i] = map[string]any{"@timestamp": "2026-12-01T10:00:00.000Z", "message": m,
			"host": map[string]any{"name": "vm-7"}, "log": map[string]any{"file": map[string]any{"path": "/var/log/app.log"}, "offset": i}}
	}
	n, err := s.c.Send(events)
	if err == nil && n != len(msgs) {
		err = fmt.Errorf("%d of %d acknowledged", n, len(msgs))
	}
	return err
}

func (s *lumberjackSender) close() { s.c.Close() }

// arrivals is an http:// sink that notes when each record arrived, by the
// sequence number its body starts with ("seq=N sent=UNIXNANO …").
type arrivals struct {
	mu      sync.Mutex
	latency []time.Duration
	count   int
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	raw, err := requestBody(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var lat []time.Duration
	n := 0
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var rec struct{ Body string }
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		n++
		_, rest, _ := strings.Cut(rec.Body, " sent=")
		stamp, _, _ := strings.Cut(rest, " ")
		if ns, err := strconv.ParseInt(stamp, 10, 64); err == nil {
			lat = append(lat, now.Sub(time.Unix(0, ns)))
		}
	}
	a.mu.Lock()
	a.count += n
	a.latency = append(a.latency, lat...)
	a.mu.Unlock()
}

func (a *arrivals) snapshot() (int, []time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count, slices.Clone(a.latency)
}

// BenchmarkPush runs the slim agent with one input that listens per
// protocol, a client in this process (its CPU is not counted), and an
// http:// sink served here. Per protocol, over 3 runs (median [min-max]):
// throughput in MB of messages per CPU-second of the agent while 32 MiB of
// 200-byte messages are pushed as fast as the agent takes them (each
// synced into the inbox before it is acknowledged), and the latency from
// the send to the sink's request at 1,000 messages a second for 5 s, p50
// and p99, with the default batch-wait of 1 s.
func BenchmarkPush(b *testing.B) {
	bin := buildAgent(b, b.TempDir())
	for _, p := range pushProtocols {
		b.Run(p.name, func(b *testing.B) {
			var mbps, p50, p99 []float64
			for range 3 {
				t, l50, l99 := pushRun(b, bin, p.input, p.dial)
				mbps, p50, p99 = append(mbps, t), append(p50, l50), append(p99, l99)
			}
			b.Logf("%s: %s MB per agent CPU-second; at 1,000 msg/s latency p50 %s ms, p99 %s ms (3 runs: median [min-max])",
				p.name, mmr(mbps), mmr(p50), mmr(p99))
		})
	}
}

func pushRun(b *testing.B, bin string, input func(string) string, dial func(*testing.B, string) pushSender) (mbPerCPUSec, p50ms, p99ms float64) {
	dir := b.TempDir()
	sink := &arrivals{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	addr := freeport.Addr(b)
	cfg := `{"inputs":[` + input(addr) + `]}`
	cmd := exec.Command(bin, "agent", "--state-dir", filepath.Join(dir, "state"), "--sink", srv.URL+"/ingest", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "LOGLET_CONFIG="+cfg)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	poll.Until(b, 10*time.Second, "the agent to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	s := dial(b, addr)
	defer s.close()
	pid := cmd.Process.Pid
	pad := strings.Repeat("x", 200)
	msg := func(seq int) string {
		m := fmt.Sprintf("seq=%d sent=%d ", seq, time.Now().UnixNano())
		return m + pad[:200-len(m)]
	}

	// Throughput: 32 MiB in windows of 2,048 messages.
	const total = 32 << 20 / 200
	cpu0 := processCPU(b, pid)
	seq := 0
	for seq < total {
		batch := make([]string, 0, 2048)
		for len(batch) < cap(batch) && seq < total {
			batch = append(batch, msg(seq))
			seq++
		}
		if err := s.send(batch); err != nil {
			b.Fatal(err)
		}
	}
	poll.Until(b, 120*time.Second, "every message at the sink", func() bool { n, _ := sink.snapshot(); return n >= total })
	cpu := processCPU(b, pid) - cpu0
	mbPerCPUSec = float64(total*200) / 1e6 / cpu.Seconds()

	// Latency at 1,000 messages a second.
	_, before := sink.snapshot()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for range 500 {
		<-tick.C
		batch := make([]string, 10)
		for i := range batch {
			batch[i] = msg(seq)
			seq++
		}
		if err := s.send(batch); err != nil {
			b.Fatal(err)
		}
	}
	poll.Until(b, 30*time.Second, "the paced messages at the sink", func() bool { n, _ := sink.snapshot(); return n >= seq })
	_, all := sink.snapshot()
	lat := all[len(before):]
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	return mbPerCPUSec, ms(0.5), ms(0.99)
}
