package otlp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/receive/otlp"
	"github.com/loglet/loglet/sidecar/record"
)

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}
func integer(i int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
}
func double(f float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
}
func boolean(b bool) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
}
func byts(b []byte) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: b}}
}
func array(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
}
func kvlist(kvs ...*commonpb.KeyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: kvs}}}
}
func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

func request(rls ...*logspb.ResourceLogs) *collogspb.ExportLogsServiceRequest {
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: rls}
}

func resourceLogs(res []*commonpb.KeyValue, scope *commonpb.InstrumentationScope, recs ...*logspb.LogRecord) *logspb.ResourceLogs {
	return &logspb.ResourceLogs{
		Resource:  &resourcepb.Resource{Attributes: res},
		ScopeLogs: []*logspb.ScopeLogs{{Scope: scope, LogRecords: recs}},
	}
}

var (
	traceID = []byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID  = []byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
)

func TestDecodeProtobuf(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *collogspb.ExportLogsServiceRequest
		want []otlp.Batch
	}{{
		name: "everything a record carries",
		req: request(resourceLogs(
			[]*commonpb.KeyValue{kv("service.name", str("checkout")), kv("replicas", integer(3)), kv("canary", boolean(true))},
			&commonpb.InstrumentationScope{Name: "app/http", Version: "1.2.0"},
			&logspb.LogRecord{
				TimeUnixNano:         1764583201000000123,
				ObservedTimeUnixNano: 1764583202000000000,
				SeverityNumber:       logspb.SeverityNumber_SEVERITY_NUMBER_WARN2,
				SeverityText:         "Warning",
				Body:                 str("disk almost full"),
				Attributes: []*commonpb.KeyValue{
					kv("path", str("/var")),
					kv("free", integer(-42)),
					kv("ratio", double(0.25)),
					kv("ok", boolean(false)),
					kv("raw", byts([]byte{0xff, 0x00})),
					kv("list", array(str("a"), integer(1), array())),
					kv("map", kvlist(kv("k", str(`q"uote`)), kv("n", &commonpb.AnyValue{}))),
					kv("nan", double(math.NaN())),
				},
				TraceId:   traceID,
				SpanId:    spanID,
				Flags:     1,
				EventName: "disk.warning",
			})),
		want: []otlp.Batch{{
			Resource: []record.KeyValue{{Key: "service.name", Value: "checkout"}, {Key: "replicas", Value: "3"}, {Key: "canary", Value: "true"}},
			Records: []inbox.Record{{
				Time:     1764583201000000123,
				Severity: record.SeverityWarn,
				Body:     []byte("disk almost full"),
				Attrs: []inbox.Attr{
					{Key: "path", Value: "/var"},
					{Key: "free", Value: "-42", JSON: true},
					{Key: "ratio", Value: "0.25", JSON: true},
					{Key: "ok", Value: "false", JSON: true},
					{Key: "raw", Value: `"/wA="`, JSON: true},
					{Key: "list", Value: `["a",1,[]]`, JSON: true},
					{Key: "map", Value: `{"k":"q\"uote","n":null}`, JSON: true},
					{Key: "nan", Value: `"NaN"`, JSON: true},
					{Key: "severity_text", Value: "Warning"},
					{Key: "trace_id", Value: "4bf92f3577b34da6a3ce929d0e0e4736"},
					{Key: "span_id", Value: "00f067aa0ba902b7"},
					{Key: "flags", Value: "1", JSON: true},
					{Key: "event.name", Value: "disk.warning"},
					{Key: "otel.scope.name", Value: "app/http"},
					{Key: "otel.scope.version", Value: "1.2.0"},
				},
			}},
		}},
	}, {
		name: "observed time stands in for time; severity from text; no text attribute when empty",
		req: request(resourceLogs(nil, nil,
			&logspb.LogRecord{ObservedTimeUnixNano: 5, SeverityText: "err", Body: str("a")},
			&logspb.LogRecord{SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_FATAL4, Body: str("b")},
			&logspb.LogRecord{SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_TRACE, Body: str("c")},
			&logspb.LogRecord{SeverityText: "INFO3", Body: str("d")},
			&logspb.LogRecord{SeverityText: "chatty", Body: str("e")},
			&logspb.LogRecord{TimeUnixNano: math.MaxUint64, Body: str("f")},
		)),
		want: []otlp.Batch{{Records: []inbox.Record{
			{Time: 5, Severity: record.SeverityError, Body: []byte("a"), Attrs: []inbox.Attr{{Key: "severity_text", Value: "err"}}},
			{Severity: record.SeverityFatal, Body: []byte("b")},
			{Severity: record.SeverityTrace, Body: []byte("c")},
			{Severity: record.SeverityInfo, Body: []byte("d"), Attrs: []inbox.Attr{{Key: "severity_text", Value: "INFO3"}}},
			{Body: []byte("e"), Attrs: []inbox.Attr{{Key: "severity_text", Value: "chatty"}}},
			{Body: []byte("f")},
		}}},
	}, {
		name: "bodies that are not strings",
		req: request(resourceLogs(nil, nil,
			&logspb.LogRecord{Body: kvlist(kv("user", str("ann")), kv("n", integer(7)))},
			&logspb.LogRecord{Body: array(double(1.5), boolean(true))},
			&logspb.LogRecord{Body: integer(12)},
			&logspb.LogRecord{Body: byts([]byte{0xc3, 0x28, 'x'})},
			&logspb.LogRecord{},
		)),
		want: []otlp.Batch{{Records: []inbox.Record{
			{Body: []byte(`{"user":"ann","n":7}`)},
			{Body: []byte(`[1.5,true]`)},
			{Body: []byte(`12`)},
			{Body: []byte{0xc3, 0x28, 'x'}},
			{},
		}}},
	}, {
		name: "one batch per resource; a resource without records gives none; ids of zeros left out",
		req: request(
			resourceLogs([]*commonpb.KeyValue{kv("service.name", str("a")), kv("attrs", kvlist(kv("x", double(2))))}, nil,
				&logspb.LogRecord{Body: str("1"), TraceId: make([]byte, 16), SpanId: make([]byte, 8)}),
			resourceLogs([]*commonpb.KeyValue{kv("service.name", str("empty"))}, nil),
			&logspb.ResourceLogs{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str("b"))}}, ScopeLogs: []*logspb.ScopeLogs{
				{Scope: &commonpb.InstrumentationScope{Name: "s1"}, LogRecords: []*logspb.LogRecord{{Body: str("2")}}},
				{Scope: &commonpb.InstrumentationScope{Version: "v2"}, LogRecords: []*logspb.LogRecord{{Body: str("3")}}},
			}},
		),
		want: []otlp.Batch{
			{Resource: []record.KeyValue{{Key: "service.name", Value: "a"}, {Key: "attrs", Value: `{"x":2}`}}, Records: []inbox.Record{{Body: []byte("1")}}},
			{Resource: []record.KeyValue{{Key: "service.name", Value: "b"}}, Records: []inbox.Record{
				{Body: []byte("2"), Attrs: []inbox.Attr{{Key: "otel.scope.name", Value: "s1"}}},
				{Body: []byte("3"), Attrs: []inbox.Attr{{Key: "otel.scope.version", Value: "v2"}}},
			}},
		},
	}, {
		name: "an empty request",
		req:  request(),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.Marshal(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := otlp.Decode(b, "application/x-protobuf")
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// jsonRequest is an export request as an OTLP/JSON sender writes it: ids
// in hex, 64-bit integers as strings, enums as numbers, camelCase names.
const jsonRequest = `{
  "resourceLogs": [{
    "resource": {"attributes": [
      {"key": "service.name", "value": {"stringValue": "checkout"}},
      {"key": "pid", "value": {"intValue": "4242"}}
    ]},
    "scopeLogs": [{
      "scope": {"name": "app/http", "version": "1.2.0"},
      "logRecords": [{
        "timeUnixNano": "1764583201000000123",
        "observedTimeUnixNano": 1764583202000000000,
        "severityNumber": 17,
        "severityText": "ERROR",
        "body": {"stringValue": "payment declined"},
        "attributes": [
          {"key": "amount", "value": {"doubleValue": 12.5}},
          {"key": "card", "value": {"kvlistValue": {"values": [{"key": "brand", "value": {"stringValue": "visa"}}]}}},
          {"key": "tries", "value": {"intValue": "3"}}
        ],
        "traceId": "4BF92F3577B34DA6A3CE929D0E0E4736",
        "spanId": "00f067aa0ba902b7",
        "flags": 1,
        "aFieldOfTomorrow": {"x": 1}
      }]
    }]
  }]
}`

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body, contentType string
		want                    []otlp.Batch
	}{{
		name:        "OTLP/JSON as a sender writes it",
		body:        jsonRequest,
		contentType: "application/json; charset=utf-8",
		want: []otlp.Batch{{
			Resource: []record.KeyValue{{Key: "service.name", Value: "checkout"}, {Key: "pid", Value: "4242"}},
			Records: []inbox.Record{{
				Time:     1764583201000000123,
				Severity: record.SeverityError,
				Body:     []byte("payment declined"),
				Attrs: []inbox.Attr{
					{Key: "amount", Value: "12.5", JSON: true},
					{Key: "card", Value: `{"brand":"visa"}`, JSON: true},
					{Key: "tries", Value: "3", JSON: true},
					{Key: "severity_text", Value: "ERROR"},
					{Key: "trace_id", Value: "4bf92f3577b34da6a3ce929d0e0e4736"},
					{Key: "span_id", Value: "00f067aa0ba902b7"},
					{Key: "flags", Value: "1", JSON: true},
					{Key: "otel.scope.name", Value: "app/http"},
					{Key: "otel.scope.version", Value: "1.2.0"},
				},
			}},
		}},
	}, {
		name:        "proto field names and base64 ids (protojson's own way) are taken too",
		body:        `{"resource_logs":[{"scope_logs":[{"log_records":[{"time_unix_nano":"7","body":{"string_value":"x"},"trace_id":"S/kvNXezTaajzpKdDg5HNg==","span_id":"APBnqgupArc="}]}]}]}`,
		contentType: "application/json",
		want: []otlp.Batch{{Records: []inbox.Record{{Time: 7, Body: []byte("x"), Attrs: []inbox.Attr{
			{Key: "trace_id", Value: "4bf92f3577b34da6a3ce929d0e0e4736"},
			{Key: "span_id", Value: "00f067aa0ba902b7"},
		}}}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := otlp.Decode([]byte(tc.body), tc.contentType)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, contentType string
		want                    string // in the error
		contentTypeErr          bool
	}{
		{"not protobuf", "\xff\xff\xff", "application/x-protobuf", "otlp: not an ExportLogsServiceRequest: ", false},
		{"not JSON", "{", "application/json", "otlp: not an ExportLogsServiceRequest: ", false},
		{"wrong JSON type", `{"resourceLogs":{}}`, "application/json", "otlp: not an ExportLogsServiceRequest: ", false},
		{"trace id not hex", `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zzf92f3577b34da6a3ce929d0e0e4736"}]}]}]}`, "application/json",
			`otlp: resourceLogs[0].scopeLogs[0].logRecords[0]: traceId: "zzf92f3577b34da6a3ce929d0e0e4736" is not 32 hex digits`, false},
		{"span id not hex", `{"resourceLogs":[{"scopeLogs":[{},{"logRecords":[{},{"spanId":"+0f067aa0ba902b7"}]}]}]}`, "application/json",
			`otlp: resourceLogs[0].scopeLogs[1].logRecords[1]: spanId: "+0f067aa0ba902b7" is not 16 hex digits`, false},
		{"form content type", "a=b", "application/x-www-form-urlencoded", `otlp: unsupported content type "application/x-www-form-urlencoded": send application/x-protobuf or application/json`, true},
		{"no content type", "", "", `otlp: unsupported content type "none"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := otlp.Decode([]byte(tc.body), tc.contentType)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode: %v, want an error with %q", err, tc.want)
			}
			if got := errors.Is(err, otlp.ErrContentType); got != tc.contentTypeErr {
				t.Errorf("errors.Is(%v, ErrContentType) = %t, want %t", err, got, tc.contentTypeErr)
			}
		})
	}
}

func TestSeverityFromText(t *testing.T) {
	for in, want := range map[string]record.Severity{
		"trace": record.SeverityTrace, "TRACE4": record.SeverityTrace,
		"Debug": record.SeverityDebug, "dbg": record.SeverityDebug,
		"info": record.SeverityInfo, "NOTICE": record.SeverityInfo, " Info ": record.SeverityInfo,
		"warning": record.SeverityWarn, "WARN2": record.SeverityWarn,
		"error": record.SeverityError, "ERR": record.SeverityError,
		"fatal": record.SeverityFatal, "CRITICAL": record.SeverityFatal, "panic": record.SeverityFatal, "emerg": record.SeverityFatal,
		"": record.SeverityNone, "verbose": record.SeverityNone, "12": record.SeverityNone, "informationally": record.SeverityNone,
	} {
		if got := otlp.SeverityFromText(in); got != want {
			t.Errorf("SeverityFromText(%q) = %v, want %v", in, got, want)
		}
	}
}

// checkLines asserts what the fuzzers require of whatever Decode accepts:
// each record makes one inbox line of valid JSON, and the resource is what
// the inbox can write.
func checkLines(t *testing.T, batches []otlp.Batch) {
	for _, b := range batches {
		if _, err := json.Marshal(b.Resource); err != nil {
			t.Fatalf("resource %v: %v", b.Resource, err)
		}
		for _, r := range b.Records {
			line := r.AppendLine(nil)
			if bytes.IndexByte(line, '\n') != len(line)-1 || !json.Valid(line) {
				t.Fatalf("record %+v makes the inbox line %q: not one line of JSON", r, line)
			}
			for _, a := range r.Attrs {
				if a.JSON && !json.Valid([]byte(a.Value)) {
					t.Fatalf("attribute %q: JSON value %q is not valid JSON", a.Key, a.Value)
				}
			}
		}
	}
}

func seedRequests() []*collogspb.ExportLogsServiceRequest {
	return []*collogspb.ExportLogsServiceRequest{
		request(resourceLogs([]*commonpb.KeyValue{kv("service.name", str("a")), kv("n", integer(1))},
			&commonpb.InstrumentationScope{Name: "s", Version: "1"},
			&logspb.LogRecord{TimeUnixNano: 1, SeverityNumber: 9, SeverityText: "INFO", Body: str("hello"), TraceId: traceID, SpanId: spanID, Flags: 1,
				Attributes: []*commonpb.KeyValue{kv("m", kvlist(kv("a", array(double(math.Inf(1)), byts([]byte{1}))))), kv("b", boolean(true))}},
			&logspb.LogRecord{Body: kvlist(kv("x", str("\x00\n"))), TraceId: []byte{1, 2, 3}},
		)),
		request(),
	}
}

func FuzzDecodeProtobuf(f *testing.F) {
	for _, req := range seedRequests() {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x80})
	f.Add(outOfOrder())
	f.Fuzz(func(t *testing.T, body []byte) {
		batches, err := otlp.Decode(body, otlp.ContentTypeProtobuf)
		if err == nil {
			checkLines(t, batches)
		}
		// Record by record, Decode reads what unmarshalling the whole
		// request reads.
		want, err := otlp.DecodeFull(body)
		if err != nil {
			return
		}
		got, err := otlp.DecodeProtobuf(body)
		if err != nil {
			t.Fatalf("the whole request unmarshals, but record by record: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("record by record:\n got %+v\nwant %+v", got, want)
		}
	})
}

// outOfOrder is an export request whose fields come in an order no
// generated encoder writes but the protobuf wire format allows: the
// resource after the scope logs, the scope after its records, and fields
// this version does not know.
func outOfOrder() []byte {
	msg := func(fields ...[]byte) []byte { return bytes.Join(fields, nil) }
	field := func(num protowire.Number, v []byte) []byte {
		b := protowire.AppendTag(nil, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	mustMarshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		return b
	}
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7)
	rec := mustMarshal(&logspb.LogRecord{Body: str("late scope")})
	scopeLogs := msg(field(2, rec), unknown, field(1, mustMarshal(&commonpb.InstrumentationScope{Name: "s"})), field(2, rec))
	resource := mustMarshal(&resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str("late"))}})
	return field(1, msg(field(2, scopeLogs), unknown, field(1, resource)))
}

func TestDecodeProtobufWireOrder(t *testing.T) {
	got, err := otlp.Decode(outOfOrder(), otlp.ContentTypeProtobuf)
	if err != nil {
		t.Fatal(err)
	}
	rec := inbox.Record{Body: []byte("late scope"), Attrs: []inbox.Attr{{Key: "otel.scope.name", Value: "s"}}}
	want := []otlp.Batch{{Resource: []record.KeyValue{{Key: "service.name", Value: "late"}}, Records: []inbox.Record{rec, rec}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeTooManyRecords(t *testing.T) {
	// Empty records, two bytes each: a request that would cost memory
	// many times its size.
	empty := make([]*logspb.LogRecord, 10000)
	for i := range empty {
		empty[i] = &logspb.LogRecord{}
	}
	pb, err := proto.Marshal(request(resourceLogs(nil, nil, empty...)))
	if err != nil {
		t.Fatal(err)
	}
	js := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}` + strings.Repeat(",{}", 9999) + `]}]}]}`
	for _, tc := range []struct {
		name, contentType string
		body              []byte
	}{{"protobuf", otlp.ContentTypeProtobuf, pb}, {"JSON", otlp.ContentTypeJSON, []byte(js)}} {
		_, err := otlp.Decode(tc.body, tc.contentType)
		if !errors.Is(err, otlp.ErrTooManyRecords) || !strings.Contains(err.Error(), "send fewer records a request") {
			t.Errorf("%s: 10000 empty records in %d bytes: %v, want ErrTooManyRecords", tc.name, len(tc.body), err)
		}
	}
	// Braces in strings are text, not objects.
	braces := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"` + strings.Repeat("{}", 5000) + `"}}]}]}]}`
	if _, err := otlp.Decode([]byte(braces), otlp.ContentTypeJSON); err != nil {
		t.Errorf("a body of braces: %v", err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(jsonRequest))
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"00","spanId":"","body":{"arrayValue":{"values":[{"doubleValue":"NaN"}]}}}]}]}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		batches, err := otlp.Decode(body, otlp.ContentTypeJSON)
		if err != nil {
			return
		}
		checkLines(t, batches)
	})
}

// TestDecodeMemory: what decoding a request allocates stays within a few
// times its size, for the smallest records a request may hold and for
// more of them, which are refused.
func TestDecodeMemory(t *testing.T) {
	mk := func(n int, body string) []byte {
		recs := make([]*logspb.LogRecord, n)
		for i := range recs {
			recs[i] = &logspb.LogRecord{}
			if body != "" {
				recs[i].Body = str(body)
			}
		}
		b, err := proto.Marshal(request(resourceLogs(nil, nil, recs...)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		body    []byte
		refused bool
	}{
		{"empty records, 2 bytes each", mk(1<<17, ""), true},
		{"16-byte records", mk(1<<15, "0123456789"), false},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		batches, err := otlp.Decode(tc.body, otlp.ContentTypeProtobuf)
		runtime.ReadMemStats(&after)
		if refused := errors.Is(err, otlp.ErrTooManyRecords); refused != tc.refused {
			t.Errorf("%s: Decode: %v, want refused %t", tc.name, err, tc.refused)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*uint64(len(tc.body)) {
			t.Errorf("%s: decoding %d bytes allocated %d (%d times as much), want at most 16 times", tc.name, len(tc.body), alloc, alloc/uint64(len(tc.body)))
		}
		runtime.KeepAlive(batches)
	}
}

// jsonSeeds are OTLP/JSON requests in the forms senders write and
// protojson takes: both field name styles, numbers as strings and not,
// enum names, base64 bytes, nulls, fields of tomorrow.
var jsonSeeds = []string{
	jsonRequest,
	`{"resource_logs":[{"scope_logs":[{"log_records":[{"time_unix_nano":"7","body":{"string_value":"x"},"trace_id":"S/kvNXezTaajzpKdDg5HNg==","span_id":"APBnqgupArc="}]}]}]}`,
	`{"resourceLogs":[{"resource":null,"scopeLogs":[{"scope":{"name":"s","attributes":[{"key":"a","value":{"intValue":1}}]},"logRecords":[
	  {"severityNumber":"SEVERITY_NUMBER_WARN3","severityText":"w","body":{"bytesValue":"-_8"},"flags":"1","droppedAttributesCount":2},
	  {"severityNumber":"SEVERITY_NUMBER_OF_TOMORROW","body":{"doubleValue":"-Infinity"},"observedTimeUnixNano":1e3},
	  {"body":{"arrayValue":{"values":[{"intValue":"1.0e1"},{"boolValue":false},{"kvlistValue":{"values":[{"key":"k","value":null}]}},{}]}},"eventName":"e","attributes":null},
	  {"body":null,"traceId":"","spanId":null,"timeUnixNano":null,"attributes":[{"key":"s","value":{"stringValueStrindex":3}},{"keyStrindex":1}]}
	]}],"schemaUrl":"u"}]}`,
	`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a","intValue":"1"}}]}]}]}`,
	`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a","string_value":"b"}}]}]}]}`,
	`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"\ud83d\ude00 \u00e9"},"timeUnixNano":"18446744073709551615"}]}]}]}`,
	`{"resourceLogs":[{"resource":{"attributes":[{"key":"k","value":{"doubleValue":1e999}}]}}]}`,
	`{"resourceLogs":[]} `,
}

// FuzzDecodeJSONProtojson: the JSON decoder reads what protojson read
// into the generated types (the reference, DecodeProtojson), and refuses
// what it refused.
func FuzzDecodeJSONProtojson(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := otlp.Decode(body, otlp.ContentTypeJSON)
		if errors.Is(err, otlp.ErrTooManyRecords) {
			return
		}
		want, wantErr := otlp.DecodeProtojson(body)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, protojson's %v", body, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", body, got, want)
		}
	})
}

// TestDecodeJSONAsProtojson: the seeds of FuzzDecodeJSONProtojson decode
// as protojson decoded them, or are refused as it refused them.
func TestDecodeJSONAsProtojson(t *testing.T) {
	for _, s := range jsonSeeds {
		got, err := otlp.Decode([]byte(s), otlp.ContentTypeJSON)
		want, wantErr := otlp.DecodeProtojson([]byte(s))
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%.80s:\n got %#v, %v\nwant %#v, %v", s, got, err, want, wantErr)
		}
	}
}
