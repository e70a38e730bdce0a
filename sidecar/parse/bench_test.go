package parse

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/record"
)

// benchLines makes about n bytes of container lines like the bench/ rows
// (a ~200-byte nginx line per record), wrapped by wrap.
func benchLines(n int, wrap func(b *strings.Builder, i int, ts, text string)) []byte {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		ts := start.Add(time.Duration(i) * time.Microsecond).Format(time.RFC3339Nano)
		text := fmt.Sprintf(`10.%d.%d.%d - - [25/Nov/2026:10:00:00 +0000] "GET /api/v1/orders?id=%d HTTP/1.1" 200 %d "https://shop.example.com/" "curl/8.5.0" rt=0.%03d`,
			i%256, (i/256)%256, i%97, i, 512+i%4096, i%1000)
		wrap(&b, i, ts, text)
	}
	return []byte(b.String())
}

// BenchmarkStage measures a stage turning a full package (512 KiB) of
// container lines into records: the parse share of the cri→null row.
func BenchmarkStage(b *testing.B) {
	cri := func(b *strings.Builder, _ int, ts, text string) { fmt.Fprintf(b, "%s stdout F %s\n", ts, text) }
	// Every fourth line is stderr, the rest stdout: two streams at once.
	criMixed := func(b *strings.Builder, i int, ts, text string) {
		stream := "stdout"
		if i%4 == 3 {
			stream = "stderr"
		}
		fmt.Fprintf(b, "%s %s F %s\n", ts, stream, text)
	}
	java := func(b *strings.Builder, i int, ts, text string) {
		ts = ts[:10] + " " + ts[11:19]
		if i%10 != 9 {
			fmt.Fprintf(b, "%s INFO  [http-nio-8080-exec-%d] c.e.shop.OrderController - %s\n", ts, i%16, text)
			return
		}
		fmt.Fprintf(b, "%s ERROR [http-nio-8080-exec-%d] c.e.shop.OrderController - order %d failed\n", ts, i%16, i)
		fmt.Fprintf(b, "java.lang.IllegalStateException: inventory for item %d is empty\n", i%1000)
		for _, frame := range []string{"c.e.shop.Inventory.take(Inventory.java:88)", "c.e.shop.OrderService.place(OrderService.java:41)",
			"c.e.shop.OrderController.create(OrderController.java:27)", "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)"} {
			fmt.Fprintf(b, "\tat %s\n", frame)
		}
		b.WriteString("\t... 42 more\n")
	}
	docker := func(b *strings.Builder, _ int, ts, text string) {
		fmt.Fprintf(b, `{"log":%q,"stream":"stdout","time":%q}`+"\n", text+"\n", ts)
	}
	for _, bc := range []struct {
		name string
		cfg  Config
		wrap func(b *strings.Builder, i int, ts, text string)
	}{
		{"cri", Config{Container: "cri"}, cri},
		{"cri-two-streams", Config{Container: "cri"}, criMixed},
		{"cri-multiline", Config{Container: "cri", MultilineStart: `^\d{1,3}\.`}, criMixed},
		{"docker", Config{Container: "docker"}, docker},
		// A Java application's log (bench/'s java input): a trace after
		// every tenth line, joined by a start pattern or by preset auto.
		{"java-multiline-start", Config{MultilineStart: `^\d{4}-\d{2}-\d{2} `}, java},
		{"java-preset-auto", Config{MultilinePreset: "auto"}, java},
		// A Chinese application's log in GBK (the nginx text between two
		// GBK words).
		{"gbk", Config{Encoding: "gbk"}, func(b *strings.Builder, _ int, _, text string) {
			fmt.Fprintf(b, "\xb6\xa9\xb5\xa5 %s \xcc\xe1\xbd\xbb\n", text)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchStage(b, bc.cfg, bc.wrap) })
	}
}

// benchStage measures a stage for cfg on a full package of lines made by
// wrap.
func benchStage(b *testing.B, cfg Config, wrap func(b *strings.Builder, i int, ts, text string)) {
	cfg.MaxLineBytes, cfg.MultilineTimeout = 256<<10, time.Second
	spec, err := Compile(cfg)
	if err != nil {
		b.Fatal(err)
	}
	data := benchLines(512<<10, wrap)
	tmpl := rawPackage(data)
	st := spec.NewStage()
	p := &record.Package{Data: data}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.Records = append(p.Records[:0], tmpl.Records...)
		p.Spans = append(p.Spans[:0], tmpl.Spans...)
		st.Process(p, false)
	}
}

// BenchmarkSyslog measures format syslog on a full package of syslog lines
// (the nginx line of benchLines as MSG): as daemons send them (RFC 3164
// and RFC 5424 with structured data) and as rsyslog writes /var/log/syslog.
func BenchmarkSyslog(b *testing.B) {
	stamp := func(ts string) string {
		t, _ := time.Parse(time.RFC3339Nano, ts)
		return t.Format(time.Stamp)
	}
	for _, bc := range []struct {
		name string
		wrap func(b *strings.Builder, i int, ts, text string)
	}{
		{"rfc3164", func(b *strings.Builder, i int, ts, text string) {
			fmt.Fprintf(b, "<%d>%s node-1 nginx[%d]: %s\n", 16*8+i%8, stamp(ts), 4000+i%16, text)
		}},
		{"rfc5424", func(b *strings.Builder, i int, ts, text string) {
			fmt.Fprintf(b, `<%d>1 %s node-1.example.com nginx %d ID47 [req@32473 id="%d" route="orders"] %s`+"\n", 16*8+i%8, ts, 4000+i%16, i, text)
		}},
		{"rsyslog-file", func(b *strings.Builder, i int, ts, text string) {
			fmt.Fprintf(b, "%s node-1 nginx[%d]: %s\n", stamp(ts), 4000+i%16, text)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchStage(b, Config{Format: "syslog"}, bc.wrap) })
	}
}
