package sink

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
)

// otlpReceiver is an OTLP/HTTP logs endpoint that decodes each request
// as the OpenTelemetry Collector's receiver does (pdata), not with
// loglet's own types: what it hands back is what a Collector would see.
func otlpReceiver(t *testing.T) (url string, got func() plog.Logs) {
	t.Helper()
	reqs := make(chan plog.Logs, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := io.Reader(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil || r.URL.Path != "/v1/logs" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want a protobuf POST to /v1/logs", http.StatusBadRequest)
			return
		}
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reqs <- req.Logs()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := plogotlp.NewExportResponse().MarshalProto()
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return "otlp+" + srv.URL, func() plog.Logs {
		t.Helper()
		select {
		case l := <-reqs:
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("the OTLP endpoint got no request")
			return plog.Logs{}
		}
	}
}

// jsonPackage parses lines with the json format (and time-key ts when
// timed), as the agent does a file's lines: attributes from nested JSON
// come out Raw, as in the agent.
func jsonPackage(t *testing.T, observed time.Time, timed bool, res []record.KeyValue, lines ...string) *record.Package {
	t.Helper()
	cfg := parse.Config{Format: "json", MaxLineBytes: 1 << 20, MultilineTimeout: time.Second}
	if timed {
		cfg.TimeKey, cfg.TimeFormat = "ts", "rfc3339"
	}
	spec, err := parse.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &record.Package{Origin: record.NewOrigin("src-1", "/var/log/app.log", res), ID: 7, Spans: []record.Span{{Time: observed}}}
	for _, l := range lines {
		start := len(p.Data)
		p.Data = append(p.Data, l...)
		p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(len(p.Data))})
	}
	if keep := spec.NewStage().Process(p, true); keep != -1 {
		t.Fatalf("parse left bytes from %d", keep)
	}
	return p
}

// sendOTLP writes p through the OTLP sink to a receiver and returns its
// one resource's logs as the Collector decodes them.
func sendOTLP(t *testing.T, p *record.Package) plog.ResourceLogs {
	t.Helper()
	url, got := otlpReceiver(t)
	s, err := Open(context.Background(), url, Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.Write(context.Background(), []*record.Package{p}); n != 1 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	logs := got()
	if logs.ResourceLogs().Len() != 1 || logs.ResourceLogs().At(0).ScopeLogs().Len() != 1 {
		t.Fatalf("got %d resource logs, want 1 with 1 scope", logs.ResourceLogs().Len())
	}
	return logs.ResourceLogs().At(0)
}

// TestOTLPWireAttributeValues: a JSON line's nested values reach an OTLP
// receiver typed — objects as kvlist, arrays as array, integers as int,
// other numbers as double, booleans as bool, null as an empty value — as
// the Collector's own JSON parsing would give them, not as JSON text in a
// string.
func TestOTLPWireAttributeValues(t *testing.T) {
	for _, tc := range []struct {
		name, line, key string
		want            any // pcommon.Value.AsRaw()
		wantType        pcommon.ValueType
	}{
		{"array of strings", `{"msg":"m","tags":["a","b"]}`, "tags", []any{"a", "b"}, pcommon.ValueTypeSlice},
		{"object", `{"msg":"m","http":{"status":200,"ok":true,"path":"/x","ms":1.5}}`, "http",
			map[string]any{"status": int64(200), "ok": true, "path": "/x", "ms": 1.5}, pcommon.ValueTypeMap},
		{"array of objects", `{"msg":"m","items":[{"id":1},{"id":2,"sub":[]}]}`, "items",
			[]any{map[string]any{"id": int64(1)}, map[string]any{"id": int64(2), "sub": []any{}}}, pcommon.ValueTypeSlice},
		{"mixed array", `{"msg":"m","v":[1,2.5,"x",false,null,{"k":"v"}]}`, "v",
			[]any{int64(1), 2.5, "x", false, nil, map[string]any{"k": "v"}}, pcommon.ValueTypeSlice},
		{"empty object", `{"msg":"m","o":{}}`, "o", map[string]any{}, pcommon.ValueTypeMap},
		{"int", `{"msg":"m","n":-42}`, "n", int64(-42), pcommon.ValueTypeInt},
		{"double", `{"msg":"m","f":0.25}`, "f", 0.25, pcommon.ValueTypeDouble},
		{"exponent", `{"msg":"m","f":1e3}`, "f", 1000.0, pcommon.ValueTypeDouble},
		{"bool", `{"msg":"m","b":true}`, "b", true, pcommon.ValueTypeBool},
		{"null", `{"msg":"m","z":null}`, "z", nil, pcommon.ValueTypeEmpty},
		{"string", `{"msg":"m","s":"tab\there"}`, "s", "tab\there", pcommon.ValueTypeStr},
		{"escaped key and value in an object", `{"msg":"m","o":{"a\"b":"\u00e9"}}`, "o", map[string]any{`a"b`: "é"}, pcommon.ValueTypeMap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rl := sendOTLP(t, jsonPackage(t, time.Unix(1_800_000_000, 0), false, nil, tc.line))
			recs := rl.ScopeLogs().At(0).LogRecords()
			if recs.Len() != 1 {
				t.Fatalf("got %d records, want 1", recs.Len())
			}
			v, ok := recs.At(0).Attributes().Get(tc.key)
			if !ok {
				t.Fatalf("attribute %s missing; attributes %v", tc.key, recs.At(0).Attributes().AsRaw())
			}
			if v.Type() != tc.wantType || !reflect.DeepEqual(v.AsRaw(), tc.want) {
				t.Errorf("attribute %s = %s %#v, want %s %#v", tc.key, v.Type(), v.AsRaw(), tc.wantType, tc.want)
			}
		})
	}
}

