// Package bench measures the agent end to end: the built binary reads a
// 1 GiB file once (--once) into a sink, and the benchmark reports
// wall-clock throughput, throughput per CPU-second (user+sys) and peak RSS,
// the figures DESIGN.md's targets are set in. One row per sink (raw lines)
// and one per parsing mode.
package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/logletbin"
)

// inputBytes is the size of each generated input (BENCH_BYTES
// overrides it for a quick look).
func inputBytes() int64 {
	if s := os.Getenv("BENCH_BYTES"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return 1 << 30
}

// benchDir keeps the inputs between runs: writing 1 GiB takes longer than
// reading it.
func benchDir(b *testing.B) string {
	dir := os.Getenv("BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "loglet-bench")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

var (
	paths  = []string{"/api/v1/orders", "/static/app.js", "/healthz", "/api/v1/users/42/profile", "/login"}
	agents = []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "curl/8.5.0", "kube-probe/1.31"}
	start  = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
)

// nginxLine is a ~200-byte combined-format line with a request time.
func nginxLine(w io.Writer, i int) {
	fmt.Fprintf(w, "10.%d.%d.%d - - [%s] \"GET %s?id=%d HTTP/1.1\" %d %d \"https://shop.example.com/\" \"%s\" rt=%d.%03d\n",
		i%256, (i/256)%256, i%97, start.Add(time.Duration(i)*time.Millisecond).Format("02/Jan/2006:15:04:05 -0700"),
		paths[i%len(paths)], i, []int{200, 200, 200, 404, 500}[i%5], 512+i%4096, agents[i%len(agents)], i%3, i%1000)
}

// inputs are the generated workloads, by name.
var inputs = map[string]func(w io.Writer, i int){
	"nginx": nginxLine,
	"cri": func(w io.Writer, i int) {
		fmt.Fprintf(w, "%s stdout F ", start.Add(time.Duration(i)*time.Microsecond).Format(time.RFC3339Nano))
		nginxLine(w, i)
	},
	"json": func(w io.Writer, i int) {
		fmt.Fprintf(w, `{"time":"%s","level":"%s","msg":"order %d placed by user %d","user_id":%d,"path":"%s","latency_ms":%d.%d,"cached":%t,"trace_id":"%016x"}`+"\n",
			start.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), []string{"info", "info", "warn", "error"}[i%4],
			i, i%9973, i%9973, paths[i%len(paths)], i%500, i%10, i%3 == 0, uint64(i)*0x9e3779b97f4a7c15)
	},
	// One record in ten is a Java stack trace of eight lines.
	"java": func(w io.Writer, i int) {
		ts := start.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02 15:04:05.000")
		if i%10 != 9 {
			fmt.Fprintf(w, "%s INFO  [http-nio-8080-exec-%d] c.e.shop.OrderController - order %d placed in %dms by user %d\n", ts, i%16, i, i%300, i%9973)
			return
		}
		fmt.Fprintf(w, "%s ERROR [http-nio-8080-exec-%d] c.e.shop.OrderController - order %d failed\n", ts, i%16, i)
		fmt.Fprintf(w, "java.lang.IllegalStateException: inventory for item %d is empty\n", i%1000)
		for _, frame := range []string{"c.e.shop.Inventory.take(Inventory.java:88)", "c.e.shop.OrderService.place(OrderService.java:41)",
			"c.e.shop.OrderController.create(OrderController.java:27)", "java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
			"org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)"} {
			fmt.Fprintf(w, "\tat %s\n", frame)
		}
		fmt.Fprintf(w, "\t... 42 more\n")
	},
}

// writeInput writes the named workload up to size bytes, once.
func writeInput(b *testing.B, dir, name string, size int64) string {
	path := filepath.Join(dir, name+".log")
	if fi, err := os.Stat(path); err == nil && fi.Size() >= size {
		return path
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	cw := &countingWriter{w: bufio.NewWriterSize(f, 1<<20)}
	for i := 0; cw.n < size; i++ {
		inputs[name](cw, i)
	}
	if err := cw.w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// warm reads path once so it is in the page cache: the rows measure the
// agent, not the disk (whose cost varies with what ran before).
func warm(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyBuffer(io.Discard, f, make([]byte, 1<<20)); err != nil {
		b.Fatal(err)
	}
}

type countingWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}

func buildAgent(b *testing.B, dir string) string {
	bin, err := logletbin.Build(dir, "loglet", "slim")
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

// nginxRegex reads the same fields as --format nginx, for comparison.
const nginxRegex = `regex:^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>[^"]+)" (?P<status>\d+) (?P<body_bytes_sent>\d+) "(?P<http_referer>[^"]*)" "(?P<http_user_agent>[^"]*)"`

func BenchmarkAgent(b *testing.B) {
	dir := benchDir(b)
	size := inputBytes()
	bin := buildAgent(b, b.TempDir())
	type row struct {
		name, input, out string
		args             []string
		// processors, when set, is the configuration document's
		// processors list (YAML).
		processors string
	}
	rows := []row{
		{name: "raw→null", input: "nginx"},
		{name: "raw→file", input: "nginx", out: filepath.Join(dir, "out.ndjson")},
	}
	// The kernel's cost of writing the output to a disk file system varies
	// widely with the page cache's state on a VM; tmpfs shows the agent's
	// own cost of the same work.
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		rows = append(rows, row{name: "raw→tmpfs", input: "nginx", out: "/dev/shm/loglet-bench-out.ndjson"})
	}
	rows = append(rows,
		row{name: "cri→null", input: "cri", args: []string{"--format", "cri"}},
		row{name: "multiline→null", input: "java", args: []string{"--multiline-start", `^\d{4}-\d{2}-\d{2} `}},
		// The same input with no pattern: preset auto recognises the
		// Java traces (target: ≥ 80 % of the row above).
		row{name: "preset-auto→null", input: "java", args: []string{"--multiline-preset", "auto"}},
		row{name: "json→null", input: "json", args: []string{"--format", "json"}},
		row{name: "nginx→null", input: "nginx", args: []string{"--format", "nginx"}},
		row{name: "regex→null", input: "nginx", args: []string{"--format", nginxRegex}},
		row{name: "json→file", input: "json", args: []string{"--format", "json"}, out: filepath.Join(dir, "out.ndjson")},
		// Processors, beside the rows without: every built-in redaction
		// rule on parsed JSON (body and every value), and a drop or keep
		// by RE2 on raw lines.
		row{name: "json→redact→null", input: "json", args: []string{"--format", "json"}, processors: "[{redact: {builtin: [all]}}]"},
		row{name: "raw→drop→null", input: "nginx", processors: "[{drop: {match: 'GET /healthz'}}]"},
		row{name: "raw→keep→null", input: "nginx", processors: `[{keep: {match: 'HTTP/1.1" [45]\d\d '}}]`},
	)
	for _, r := range rows {
		input := writeInput(b, dir, r.input, size)
		fi, err := os.Stat(input)
		if err != nil {
			b.Fatal(err)
		}
		sinkURL := "null://"
		if r.out != "" {
			sinkURL = "file://" + r.out
		}
		b.Run(r.name, func(b *testing.B) {
			for range b.N {
				if r.out != "" {
					os.Remove(r.out)
					defer os.Remove(r.out)
				}
				warm(b, input)
				args := append([]string{"agent", "--once", "--path", input, "--state-dir", b.TempDir(), "--sink", sinkURL, "--log-level", "warn"}, r.args...)
				if r.processors != "" {
					conf := filepath.Join(b.TempDir(), "loglet.yaml")
					if err := os.WriteFile(conf, []byte("processors: "+r.processors+"\n"), 0o644); err != nil {
						b.Fatal(err)
					}
					args = append(args, "--config", conf)
				}
				cmd := exec.Command(bin, args...)
				cmd.Stderr = os.Stderr
				t0 := time.Now()
				cpu, user, sys, mem := runMeasured(b, cmd)
				peak := mib(mem.Peak)
				wall := time.Since(t0)
				mb := float64(fi.Size()) / 1e6
				b.ReportMetric(mb/wall.Seconds(), "MB/s")
				b.ReportMetric(mb/cpu.Seconds(), "MB/cpu-s")
				b.ReportMetric(peak, "peak-RSS-MiB")
				fmt.Printf("%-15s %6.0f MB in %5.2fs wall, %5.2fs CPU (user %.2fs, sys %.2fs): %5.0f MB/s, %5.0f MB per CPU-second, peak RSS %.1f MiB\n",
					r.name, mb, wall.Seconds(), cpu.Seconds(), user.Seconds(), sys.Seconds(), mb/wall.Seconds(), mb/cpu.Seconds(), peak)
			}
		})
	}
}
