package sink

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/loglet/loglet/sidecar/record"
)

// rawValue is what appendRawValue writes, read back into the generated
// type: the value FuzzOTLPValue holds to the Collector's reading of the
// JSON.
func rawValue(v []byte) *commonpb.AnyValue {
	av := &commonpb.AnyValue{}
	if err := proto.Unmarshal(appendRawValue(nil, v), av); err != nil {
		panic(fmt.Sprintf("appendRawValue(%q) wrote what protobuf cannot read: %v", v, err))
	}
	return av
}

// referenceRequest is p as the sink wrote it with the generated types.
func referenceRequest(t *testing.T, p *record.Package) []byte {
	t.Helper()
	b, err := proto.Marshal(&collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{refResourceLogs(p)}})
	if err != nil {
		t.Fatalf("the reference cannot marshal the package: %v", err)
	}
	return b
}

// TestOTLPEncodeMatchesReference: for random packages (bodies and keys
// not UTF-8, times before 1970, every flag and severity, raw JSON values
// of every kind, nested past maxValueDepth, or not JSON at all) the
// encoder writes the bytes proto.Marshal wrote from the generated types,
// which read back as the same message.
func TestOTLPEncodeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 2026))
	for i := range 500 {
		p := randomPackage(rng)
		want := referenceRequest(t, p)
		got, _, err := encodeOTLP(p, []byte("prefix"))
		if err != nil {
			t.Fatalf("package %d: %v", i, err)
		}
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatalf("package %d: the encoder overwrote what dst held", i)
		}
		got = got[len("prefix"):]
		if bytes.Equal(got, want) {
			continue
		}
		var g, w collogspb.ExportLogsServiceRequest
		if err := proto.Unmarshal(got, &g); err != nil {
			t.Fatalf("package %d: the encoder wrote what protobuf cannot read: %v", i, err)
		}
		if err := proto.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		t.Fatalf("package %d: %d bytes, want %d (same message: %t)\n got %.3000v\nwant %.3000v", i, len(got), len(want), proto.Equal(&g, &w), &g, &w)
	}
}

// TestOTLPEncodeInvalidOrigin: a path or resource value that is not
// UTF-8 goes with U+FFFD for its invalid bytes (proto.Marshal refused the
// whole package).
func TestOTLPEncodeInvalidOrigin(t *testing.T) {
	p := &record.Package{Origin: record.NewOrigin("src\xff", "/var/log/\xfe.log", []record.KeyValue{{Key: "k\xff", Value: "v\xff"}}),
		Spans: []record.Span{{Time: time.Unix(1, 0)}}, Data: []byte("m"), Records: []record.Entry{{End: 1}}}
	b, _, err := encodeOTLP(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var req collogspb.ExportLogsServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		t.Fatalf("protobuf cannot read the request: %v", err)
	}
	rl := req.ResourceLogs[0]
	res := rl.Resource.Attributes[0]
	attrs := rl.ScopeLogs[0].LogRecords[0].Attributes
	if res.Key != "k\uFFFD" || res.Value.GetStringValue() != "v\uFFFD" || attrs[0].Value.GetStringValue() != "/var/log/\uFFFD.log" || attrs[1].Value.GetStringValue() != "src\uFFFD" {
		t.Errorf("resource %v, attributes %v: want U+FFFD for each invalid byte", res, attrs)
	}
}

// randomPackage is a package of up to 20 records with anything the
// parsers and processors may put in one.
func randomPackage(rng *rand.Rand) *record.Package {
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	var res []record.KeyValue
	for range rng.IntN(4) {
		res = append(res, record.KeyValue{Key: pick("k8s.container.restart_count", "k8s.pod.name", "", "service.name"),
			Value: pick("3", "-1", "three", "", "99999999999999999999", "web-1")})
	}
	var o *record.Origin
	switch rng.IntN(3) {
	case 0:
		o = record.NewOrigin("src-1", "/var/log/app.log", res)
	case 1:
		o = record.NewInputOrigin("src-2", "/var/log/b.log", "nginx", res)
	default:
		o = record.NewInboxOrigin("src-3", "inbox", pick("", "otlp"), res)
	}
	p := &record.Package{Origin: o, ID: rng.Uint64N(1 << 40), Strings: []string{"level", "", "k\xffey"}}
	n := rng.IntN(20)
	p.Spans = []record.Span{{First: 0, Time: time.Unix(0, rng.Int64N(1<<62))}}
	for first := 1 + rng.IntN(5); first < n; first += 1 + rng.IntN(5) {
		p.Spans = append(p.Spans, record.Span{First: first, Time: time.Unix(0, rng.Int64N(1<<62))})
	}
	text := func() string {
		return pick("", "m", "héllo", "bad \xff\xfe bytes", "\xed\xa0\x80", strings.Repeat("long line ", 30), "tab\tnew\nline")
	}
	for range n {
		e := record.Entry{Severity: record.Severity(rng.IntN(9)), Flags: record.Flag(rng.IntN(32)) &^ record.FlagExtra,
			Part: uint16(rng.IntN(5)), Time: pick3(rng, 0, -rng.Int64N(1<<40), rng.Int64N(1<<62))}
		e.Start = uint32(len(p.Data))
		p.Data = append(p.Data, text()...)
		e.End = uint32(len(p.Data))
		e.AttrStart = uint32(len(p.Attrs))
		for range rng.IntN(6) {
			var a record.Attr
			if rng.IntN(3) == 0 {
				a.Key = record.StringRef(rng.IntN(len(p.Strings)))
			} else {
				a.Key = dataRef(p, pick("k", "http", "", "\xff", "user.id", strings.Repeat("x", 200)))
			}
			if a.Raw = rng.IntN(2) == 0; a.Raw {
				a.Value = dataRef(p, randomJSON(rng, 0))
			} else {
				a.Value = dataRef(p, text())
			}
			p.Attrs = append(p.Attrs, a)
		}
		e.AttrEnd = uint32(len(p.Attrs))
		p.Records = append(p.Records, e)
	}
	return p
}

