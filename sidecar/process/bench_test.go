package process_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/process"
	"github.com/loglet/loglet/sidecar/record"
)

// BenchmarkApply measures chains on a full package (512 KiB) of parsed
// lines like bench/'s inputs; MB/s is of the lines as read.
func BenchmarkApply(b *testing.B) {
	jsonLine := func(i int) string {
		return fmt.Sprintf(`{"time":"2026-11-25T10:00:00.%03dZ","level":"%s","msg":"order %d placed by user %d","user_id":%d,"path":"/api/v1/orders","latency_ms":%d.%d,"cached":%t,"trace_id":"%016x"}`,
			i%1000, []string{"info", "info", "warn", "error"}[i%4], i, i%9973, i%9973, i%500, i%10, i%3 == 0, uint64(i)*0x9e3779b97f4a7c15)
	}
	nginxLine := func(i int) string {
		return fmt.Sprintf(`10.%d.%d.%d - - [25/Nov/2026:10:00:00 +0000] "GET %s?id=%d HTTP/1.1" 200 %d "https://shop.example.com/" "curl/8.5.0" rt=0.%03d`,
			i%256, (i/256)%256, i%97, []string{"/api/v1/orders", "/healthz", "/login"}[i%3], i, 512+i%4096, i%1000)
	}
	for _, bc := range []struct {
		name, format, procs string
		line                func(int) string
	}{
		{"json/redact-all", "json", `processors: [{redact: {builtin: [all]}}]`, jsonLine},
		{"raw/redact-all", "raw", `processors: [{redact: {builtin: [all]}}]`, nginxLine},
		{"raw/drop", "raw", `processors: [{drop: {match: 'GET /healthz'}}]`, nginxLine},
		{"raw/keep", "raw", `processors: [{keep: {match: 'HTTP/1.1" [45]\d\d'}}]`, nginxLine},
		{"json/drop-field", "json", `processors: [{drop: {field: level, match: '^(debug|trace)$'}}]`, jsonLine},
		{"json/set-rename-remove", "json", `processors: [{set: {attributes: {team: payments}}}, {rename: {attributes: {user_id: user.id}}}, {remove: {attributes: [cached]}}]`, jsonLine},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var sb strings.Builder
			for i := 0; sb.Len() < 512<<10; i++ {
				sb.WriteString(bc.line(i) + "\n")
			}
			c := compile(b, bc.procs, process.Options{})
			tmpl := packageOf(b, parse.Config{Format: bc.format}, sb.String())
			run := c.Start(tmpl.Origin, slog.New(slog.DiscardHandler))
			p := &record.Package{Origin: tmpl.Origin, Data: tmpl.Data, Strings: tmpl.Strings}
			b.SetBytes(int64(len(tmpl.Data)))
			b.ResetTimer()
			for range b.N {
				p.Records = append(p.Records[:0], tmpl.Records...)
				p.Attrs = append(p.Attrs[:0], tmpl.Attrs...)
				p.Spans = append(p.Spans[:0], tmpl.Spans...)
				p.Extra = append(p.Extra[:0], tmpl.Extra...)
				run.Apply(p, time.Unix(1, 0))
			}
		})
	}
}