// TestOTLPWireKeyOrder: an object's keys keep the order the line wrote
// them in (a kvlist is a list), duplicates included, as a reader scanning
// the record expects.
func TestOTLPWireKeyOrder(t *testing.T) {
	rl := sendOTLP(t, jsonPackage(t, time.Unix(1_800_000_000, 0), false, nil, `{"msg":"m","o":{"z":1,"a":2,"m":{"y":1,"b":2}}}`))
	v, _ := rl.ScopeLogs().At(0).LogRecords().At(0).Attributes().Get("o")
	if v.Type() != pcommon.ValueTypeMap {
		t.Fatalf("attribute o is %s %q, want a map", v.Type(), v.AsString())
	}
	var keys []string
	var walk func(prefix string, m pcommon.Map)
	walk = func(prefix string, m pcommon.Map) {
		for k, v := range m.All() {
			keys = append(keys, prefix+k)
			if v.Type() == pcommon.ValueTypeMap {
				walk(prefix+k+".", v.Map())
			}
		}
	}
	walk("", v.Map())
	if got := strings.Join(keys, ","); got != "z,a,m,m.y,m.b" {
		t.Errorf("keys in order %s, want z,a,m,m.y,m.b", got)
	}
}

// TestOTLPWireDeepNesting: a value nested deeper than the Collector
// decodes (it refuses messages nested over 100 deep, three per object
// level) maps down to maxValueDepth and goes on as the JSON text of what
// lies below: the request is accepted and nothing is lost.
func TestOTLPWireDeepNesting(t *testing.T) {
	nested := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	// rawPackage holds one record whose attribute d is the JSON text v.
	rawPackage := func(v string) *record.Package {
		p := &record.Package{Origin: record.NewOrigin("src-1", "/var/log/app.log", nil), Spans: []record.Span{{Time: time.Unix(1_800_000_000, 0)}},
			Data: []byte("m" + v), Strings: []string{"d"}}
		p.Attrs = []record.Attr{{Key: record.StringRef(0), Value: record.DataRef(1, len(p.Data)), Raw: true}}
		p.Records = []record.Entry{{Start: 0, End: 1, AttrEnd: 1}}
		return p
	}
	for _, tc := range []struct {
		name      string
		p         *record.Package
		wantMaps  int
		wantInner pcommon.Value
	}{
		{"a line at the limit", jsonPackage(t, time.Unix(1_800_000_000, 0), false, nil, `{"msg":"m","d":`+nested(maxValueDepth)+`}`), maxValueDepth, pcommon.NewValueInt(1)},
		{"a line beyond it", jsonPackage(t, time.Unix(1_800_000_000, 0), false, nil, `{"msg":"m","d":`+nested(60)+`}`), maxValueDepth, pcommon.NewValueStr(nested(60 - maxValueDepth))},
		{"a value 200 deep", rawPackage(nested(200)), maxValueDepth, pcommon.NewValueStr(nested(200 - maxValueDepth))},
		{"arrays 200 deep", rawPackage(strings.Repeat("[", 200) + strings.Repeat("]", 200)), maxValueDepth,
			pcommon.NewValueStr(strings.Repeat("[", 200-maxValueDepth) + strings.Repeat("]", 200-maxValueDepth))},
		{"spaces around the cut", rawPackage(strings.Repeat(`{ "a" :  `, 40) + "1" + strings.Repeat("}", 40)), maxValueDepth,
			pcommon.NewValueStr(strings.Repeat(`{ "a" :  `, 40-maxValueDepth) + "1" + strings.Repeat("}", 40-maxValueDepth))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attrs := sendOTLP(t, tc.p).ScopeLogs().At(0).LogRecords().At(0).Attributes()
			v, ok := attrs.Get("d")
			if !ok {
				t.Fatalf("attribute d missing: %v", attrs.AsRaw())
			}
			depth := 0
			for ; v.Type() == pcommon.ValueTypeMap || v.Type() == pcommon.ValueTypeSlice && v.Slice().Len() > 0; depth++ {
				if v.Type() == pcommon.ValueTypeMap {
					v, _ = v.Map().Get("a")
				} else {
					v = v.Slice().At(0)
				}
			}
			if depth != tc.wantMaps || !v.Equal(tc.wantInner) {
				t.Errorf("maps %d deep, then %s %.60q; want %d deep, then %s %.60q", depth, v.Type(), v.AsString(), tc.wantMaps, tc.wantInner.Type(), tc.wantInner.AsString())
			}
		})
	}
}

