// Command gen writes the input of the processors benchmark beside Fluent Bit:
// nginx combined-format access lines in the format of bench/agent_test.go's
// nginxLine (so the rows compare with `make bench`), where every fifth line
// is a `GET /healthz` probe.
//
//	go run ./bench/peers/gen -o ~/.cache/loglet-peers/data/access.log            # 1 GiB
//	go run ./bench/peers/gen -o /tmp/small.log -size 10000000                     # a quick look
//
// Beside the output it writes "<out>.count", one line:
// "lines=N bytes=B healthz=H", so a run can check what a collector delivered
// (lines) and what a drop of the health checks must leave (lines-healthz).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// These repeat bench/agent_test.go's tables: that file is a _test.go file of
// another package, so it cannot be imported.
var (
	paths    = []string{"/api/v1/orders", "/static/app.js", "/healthz", "/api/v1/users/42/profile", "/login"}
	agents   = []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "curl/8.5.0", "kube-probe/1.31"}
	statuses = []int{200, 200, 200, 404, 500}
	start    = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
)

// nginxLine writes line i, a ~200-byte combined-format line with a request time.
func nginxLine(w io.Writer, i int) error {
	_, err := fmt.Fprintf(w, "10.%d.%d.%d - - [%s] \"GET %s?id=%d HTTP/1.1\" %d %d \"https://shop.example.com/\" \"%s\" rt=%d.%03d\n",
		i%256, (i/256)%256, i%97, start.Add(time.Duration(i)*time.Millisecond).Format("02/Jan/2006:15:04:05 -0700"),
		paths[i%len(paths)], i, statuses[i%5], 512+i%4096, agents[i%len(agents)], i%3, i%1000)
	return err
}

// counter counts what passes through it: bytes, lines, and lines holding
// the health-check request.
type counter struct {
	w                    io.Writer
	bytes, lines, health int64
}

func (c *counter) Write(p []byte) (int, error) {
	c.bytes += int64(len(p))
	c.lines++ // nginxLine writes one whole line per call
	if bytes.Contains(p, []byte("GET /healthz")) {
		c.health++
	}
	return c.w.Write(p)
}

func run(out string, size int64) error {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("create the output: %w", err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	c := &counter{w: bw}
	// Whole lines until size is reached, as bench/agent_test.go's writeInput.
	for i := 0; c.bytes < size; i++ {
		if err := nginxLine(c, i); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", out, err)
	}
	count := fmt.Sprintf("lines=%d bytes=%d healthz=%d\n", c.lines, c.bytes, c.health)
	if err := os.WriteFile(out+".count", []byte(count), 0o644); err != nil {
		return fmt.Errorf("write the line count: %w", err)
	}
	fmt.Print(count)
	return nil
}

func main() {
	out := flag.String("o", "access.log", "the file to write (it is replaced)")
	size := flag.Int64("size", 1<<30, "stop at the first whole line at or past this many bytes")
	flag.Parse()
	if *size <= 0 {
		fmt.Fprintln(os.Stderr, "gen: -size must be a positive number of bytes")
		os.Exit(2)
	}
	if err := run(*out, *size); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
