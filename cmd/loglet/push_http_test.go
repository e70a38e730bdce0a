package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
)

// TestPushOTLPFromTheSDK: an app logging with the OpenTelemetry Go SDK
// (otlploghttp) to the agent's http input; its records reach the sink with
// the SDK's resource beside the pod's identity, severity, attributes,
// scope and trace ids (issue 20, must show 3).
func TestPushOTLPFromTheSDK(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	cfg := `{"sink":"file://` + out + `","state-dir":"` + filepath.Join(dir, "state") + `","inputs":[{"name":"otlp","http":{"listen":"127.0.0.1:0"}}]}`
	a := startAgentWithEnv(t, []string{"LOGLET_CONFIG=" + cfg}, "--pod-namespace", "shop", "--pod-name", "checkout-7d9f", "--container-name", "app")
	addr := a.listening(t, 1)["otlp"]

	exp, err := otlploghttp.New(context.Background(), otlploghttp.WithEndpointURL("http://"+addr+"/v1/logs"))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)),
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("k8s.pod.name", "what-the-sdk-thinks"))))
	defer lp.Shutdown(context.Background())
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, TraceFlags: trace.FlagsSampled}))
	at := time.Date(2026, 12, 1, 10, 0, 1, 0, time.UTC)
	var r otellog.Record
	r.SetTimestamp(at)
	r.SetSeverity(otellog.SeverityError)
	r.SetBody(attribute.StringValue("card declined"))
	r.AddAttributes(attribute.Int("http.status_code", 502), attribute.String("order.id", "A-1"))
	lp.Logger("shop/payments").Emit(ctx, r)
	if err := lp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var recs []pushed
	poll.Until(t, 15*time.Second, "the SDK's record in the sink", func() bool { recs = readPushed(t, out); return len(recs) >= 1 })
	got := recs[0]
	if got.Body != "card declined" || got.Severity != "ERROR" || got.Time != "2026-12-01T10:00:01.000000000Z" {
		t.Errorf("record %q, %s at %s; want card declined, ERROR at 10:00:01", got.Body, got.Severity, got.Time)
	}
	want := map[string]any{"http.status_code": 502.0, "order.id": "A-1", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
		"span_id": "00f067aa0ba902b7", "otel.scope.name": "shop/payments", "loglet.input": "otlp"}
	for k, v := range want {
		if got.Attributes[k] != v {
			t.Errorf("attribute %s = %v, want %v", k, got.Attributes[k], v)
		}
	}
	// The pod's identity is the agent's: it knows where it runs.
	if got.Resource["service.name"] != "checkout" || got.Resource["k8s.pod.name"] != "checkout-7d9f" || got.Resource["k8s.namespace.name"] != "shop" {
		t.Errorf("resource %v, want service.name from the SDK and the pod's identity from the agent", got.Resource)
	}
}

// flakyHub is an http:// sink that can be taken down: it then answers 503.
type flakyHub struct {
	down  atomic.Bool
	mu    chan struct{}
	lines bytes.Buffer
}

func (h *flakyHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rd = z
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu <- struct{}{}
	h.lines.Write(body)
	<-h.mu
}

// TestPushDurableAcrossKill9 holds the inbox's promise: every record a
// sender was answered 2xx for is delivered, when the agent is killed with
// SIGKILL right after answering, and when the hub is down and the inbox
// fills up: senders then get 429 with Retry-After, and what they were told
// was taken still arrives once the hub is back (issue 20, must show 4).
func TestPushDurableAcrossKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("process test with kill -9; runs in make test")
	}
	h := &flakyHub{mu: make(chan struct{}, 1)}
	srv := httptest.NewServer(h)
	defer srv.Close()
	dir := t.TempDir()
	addr := freeport.Addr(t)
	cfg := `{"sink":"` + srv.URL + `/ingest","state-dir":"` + filepath.Join(dir, "state") + `","batch-wait":"100ms",
		"inputs":[{"name":"push","http":{"listen":"` + addr + `","max-inbox-bytes":"256KiB"}}]}`
	env := []string{"LOGLET_CONFIG=" + cfg}
	a := startAgentWithEnv(t, env)
	a.listening(t, 1)

	// post sends records from..to as NDJSON; the answer's status.
	post := func(from, to int) (int, string) {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, `{"msg":"record %05d","level":"info","i":%d}`+"\n", i, i)
		}
		resp, err := http.Post("http://"+addr+"/ingest", "application/x-ndjson", strings.NewReader(b.String()))
		if err != nil {
			return 0, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	// 10,000 records, each answered 2xx, the way a client sends them: a
	// 429 (the small inbox ahead of the hub) is retried after a back-off.
	// SIGKILL right after the last answer.
	for i := 0; i < 10000; i += 100 {
		for {
			code, _ := post(i, i+100)
			if code/100 == 2 {
				break
			}
			if code != http.StatusTooManyRequests {
				t.Fatalf("records %d–%d: status %d", i, i+100, code)
			}
			time.Sleep(50 * time.Millisecond) // the client's back-off
		}
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	a = startAgentWithEnv(t, env)
	a.listening(t, 1)
	delivered := func() map[string]bool {
		h.mu <- struct{}{}
		defer func() { <-h.mu }()
		seen := map[string]bool{}
		for _, line := range strings.Split(h.lines.String(), "\n") {
			if i := strings.Index(line, `"body":"record `); i >= 0 {
				seen[line[i+8:i+20]] = true
			}
		}
		return seen
	}
	n := 0
	defer func() {
		if t.Failed() {
			t.Logf("%d distinct records at the hub", n)
		}
	}()
	poll.Until(t, 30*time.Second, "all 10,000 records at the hub after the kill", func() bool { n = len(delivered()); return n >= 10000 })

	// The hub goes down: the inbox fills, and senders are told to retry.
	h.down.Store(true)
	taken, next := 0, 10000
	for {
		code, retry := post(next, next+100)
		if code == http.StatusTooManyRequests {
			if retry == "" {
				t.Error("429 without Retry-After")
			}
			break
		}
		if code/100 != 2 {
			t.Fatalf("status %d while the hub is down, want 2xx or 429", code)
		}
		taken += 100
		next += 100
		if taken > 100000 {
			t.Fatal("the inbox never filled up")
		}
	}
	h.down.Store(false)
	poll.Until(t, 60*time.Second, "what the full inbox took at the hub once it is back", func() bool { return len(delivered()) >= 10000+taken })
	t.Logf("the hub down: %d records taken before 429; all delivered once it was back", taken)
}
