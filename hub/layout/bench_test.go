package layout_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"

	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/sidecar/record"
)

// BenchmarkEncode compares what a package costs the agent in the layout's
// encoding with the S2 block loglet wrote before and gzip (fastest).
func BenchmarkEncode(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; buf.Len() < 1<<20; i++ {
		fmt.Fprintf(&buf, `{"time":"2026-12-01T10:00:%02d.%09dZ","body":"10.0.%d.%d - - GET /api/v1/orders/%d HTTP/1.1 200 %d","attributes":{"log.file.path":"/var/log/app.log","loglet.source_id":"9f955157cf98ddb3","loglet.package_id":12,"loglet.offset":%d},"resource":{"k8s.namespace.name":"shop","k8s.pod.name":"web-1"}}`+"\n",
			i%60, i*7919%1e9, i%256, i*31%256, i, 200+i%9000, i)
	}
	ndjson := buf.Bytes()
	report := func(b *testing.B, out int) {
		b.SetBytes(int64(len(ndjson)))
		b.ReportMetric(float64(out)/float64(len(ndjson)), "ratio")
	}
	b.Run("s2-stream", func(b *testing.B) {
		enc := layout.NewEncoder()
		var n int
		for b.Loop() {
			out, _ := enc.Encode(ndjson)
			n = len(out)
		}
		report(b, n)
	})
	b.Run("s2-block", func(b *testing.B) {
		var out []byte
		for b.Loop() {
			out = s2.Encode(out[:cap(out)], ndjson)
		}
		report(b, len(out))
	})
	b.Run("gzip-fastest", func(b *testing.B) {
		var out bytes.Buffer
		w, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
		for b.Loop() {
			out.Reset()
			w.Reset(&out)
			w.Write(ndjson)
			w.Close()
		}
		report(b, out.Len())
	})
}

// BenchmarkTallyOf is what the headers of a package of 4096 records of
// 150 bytes cost the agent, against writing the package as NDJSON (which
// it does anyway).
func BenchmarkTallyOf(b *testing.B) {
	p := &record.Package{Origin: record.NewOrigin("src", "/var/log/app.log", nil),
		Spans: []record.Span{{Time: observed}, {First: 2048, Time: observed2}}}
	for i := range 4096 {
		start := len(p.Data)
		p.Data = fmt.Appendf(p.Data, "%-150d", i)
		var ns int64
		if i%2 == 0 {
			ns = observed.Add(time.Duration(i) * time.Millisecond).UnixNano()
		}
		p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(len(p.Data)), Severity: record.Severity(i % 7), Time: ns})
	}
	b.Run("tally", func(b *testing.B) {
		for b.Loop() {
			layout.TallyOf(p, 0, p.Len())
		}
	})
	b.Run("ndjson", func(b *testing.B) {
		var out []byte
		for b.Loop() {
			out = p.AppendNDJSON(out[:0])
		}
	})
}