// TestOTLPWireTimes: a record with an event time sends it as Timestamp; a
// record without one sends Timestamp 0 (unknown, as the OpenTelemetry log
// data model has it), and the time it was read in ObservedTimestamp in
// both cases.
func TestOTLPWireTimes(t *testing.T) {
	observed := time.Date(2026, 12, 1, 12, 0, 0, 5, time.UTC)
	for _, tc := range []struct {
		name  string
		timed bool
		line  string
		want  pcommon.Timestamp
	}{
		{"event time", true, `{"msg":"m","ts":"2026-12-01T11:59:58.000000007Z"}`,
			pcommon.NewTimestampFromTime(time.Date(2026, 12, 1, 11, 59, 58, 7, time.UTC))},
		{"no event time", false, `{"msg":"m"}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lr := sendOTLP(t, jsonPackage(t, observed, tc.timed, nil, tc.line)).ScopeLogs().At(0).LogRecords().At(0)
			if lr.Timestamp() != tc.want || lr.ObservedTimestamp() != pcommon.NewTimestampFromTime(observed) {
				t.Errorf("Timestamp %d, ObservedTimestamp %d; want %d and %d", lr.Timestamp(), lr.ObservedTimestamp(), tc.want, observed.UnixNano())
			}
		})
	}
}

// TestOTLPWireResource: the resource's attributes are typed as the
// semantic conventions type them: k8s.container.restart_count is an int;
// everything else is a string, a value that does not read as its type
// included (nothing is dropped).
func TestOTLPWireResource(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  []record.KeyValue
		want map[string]any
	}{
		{"restart count", []record.KeyValue{{Key: "k8s.pod.name", Value: "web-1"}, {Key: "k8s.container.restart_count", Value: "3"}},
			map[string]any{"k8s.pod.name": "web-1", "k8s.container.restart_count": int64(3)}},
		{"restart count not a number", []record.KeyValue{{Key: "k8s.container.restart_count", Value: "three"}},
			map[string]any{"k8s.container.restart_count": "three"}},
		{"numbers elsewhere stay strings", []record.KeyValue{{Key: "k8s.pod.label.tier", Value: "3"}, {Key: "service.name", Value: "web"}},
			map[string]any{"k8s.pod.label.tier": "3", "service.name": "web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rl := sendOTLP(t, jsonPackage(t, time.Unix(1_800_000_000, 0), false, tc.res, `{"msg":"m"}`))
			if got := rl.Resource().Attributes().AsRaw(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("resource %#v, want %#v", got, tc.want)
			}
		})
	}
}

// FuzzOTLPValue: any JSON value an attribute holds becomes an OTLP value
// the Collector decodes (its recursion limit kept), equal to the JSON as
// the Collector's own JSON mapping reads it, down to maxValueDepth.
func FuzzOTLPValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x",true,null,{}]}`, `[]`, `"s"`, `-0`, `1e999`, `12345678901234567890`,
		`{"a":{"a":1},"a":2}`, strings.Repeat("[", 40) + strings.Repeat("]", 40), `{"\u00e9":"\ud800"}`, ` { "a" : [ ] } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if !json.Valid(v) {
			return // Raw values are valid JSON (the parsers and processors check)
		}
		v = bytes.TrimSpace(v) // the parsers hand values without the spaces around them
		kv := &commonpb.KeyValue{Key: "k", Value: rawValue(v)}
		b, err := proto.Marshal(&logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{
			LogRecords: []*logspb.LogRecord{{Attributes: []*commonpb.KeyValue{kv}}}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		logs, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
		if err != nil {
			t.Fatalf("the Collector refuses %q: %v", v, err)
		}
		got, _ := logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().Get("k")
		if depthOf(v) > maxValueDepth {
			return // partly JSON text: checked in TestOTLPWireDeepNesting
		}
		var want any
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		if err := d.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !sameJSON(got.AsRaw(), want) {
			t.Errorf("%q became %#v", v, got.AsRaw())
		}
	})
}

// depthOf is how deep v's objects and arrays nest.
func depthOf(v []byte) int {
	d := json.NewDecoder(bytes.NewReader(v))
	depth, deepest := 0, 0
	for {
		tok, err := d.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// sameJSON compares a pdata value (AsRaw) with JSON decoded with
// UseNumber: integers that fit int64 are ints, other numbers doubles
// (or, beyond a double, the text), an object's last duplicate key wins.
func sameJSON(got, want any) bool {
	switch w := want.(type) {
	case json.Number:
		if n, err := w.Int64(); err == nil {
			return got == n
		}
		if f, err := w.Float64(); err == nil {
			return got == f
		}
		return got == w.String()
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, wv := range w {
			if gv, ok := g[k]; !ok || !sameJSON(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !sameJSON(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(got, want)
	}
}
