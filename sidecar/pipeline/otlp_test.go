package pipeline

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/loglet/loglet/sidecar/parse"
)

// otlpReceiver is a real OTLP/HTTP logs endpoint: it decodes requests with
// the OTLP protobuf packages. It answers the first request 429 with
// Retry-After.
type otlpReceiver struct {
	mu       sync.Mutex
	requests []time.Time
	logs     []*logspb.ResourceLogs
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/logs" || r.Header.Get("Content-Type") != "application/x-protobuf" || r.Header.Get("Content-Encoding") != "gzip" {
		http.Error(w, "want a gzip protobuf POST to /v1/logs", http.StatusBadRequest)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(zr)
	var req collogspb.ExportLogsServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, time.Now())
	if len(o.requests) == 1 {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	}
	o.logs = append(o.logs, req.ResourceLogs...)
}

func attrs(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestOTLPSink(t *testing.T) {
	rcv := &otlpReceiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "api.log"), []byte(`{"ts":"2026-11-25T10:00:00Z","level":"warn","msg":"slow query","user":"ann","rows":42,"ok":true}`+"\n"), 0o644)
	spec, err := parse.Compile(parse.Config{Format: "json", TimeKey: "ts", MaxLineBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir + "/*.log")
	cfg.Once, cfg.Parse = true, spec
	if err := runAgent(t, cfg, t.TempDir(), "otlp+"+srv.URL); err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.requests) != 2 || rcv.requests[1].Sub(rcv.requests[0]) < 900*time.Millisecond {
		t.Fatalf("requests at %v: want a retry at least Retry-After (1s) after the 429", rcv.requests)
	}
	if len(rcv.logs) != 1 || len(rcv.logs[0].ScopeLogs) != 1 || len(rcv.logs[0].ScopeLogs[0].LogRecords) != 1 {
		t.Fatalf("got %v, want one resource with one record", rcv.logs)
	}
	if res := attrs(rcv.logs[0].Resource.Attributes); res["host.name"].GetStringValue() != "test-host" {
		t.Errorf("resource %v", res)
	}
	lr := rcv.logs[0].ScopeLogs[0].LogRecords[0]
	a := attrs(lr.Attributes)
	if lr.Body.GetStringValue() != "slow query" || lr.SeverityText != "WARN" || lr.SeverityNumber != logspb.SeverityNumber_SEVERITY_NUMBER_WARN ||
		lr.TimeUnixNano != uint64(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).UnixNano()) || lr.ObservedTimeUnixNano == 0 {
		t.Errorf("record %v", lr)
	}
	if a["log.file.path"].GetStringValue() != filepath.Join(dir, "api.log") || a["loglet.source_id"].GetStringValue() == "" ||
		a["loglet.package_id"].GetIntValue() != 0 || a["loglet.offset"].GetIntValue() != 0 {
		t.Errorf("loglet attributes %v", a)
	}
	if a["user"].GetStringValue() != "ann" || a["rows"].GetIntValue() != 42 || !a["ok"].GetBoolValue() || a["level"].GetStringValue() != "warn" {
		t.Errorf("parsed attributes %v", a)
	}
}
