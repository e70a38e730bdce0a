package sink

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
)

// benchPackage is a package of n records as the agent reads a file: with
// format json, lines of flat and nested fields (Raw attributes), or with
// format raw, plain text lines.
func benchPackage(b *testing.B, format string, n int) *record.Package {
	b.Helper()
	spec, err := parse.Compile(parse.Config{Format: format, MaxLineBytes: 1 << 20, MultilineTimeout: time.Second, TimeKey: map[bool]string{true: "ts"}[format == "json"],
		TimeFormat: map[bool]string{true: "rfc3339"}[format == "json"]})
	if err != nil {
		b.Fatal(err)
	}
	res := []record.KeyValue{{Key: "k8s.namespace.name", Value: "shop"}, {Key: "k8s.pod.name", Value: "checkout-7d9f8b6c5-x2x4q"},
		{Key: "k8s.container.name", Value: "app"}, {Key: "k8s.container.restart_count", Value: "2"}}
	p := &record.Package{Origin: record.NewOrigin("src-1", "/var/log/pods/shop_checkout/app/0.log", res), ID: 7, Spans: []record.Span{{Time: time.Unix(1_800_000_000, 0)}}}
	for i := range n {
		var l string
		if format == "json" {
			l = fmt.Sprintf(`{"ts":"2026-12-01T11:59:58.%09dZ","level":"info","msg":"request served","method":"GET","path":"/api/v1/orders/%d","status":200,"ms":%d.25,"user":{"id":%d,"roles":["buyer","beta"]},"tags":["a","b"]}`, i, i, i%97, i)
		} else {
			l = fmt.Sprintf("2026-12-01T11:59:58.%09dZ INFO request served method=GET path=/api/v1/orders/%d status=200", i, i)
		}
		start := len(p.Data)
		p.Data = append(p.Data, l...)
		p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(len(p.Data))})
	}
	if keep := spec.NewStage().Process(p, true); keep != -1 {
		b.Fatalf("parse left bytes from %d", keep)
	}
	return p
}

// BenchmarkOTLPEncode: encoding a package of 1000 records as an OTLP
// export request, the OTLP sink's hot path (gzip and the post aside).
func BenchmarkOTLPEncode(b *testing.B) {
	for _, format := range []string{"json", "raw"} {
		b.Run(format, func(b *testing.B) {
			p := benchPackage(b, format, 1000)
			var dst []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, _, err = encodeOTLP(p, dst[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(dst)))
		})
	}
}

// BenchmarkOTLPEncodeReference is BenchmarkOTLPEncode for the encoder as
// it was (the generated types and proto.Marshal, otlp_ref_test.go): run
// together, the two compare under the same load.
func BenchmarkOTLPEncodeReference(b *testing.B) {
	for _, format := range []string{"json", "raw"} {
		b.Run(format, func(b *testing.B) {
			p := benchPackage(b, format, 1000)
			var dst []byte
			b.ReportAllocs()
			for b.Loop() {
				rl, err := proto.Marshal(refResourceLogs(p))
				if err != nil {
					b.Fatal(err)
				}
				dst = protowire.AppendTag(dst[:0], 1, protowire.BytesType)
				dst = protowire.AppendBytes(dst, rl)
			}
			b.SetBytes(int64(len(dst)))
		})
	}
}
