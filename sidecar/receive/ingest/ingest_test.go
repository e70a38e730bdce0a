package ingest_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/internal/testpki"
	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/receive"
	"github.com/loglet/loglet/sidecar/receive/ingest"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// serve runs Serve on a loopback listener until the test ends, and checks
// that it then returns nil. It returns the address served.
func serve(t *testing.T, opt ingest.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opt.Stats == nil {
		opt.Stats = &receive.Stats{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ingest.Serve(ctx, ln, opt) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func openInbox(t *testing.T, opt inbox.Options) *inbox.Inbox {
	t.Helper()
	in, err := inbox.Open(t.TempDir(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// spooled is one record as the inbox wrote it to a segment file.
type spooled struct {
	Resource map[string]string
	Time     int64
	Severity record.Severity
	Body     string
	Attrs    map[string]any
}

// readInbox reads back every line of every segment the inbox wrote.
func readInbox(t *testing.T, in *inbox.Inbox) []spooled {
	t.Helper()
	paths, err := filepath.Glob(in.Glob())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	var out []spooled
	for _, path := range paths {
		kvs, err := inbox.Resource(path)
		if err != nil {
			t.Fatal(err)
		}
		res := map[string]string{}
		for _, kv := range kvs {
			res[kv.Key] = kv.Value
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line map[string]any
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.UseNumber()
			if err := dec.Decode(&line); err != nil {
				t.Fatalf("%s: line %q: %v", path, sc.Bytes(), err)
			}
			s := spooled{Resource: res}
			if n, ok := line["t"].(json.Number); ok {
				s.Time, _ = n.Int64()
			}
			if n, ok := line["s"].(json.Number); ok {
				sev, _ := n.Int64()
				s.Severity = record.Severity(sev)
			}
			if a, ok := line["a"].(map[string]any); ok {
				s.Attrs = a
			}
			if b, ok := line["b"].(string); ok {
				s.Body = b
			} else if b64, ok := line["B"].(string); ok {
				b, err := base64.StdEncoding.DecodeString(b64)
				if err != nil {
					t.Fatal(err)
				}
				s.Body = string(b)
			}
			out = append(out, s)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// pipelineRecord is one record as the agent's pipeline reads it from
// the inbox: parse's container format "inbox", read by a source.
type pipelineRecord struct {
	Body, Severity string
	Time           int64
	Attrs          map[string]string
	Resource       []record.KeyValue
}

// readThroughParse reads the inbox's segments as the pipeline does.
func readThroughParse(t *testing.T, in *inbox.Inbox) []pipelineRecord {
	t.Helper()
	spec, err := parse.Compile(parse.Config{Container: "inbox", MaxLineBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(in.Glob())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	var out []pipelineRecord
	for _, path := range paths {
		res, err := inbox.Resource(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		id, _, err := source.Identify(f)
		if err != nil {
			t.Fatal(err)
		}
		scfg := source.Config{BatchBytes: 1 << 20, BatchWait: time.Hour, MaxLineBytes: 1 << 20, Poll: time.Hour, Parse: spec}
		emit := func(_ context.Context, p *record.Package) error {
			for i, e := range p.Records {
				r := pipelineRecord{Body: string(p.Body(i)), Severity: e.Severity.String(), Time: e.Time, Attrs: map[string]string{}, Resource: res}
				for _, a := range p.Attributes(i) {
					r.Attrs[string(p.Bytes(a.Key))] = string(p.Bytes(a.Value))
				}
				out = append(out, r)
			}
			return nil
		}
		pool := record.NewPool(source.InitialBufferBytes, source.BufferBytes(scfg.BatchBytes, scfg.MaxLineBytes, spec.Multiline()))
		file := source.NewFile(scfg, f, path, record.NewOrigin("inbox", path, res), source.State{Identity: id}, emit, pool, &source.Stats{})
		file.SetOnce()
		if err := file.Run(context.Background(), context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func post(t *testing.T, client *http.Client, url, contentType string, body []byte, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	traceID = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID  = trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
)

// sdkLogger is an OpenTelemetry SDK logger provider exporting with
// otlploghttp to addr.
func sdkLogger(t *testing.T, opts ...otlploghttp.Option) *sdklog.LoggerProvider {
	t.Helper()
	exp, err := otlploghttp.New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.Int("service.replicas", 3))
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	t.Cleanup(func() { lp.Shutdown(context.Background()) })
	return lp
}

// emit logs one WARN record in a span's context.
func emit(lp *sdklog.LoggerProvider, body string, at time.Time) {
	logger := lp.Logger("app/http", otellog.WithInstrumentationVersion("1.2.0"))
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))
	var r otellog.Record
	r.SetTimestamp(at)
	r.SetSeverity(otellog.SeverityWarn)
	r.SetSeverityText("WARN")
	r.SetBody(attribute.StringValue(body))
	r.AddAttributes(attribute.String("path", "/var"), attribute.Int("free", 42), attribute.Map("disk", attribute.String("dev", "sda")))
	logger.Emit(ctx, r)
}

// checkSDKRecord checks that s is the record emit logged.
func checkSDKRecord(t *testing.T, s spooled, body string, at time.Time) {
	t.Helper()
	if s.Resource["service.name"] != "checkout" || s.Resource["service.replicas"] != "3" {
		t.Errorf("resource = %v, want service.name checkout and service.replicas 3", s.Resource)
	}
	if s.Body != body || s.Time != at.UnixNano() || s.Severity != record.SeverityWarn {
		t.Errorf("record = %q at %d, %v; want %q at %d, WARN", s.Body, s.Time, s.Severity, body, at.UnixNano())
	}
	want := map[string]any{
		"path": "/var", "free": json.Number("42"), "disk": map[string]any{"dev": "sda"},
		"severity_text": "WARN", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
		"flags": json.Number("1"), "otel.scope.name": "app/http", "otel.scope.version": "1.2.0",
	}
	for k, v := range want {
		got, _ := json.Marshal(s.Attrs[k])
		exp, _ := json.Marshal(v)
		if !bytes.Equal(got, exp) {
			t.Errorf("attribute %s = %s, want %s (all: %v)", k, got, exp, s.Attrs)
		}
	}
}

func TestOpenTelemetrySDK(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []otlploghttp.Option
	}{
		{"protobuf", nil},
		{"protobuf gzip", []otlploghttp.Option{otlploghttp.WithCompression(otlploghttp.GzipCompression)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := openInbox(t, inbox.Options{})
			stats := &receive.Stats{}
			addr := serve(t, ingest.Options{Appender: in, Stats: stats})
			lp := sdkLogger(t, append(tc.opts, otlploghttp.WithEndpoint(addr), otlploghttp.WithInsecure())...)
			at := time.Date(2026, 12, 1, 10, 0, 0, 123, time.UTC)
			emit(lp, "disk almost full", at)
			emit(lp, "disk full", at.Add(time.Second))
			if err := lp.ForceFlush(context.Background()); err != nil {
				t.Fatalf("ForceFlush: %v", err)
			}
			got := readInbox(t, in)
			if len(got) != 2 {
				t.Fatalf("the inbox holds %d records, want 2: %+v", len(got), got)
			}
			checkSDKRecord(t, got[0], "disk almost full", at)
			checkSDKRecord(t, got[1], "disk full", at.Add(time.Second))

			// And as the pipeline reads them.
			piped := readThroughParse(t, in)
			if len(piped) != 2 {
				t.Fatalf("the pipeline reads %d records, want 2", len(piped))
			}
			want := map[string]string{"path": "/var", "free": "42", "disk": `{"dev":"sda"}`, "severity_text": "WARN",
				"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "flags": "1",
				"otel.scope.name": "app/http", "otel.scope.version": "1.2.0"}
			for i, r := range piped {
				body := []string{"disk almost full", "disk full"}[i]
				if r.Body != body || r.Severity != "WARN" || r.Time != at.Add(time.Duration(i)*time.Second).UnixNano() || !maps.Equal(r.Attrs, want) {
					t.Errorf("the pipeline reads %+v, want %q WARN at %d with %v", r, body, at.Add(time.Duration(i)*time.Second).UnixNano(), want)
				}
				if !slices.Contains(r.Resource, record.KeyValue{Key: "service.name", Value: "checkout"}) {
					t.Errorf("resource %v, want service.name checkout", r.Resource)
				}
			}
			if n := stats.Records.Load(); n != 2 {
				t.Errorf("Stats.Records = %d, want 2", n)
			}
		})
	}
}

// otlpJSON is an export request in OTLP/JSON, as a sender without the SDK
// (curl, a browser) writes it.
const otlpJSON = `{"resourceLogs":[{
  "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},
  "scopeLogs":[{"scope":{"name":"browser"},"logRecords":[{
    "timeUnixNano":"1796119200000000001","severityNumber":9,"body":{"stringValue":"page shown"},
    "attributes":[{"key":"ms","value":{"intValue":"12"}}],
    "traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7"}]}]}]}`

func TestOTLPJSON(t *testing.T) {
	in := openInbox(t, inbox.Options{})
	addr := serve(t, ingest.Options{Appender: in})
	for _, gz := range []bool{false, true} {
		body, header := []byte(otlpJSON), []string{}
		if gz {
			body, header = gzipped(t, body), []string{"Content-Encoding", "gzip"}
		}
		resp, answer := post(t, nil, "http://"+addr+"/v1/logs", "application/json", body, header...)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || answer != "{}" {
			t.Fatalf("gzip %t: %s %q %q, want 200 application/json {}", gz, resp.Status, resp.Header.Get("Content-Type"), answer)
		}
	}
	got := readInbox(t, in)
	if len(got) != 2 {
		t.Fatalf("the inbox holds %d records, want 2", len(got))
	}
	for _, s := range got {
		if s.Resource["service.name"] != "web" || s.Body != "page shown" || s.Time != 1796119200000000001 || s.Severity != record.SeverityInfo ||
			s.Attrs["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Attrs["span_id"] != "00f067aa0ba902b7" ||
			s.Attrs["ms"] != json.Number("12") || s.Attrs["otel.scope.name"] != "browser" {
			t.Errorf("record %+v is not the one sent", s)
		}
	}
}

func TestIngest(t *testing.T) {
	ndjson := "{\"msg\":\"paid\",\"level\":\"info\",\"time\":\"2026-12-01T10:00:00Z\",\"user\":\"ann\"}\n{\"message\":\"declined\",\"severity\":\"error\",\"amount\":12.5}\n"
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		gzip              bool
		want              []spooled
	}{{
		name: "NDJSON", contentType: "application/x-ndjson", body: []byte(ndjson),
		want: []spooled{
			{Time: 1796119200000000000, Severity: record.SeverityInfo, Body: "paid", Attrs: map[string]any{"user": "ann"}},
			{Severity: record.SeverityError, Body: "declined", Attrs: map[string]any{"amount": json.Number("12.5")}},
		},
	}, {
		name: "NDJSON gzip", contentType: "application/x-ndjson", body: []byte(ndjson), gzip: true,
		want: []spooled{
			{Time: 1796119200000000000, Severity: record.SeverityInfo, Body: "paid", Attrs: map[string]any{"user": "ann"}},
			{Severity: record.SeverityError, Body: "declined", Attrs: map[string]any{"amount": json.Number("12.5")}},
		},
	}, {
		name: "a JSON array", contentType: "application/json; charset=utf-8",
		body: []byte(`[{"body":"a","@timestamp":1796119200},{"body":{"k":[1]},"level":"WARNING"}]`),
		want: []spooled{{Time: 1796119200000000000, Body: "a"}, {Severity: record.SeverityWarn, Body: `{"k":[1]}`}},
	}, {
		name: "text lines", contentType: "text/plain", body: []byte("GET / 200\r\nGET /favicon.ico 404\n\n\xff\xfe bytes\n"),
		want: []spooled{{Body: "GET / 200"}, {Body: "GET /favicon.ico 404"}, {Body: "\xff\xfe bytes"}},
	}, {
		name: "text lines gzip", contentType: "text/plain; charset=utf-8", body: []byte("one\ntwo"), gzip: true,
		want: []spooled{{Body: "one"}, {Body: "two"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			in := openInbox(t, inbox.Options{})
			stats := &receive.Stats{}
			addr := serve(t, ingest.Options{Appender: in, Stats: stats})
			body, header := tc.body, []string{}
			if tc.gzip {
				body, header = gzipped(t, body), []string{"Content-Encoding", "gzip"}
			}
			resp, answer := post(t, nil, "http://"+addr+"/ingest", tc.contentType, body, header...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %s", resp.Status, answer)
			}
			if want := fmt.Sprintf("{\"accepted\":%d}\n", len(tc.want)); answer != want {
				t.Errorf("answer %q, want %q", answer, want)
			}
			got := readInbox(t, in)
			for i := range got {
				got[i].Resource = nil
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tc.want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("the inbox holds\n %s\nwant\n %s", gotJSON, wantJSON)
			}
			if n := stats.Records.Load(); n != int64(len(tc.want)) {
				t.Errorf("Stats.Records = %d, want %d", n, len(tc.want))
			}
		})
	}
}

func gzipBomb(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zeros := make([]byte, 1<<20)
	for i := 0; i < n>>20; i++ {
		zw.Write(zeros)
	}
	zw.Close()
	return buf.Bytes()
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, contentType string
		body                            []byte
		header                          []string
		token                           string
		status                          int
		want                            string // in the answer
	}{
		{name: "invalid protobuf", path: "/v1/logs", contentType: "application/x-protobuf", body: []byte("\x0a\xff\xff\xff\xff\x0f"),
			status: 400, want: "otlp: not an ExportLogsServiceRequest: "},
		{name: "invalid OTLP JSON", path: "/v1/logs", contentType: "application/json", body: []byte(`{"resourceLogs":5}`),
			status: 400, want: "otlp: not an ExportLogsServiceRequest: "},
		{name: "OTLP wrong content type", path: "/v1/logs", contentType: "text/plain", body: []byte("x"),
			status: 415, want: `otlp: unsupported content type "text/plain": send application/x-protobuf or application/json`},
		{name: "ingest wrong content type", path: "/ingest", contentType: "application/x-www-form-urlencoded", body: []byte("a=b"),
			status: 415, want: `ingest: unsupported content type "application/x-www-form-urlencoded": send application/x-ndjson`},
		{name: "ingest malformed NDJSON", path: "/ingest", contentType: "application/x-ndjson", body: []byte("{\"msg\":\"a\"}\n{\"msg\":}\n"),
			status: 400, want: `ingest: record 2 (line 2): member "msg": invalid character '}' looking for beginning of value`},
		{name: "ingest an array of strings", path: "/ingest", contentType: "application/json", body: []byte(`["a"]`),
			status: 400, want: `ingest: record 1 (line 1): the string "a" is not a JSON object`},
		{name: "unknown content encoding", path: "/ingest", contentType: "text/plain", body: []byte("x"), header: []string{"Content-Encoding", "br"},
			status: 415, want: `Content-Encoding "br" is not supported: send gzip or none`},
		{name: "not gzip", path: "/ingest", contentType: "text/plain", body: []byte("plain"), header: []string{"Content-Encoding", "gzip"},
			status: 400, want: "the body is not valid gzip"},
		{name: "gzip bomb", path: "/ingest", contentType: "text/plain", body: gzipBomb(t, 16<<20), header: []string{"Content-Encoding", "gzip"},
			status: 413, want: "the body is more than 8388608 bytes (after gzip decoding too): send smaller batches"},
		{name: "many tiny lines", path: "/ingest", contentType: "text/plain", body: []byte(strings.Repeat("x\n", 100000)),
			status: 413, want: "ingest: too many records for the size of the request: 100001 lines, more than the 26024 such a body may hold: send fewer records a request"},
		{name: "many empty objects", path: "/ingest", contentType: "application/x-ndjson", body: []byte(strings.Repeat("{}", 100000)),
			status: 413, want: "ingest: too many records for the size of the request"},
		{name: "many empty OTLP records", path: "/v1/logs", contentType: "application/x-protobuf", body: emptyRecords(t, 100000),
			status: 413, want: "otlp: too many records for the size of the request: 100000 records in"},
		{name: "GET", method: http.MethodGet, path: "/ingest", status: 405},
		{name: "unknown path", path: "/v1/traces", contentType: "application/x-protobuf", status: 404},
		{name: "no token", path: "/ingest", contentType: "text/plain", body: []byte("x"), token: "s3cret",
			status: 401, want: "a bearer token is required: send Authorization: Bearer <token>"},
		{name: "wrong token", path: "/v1/logs", contentType: "application/json", body: []byte("{}"), token: "s3cret",
			header: []string{"Authorization", "Bearer s3cre"}, status: 401, want: "a bearer token is required"},
		{name: "right token", path: "/ingest", contentType: "text/plain", body: []byte("x"), token: "s3cret",
			header: []string{"Authorization", "Bearer s3cret"}, status: 200, want: `{"accepted":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := openInbox(t, inbox.Options{})
			stats := &receive.Stats{}
			addr := serve(t, ingest.Options{Appender: in, Stats: stats, Token: tc.token})
			req, err := http.NewRequest(cmpOr(tc.method, http.MethodPost), "http://"+addr+tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			answer := string(b)
			if tc.path == "/v1/logs" && resp.StatusCode >= 400 {
				// OTLP/HTTP: a google.rpc.Status in the request's encoding.
				var st statuspb.Status
				if resp.Header.Get("Content-Type") != "application/x-protobuf" && resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("Content-Type %q, want an OTLP one", resp.Header.Get("Content-Type"))
				} else if resp.Header.Get("Content-Type") == "application/json" {
					var m struct{ Message string }
					if err := json.Unmarshal(b, &m); err != nil {
						t.Errorf("answer %q is not a JSON Status: %v", b, err)
					}
					answer = m.Message
				} else if err := proto.Unmarshal(b, &st); err != nil {
					t.Errorf("answer %q is not a protobuf Status: %v", b, err)
				} else {
					answer = st.GetMessage()
				}
			}
			if resp.StatusCode != tc.status || !strings.Contains(answer, tc.want) {
				t.Errorf("%s %q, want %d with %q", resp.Status, answer, tc.status, tc.want)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.status == 200 {
				return
			}
			if n := len(readInbox(t, in)); n != 0 {
				t.Errorf("the inbox holds %d records after a refused request", n)
			}
			if tc.status != 404 && tc.status != 405 && stats.Rejected.Load() != 1 {
				t.Errorf("Stats.Rejected = %d, want 1", stats.Rejected.Load())
			}
		})
	}
}

// emptyRecords is an OTLP request of n empty records, two bytes each.
func emptyRecords(t *testing.T, n int) []byte {
	recs := make([]*logspb.LogRecord, n)
	for i := range recs {
		recs[i] = &logspb.LogRecord{}
	}
	b, err := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestFullInbox: a full inbox answers 429 with Retry-After, and the SDK
// retries until the hub acknowledged what the inbox held.
func TestFullInbox(t *testing.T) {
	var acked atomic.Bool
	in := openInbox(t, inbox.Options{MaxBytes: 4096, Acked: func(string, uint64, uint64) int64 {
		if acked.Load() {
			return math.MaxInt64
		}
		return 0
	}})
	// Fill it to the last byte: big records, then the smallest.
	for _, size := range []int{500, 1} {
		for {
			err := in.Append(nil, []inbox.Record{{Body: bytes.Repeat([]byte("x"), size)}})
			if errors.Is(err, inbox.ErrFull) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	stats := &receive.Stats{}
	addr := serve(t, ingest.Options{Appender: in, Stats: stats})

	for _, tc := range []struct{ path, contentType, body string }{
		{"/ingest", "text/plain", "one more\n"},
		{"/v1/logs", "application/json", otlpJSON},
	} {
		resp, answer := post(t, nil, "http://"+addr+tc.path, tc.contentType, []byte(tc.body))
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("%s: %s Retry-After %q (%q), want 429 with Retry-After 1", tc.path, resp.Status, resp.Header.Get("Retry-After"), answer)
		}
	}
	if n := stats.Refused.Load(); n != 2 {
		t.Errorf("Stats.Refused = %d, want 2", n)
	}

	lp := sdkLogger(t, otlploghttp.WithEndpoint(addr), otlploghttp.WithInsecure(),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxElapsedTime: time.Minute}))
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	emit(lp, "retried", at)
	flushed := make(chan error, 1)
	go func() { flushed <- lp.ForceFlush(context.Background()) }()
	poll.Until(t, 30*time.Second, "the SDK to be told 429", func() bool { return stats.Refused.Load() > 2 })
	acked.Store(true)
	select {
	case err := <-flushed:
		if err != nil {
			t.Fatalf("ForceFlush: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the SDK did not retry within 30s")
	}
	got := readInbox(t, in)
	if len(got) != 1 {
		t.Fatalf("the inbox holds %d records, want the one retried", len(got))
	}
	checkSDKRecord(t, got[0], "retried", at)
}

type appenderFunc func([]record.KeyValue, []inbox.Record) error

func (f appenderFunc) Append(res []record.KeyValue, recs []inbox.Record) error { return f(res, recs) }

func TestAppendFails(t *testing.T) {
	addr := serve(t, ingest.Options{Appender: appenderFunc(func([]record.KeyValue, []inbox.Record) error {
		return errors.New("inbox: write /state/inbox/x.log: no space left on device")
	})})
	resp, answer := post(t, nil, "http://"+addr+"/ingest", "text/plain", []byte("x"))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(answer, "no space left on device") {
		t.Errorf("%s Retry-After %q %q, want 503 with Retry-After and the reason", resp.Status, resp.Header.Get("Retry-After"), answer)
	}
}

// countingReader gives n bytes of '{' and counts how many were read.
type countingReader struct {
	n, read atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	left := r.n.Load() - r.read.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), left)]
	for i := range p {
		p[i] = '{'
	}
	r.read.Add(int64(len(p)))
	return len(p), nil
}

type runtimeMem struct{ totalAlloc uint64 }

func (m *runtimeMem) read() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.totalAlloc = ms.TotalAlloc
}

func TestHundredMegabyteBody(t *testing.T) {
	const size = 100 << 20
	for _, chunked := range []bool{false, true} {
		in := openInbox(t, inbox.Options{})
		addr := serve(t, ingest.Options{Appender: in})
		body := &countingReader{}
		body.n.Store(size)
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/ingest", body)
		if err != nil {
			t.Fatal(err)
		}
		if !chunked {
			req.ContentLength = size
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		var before, after runtimeMem
		before.read()
		resp, err := http.DefaultClient.Do(req)
		after.read()
		if err != nil {
			// The server may close the connection before the client
			// reads the answer; what matters is it did not read it all.
			t.Logf("chunked %t: %v", chunked, err)
		} else {
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("chunked %t: %s, want 413", chunked, resp.Status)
			}
		}
		if sent := body.read.Load(); sent > size/4 {
			t.Errorf("chunked %t: the client sent %d of %d bytes before the answer, want the server to stop it early", chunked, sent, size)
		}
		if alloc := after.totalAlloc - before.totalAlloc; alloc > 40<<20 {
			t.Errorf("chunked %t: %d bytes allocated for a 100 MB body, want at most the body limit (8 MiB) and buffers", chunked, alloc)
		}
		t.Logf("chunked %t: client sent %d bytes; %d bytes allocated in the test process", chunked, body.read.Load(), after.totalAlloc-before.totalAlloc)
	}
}

func TestSlowLoris(t *testing.T) {
	in := openInbox(t, inbox.Options{})
	stats := &receive.Stats{}
	addr := serve(t, ingest.Options{Appender: in, Stats: stats, ReadHeaderTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /ingest HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// A header, one byte every 20 ms, without end: the slow-loris.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("X")); err != nil {
					return
				}
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a connection sending headers byte by byte open for 10s")
	}
	poll.Until(t, 5*time.Second, "the connection to be counted closed", func() bool { return stats.Conns.Load() == 0 })
}

func TestMaxConns(t *testing.T) {
	in := openInbox(t, inbox.Options{})
	stats := &receive.Stats{}
	addr := serve(t, ingest.Options{Appender: in, Stats: stats, MaxConns: 2})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	poll.Until(t, 5*time.Second, "2 connections served", func() bool { return stats.Conns.Load() == 2 })
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{}}).Post("http://"+addr+"/ingest", "text/plain", strings.NewReader("third\n"))
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	// That nothing happens can only be watched for a while: the third
	// request is not answered for 300 ms, its connection not counted.
	select {
	case r := <-done:
		t.Fatalf("a third connection was served beyond MaxConns 2: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	if n := stats.Conns.Load(); n != 2 {
		t.Fatalf("Stats.Conns = %d beyond MaxConns 2", n)
	}
	held[0].Close()
	select {
	case r := <-done:
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("the waiting request: %+v, want 200", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting request was not served once a connection closed")
	}
	if got := readInbox(t, in); len(got) != 1 || got[0].Body != "third" {
		t.Errorf("the inbox holds %+v, want the third request's record", got)
	}
}

func TestShutdownLetsRequestsFinish(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var appended atomic.Int64
	app := appenderFunc(func(_ []record.KeyValue, recs []inbox.Record) error {
		close(entered)
		<-release
		appended.Add(int64(len(recs)))
		return nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ingest.Serve(ctx, ln, ingest.Options{Appender: app}) }()
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/ingest", "text/plain", strings.NewReader("in flight\n"))
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-entered
	cancel()
	// Shutdown began once the listener refuses; Serve does not return
	// while the request is still in its append.
	poll.Until(t, 10*time.Second, "the listener to close", func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if code := <-answered; code != http.StatusOK {
		t.Errorf("the request in flight got %d, want 200", code)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if appended.Load() != 1 {
		t.Errorf("appended %d records, want 1", appended.Load())
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the listener still accepts after Serve returned")
	}
}

func TestTLSWithToken(t *testing.T) {
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.Issue("server", pkix.Name{CommonName: "loglet"}, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(pki.Path("server.crt"), pki.Path("server.key"))
	if err != nil {
		t.Fatal(err)
	}
	in := openInbox(t, inbox.Options{})
	addr := serve(t, ingest.Options{Appender: in, Token: "s3cret", TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	clientTLS := &tls.Config{RootCAs: pki.Pool()}

	lp := sdkLogger(t, otlploghttp.WithEndpoint(addr), otlploghttp.WithTLSClientConfig(clientTLS),
		otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer s3cret"}))
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	emit(lp, "over TLS", at)
	if err := lp.ForceFlush(context.Background()); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
	got := readInbox(t, in)
	if len(got) != 1 {
		t.Fatalf("the inbox holds %d records, want 1", len(got))
	}
	checkSDKRecord(t, got[0], "over TLS", at)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	if resp, _ := post(t, client, "https://"+addr+"/ingest", "text/plain", []byte("x")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token over TLS: %s, want 401", resp.Status)
	}
	if _, err := http.Post("http://"+addr+"/ingest", "text/plain", strings.NewReader("x")); err == nil {
		// Plain HTTP to a TLS port gets Go's 400 or a closed connection;
		// either way nothing is taken.
		if n := len(readInbox(t, in)); n != 1 {
			t.Errorf("plain HTTP to the TLS port added records: %d", n)
		}
	}
}

func TestServeErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := ingest.Serve(context.Background(), ln, ingest.Options{}); err == nil || !strings.Contains(err.Error(), "Appender is required") {
		t.Errorf("Serve without an Appender: %v, want an error naming Options.Appender", err)
	}
	// A listener closed under Serve ends it with an error.
	in := openInbox(t, inbox.Options{})
	served := make(chan error, 1)
	go func() { served <- ingest.Serve(context.Background(), ln, ingest.Options{Appender: in}) }()
	ln.Close()
	select {
	case err := <-served:
		if err == nil {
			t.Error("Serve returned nil after its listener failed")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its listener was closed")
	}
}

// TestClientCA: with client-ca-file (the tls.Config modes.serverTLS builds
// from it: RequireAndVerifyClientCert against the CA), a sender with a
// certificate the CA signed is served, and one with no certificate or
// with another CA's is refused in the TLS handshake, before any request
// is read. A token, given as well, is still asked of every request: the
// certificate does not stand in for it (Options.Token).
func TestClientCA(t *testing.T) {
	pki, other := testpki.ClientCAs(t)
	server, signed, foreign := pki.KeyPair(t, "server"), pki.KeyPair(t, "client"), other.KeyPair(t, "client")
	serverTLS := &tls.Config{Certificates: []tls.Certificate{*server}, MinVersion: tls.VersionTLS12,
		ClientCAs: pki.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}

	for _, tc := range []struct {
		name string
		cert *tls.Certificate // presented by the sender; nil: none
		// token is the server's, bearer what the sender sends.
		token, bearer string
		// alert: the server refuses the handshake with this alert;
		// else it answers the request with status.
		alert  string
		status int
	}{
		{name: "signed by the CA", cert: signed, status: http.StatusOK},
		{name: "no certificate", alert: "certificate required"},
		{name: "another CA's certificate", cert: foreign, alert: "unknown certificate authority"},
		{name: "signed by the CA and the token", cert: signed, token: "s3cret", bearer: "s3cret", status: http.StatusOK},
		{name: "signed by the CA without the token", cert: signed, token: "s3cret", status: http.StatusUnauthorized},
		{name: "the token without a certificate", token: "s3cret", bearer: "s3cret", alert: "certificate required"},
		{name: "the token with another CA's certificate", cert: foreign, token: "s3cret", bearer: "s3cret", alert: "unknown certificate authority"},
	} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, tls.VersionName(version)), func(t *testing.T) {
				in := openInbox(t, inbox.Options{})
				addr := serve(t, ingest.Options{Appender: in, Token: tc.token, TLS: serverTLS})
				clientTLS := &tls.Config{RootCAs: pki.Pool(), MinVersion: version, MaxVersion: version,
					// Presented whatever CAs the server names: a Go client
					// left to choose sends only a certificate whose issuer
					// the server names, as other senders need not.
					GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
						if tc.cert == nil {
							return &tls.Certificate{}, nil
						}
						return tc.cert, nil
					}}
				tr := &http.Transport{TLSClientConfig: clientTLS}
				defer tr.CloseIdleConnections()
				req, err := http.NewRequest(http.MethodPost, "https://"+addr+"/ingest", strings.NewReader("over mTLS\n"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "text/plain")
				if tc.bearer != "" {
					req.Header.Set("Authorization", "Bearer "+tc.bearer)
				}
				resp, err := (&http.Client{Transport: tr}).Do(req)
				if alert := tc.alert; alert != "" {
					if alert == "certificate required" && version == tls.VersionTLS12 {
						alert = "handshake failure" // certificate_required came with TLS 1.3
					}
					// The server's alert, not an HTTP answer nor a
					// connection merely dropped.
					if err == nil {
						resp.Body.Close()
						t.Fatalf("answered %s, want the TLS handshake refused", resp.Status)
					}
					if !strings.Contains(err.Error(), "remote error: tls: "+alert) {
						t.Fatalf("POST: %v, want the server to refuse the handshake with %q", err, alert)
					}
				} else {
					if err != nil {
						t.Fatalf("POST: %v", err)
					}
					answer, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != tc.status {
						t.Fatalf("answered %s (%s), want %d", resp.Status, bytes.TrimSpace(answer), tc.status)
					}
				}
				got := readInbox(t, in)
				if tc.status == http.StatusOK {
					if len(got) != 1 || got[0].Body != "over mTLS" {
						t.Errorf("the inbox holds %+v, want the one record sent", got)
					}
				} else if len(got) != 0 {
					t.Errorf("the inbox holds %+v from a sender turned away", got)
				}
			})
		}
	}

	// OTLP senders: the OpenTelemetry SDK's exporter with the certificate.
	in := openInbox(t, inbox.Options{})
	addr := serve(t, ingest.Options{Appender: in, TLS: serverTLS})
	lp := sdkLogger(t, otlploghttp.WithEndpoint(addr),
		otlploghttp.WithTLSClientConfig(&tls.Config{RootCAs: pki.Pool(), Certificates: []tls.Certificate{*signed}}))
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	emit(lp, "OTLP over mTLS", at)
	if err := lp.ForceFlush(context.Background()); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
	got := readInbox(t, in)
	if len(got) != 1 {
		t.Fatalf("the inbox holds %d records, want 1", len(got))
	}
	checkSDKRecord(t, got[0], "OTLP over mTLS", at)
}