func pick3(rng *rand.Rand, a, b, c int64) int64 { return [3]int64{a, b, c}[rng.IntN(3)] }

// dataRef appends s to p's data and refers to it.
func dataRef(p *record.Package, s string) record.Ref {
	start := len(p.Data)
	p.Data = append(p.Data, s...)
	return record.DataRef(start, len(p.Data))
}

// randomJSON is a JSON value as a Raw attribute holds it, nested up to
// twice maxValueDepth, now and then not JSON after all.
func randomJSON(rng *rand.Rand, depth int) string {
	if depth < 2*maxValueDepth && rng.IntN(depth+2) < 2 || depth < 40 && rng.IntN(8) == 0 {
		var b strings.Builder
		obj := rng.IntN(2) == 0
		b.WriteString(map[bool]string{true: "{", false: "["}[obj])
		for i := range rng.IntN(4) {
			if i > 0 {
				b.WriteString(", "[:1+rng.IntN(2)])
			}
			if obj {
				b.WriteString([]string{`"a"`, `""`, `"k\u00e9\"y"`, `"\ud800x"`, "\"\xff\""}[rng.IntN(5)])
				b.WriteString([]string{":", " : "}[rng.IntN(2)])
			}
			b.WriteString(randomJSON(rng, depth+1))
		}
		b.WriteString(map[bool]string{true: "}", false: "]"}[obj])
		return b.String()
	}
	scalars := []string{`0`, `-0`, `42`, `-9223372036854775808`, `9223372036854775808`, `1.5`, `-2.5e-3`, `1e999`, `1e-999`,
		`true`, `false`, `null`, `""`, `"s"`, `"tab\there \u00e9 \ud83d\ude00"`, "\"bad \xff\"", `"\ud800"`}
	if depth == 0 && rng.IntN(10) == 0 {
		bad := []string{`{"a":`, `[1,2`, `{"a" 1}`, `{]`, "not json", `{"a":1}}`, `"a" "b"`, `"open`, `"x" `, `[1,]`, `{"a":01}`,
			`["\ud83d\u0041"]`, `["\x"]`, "[\"tab\there\"]", `[tru]`, `-`, `1.`, `Infinity`, `0x10`}
		return bad[rng.IntN(len(bad))]
	}
	return scalars[rng.IntN(len(scalars))]
}

// FuzzOTLPRawValueReference: for any text a Raw attribute holds (JSON or,
// against the parsers' promise, not), the encoder writes the bytes the
// generated types did (encoding/json's tokens read into them).
func FuzzOTLPRawValueReference(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x",true,null,{}]}`, `[]`, `"s"`, `-0`, `1e999`, `12345678901234567890`, `+5`, `"a" "b"`,
		`{"a":{"a":1},"a":2}`, strings.Repeat("[", 40) + strings.Repeat("]", 40), `{"\u00e9":"\ud800"}`, ` { "a" : [ ] } `, `["\ud83d\ude00\ud83d"]`,
		`{"a":1}}`, `[1,]`, "[\"\xff\"]", `nan`, `0x1p3`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		want, err := proto.Marshal(refRawValue(v))
		if err != nil {
			t.Fatalf("the reference cannot marshal %q: %v", v, err)
		}
		if got := appendRawValue(nil, v); !bytes.Equal(got, want) {
			t.Fatalf("%q: %x, want %x", v, got, want)
		}
	})
}
