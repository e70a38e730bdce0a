// Command demo runs the loglet agent on a generated sample workload and
// prints the records it delivers: `make demo`.
//
// It writes an nginx access log and an application log with a rotation in
// between into a temporary folder, runs `loglet agent` on them with the
// stdout:// sink for a few seconds, stops it with SIGTERM (the agent drains)
// and compares what was written with what was delivered.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("loglet", "bin/loglet", "the loglet binary to run")
	duration := flag.Duration("duration", 4*time.Second, "how long the workload writes")
	flag.Parse()
	if err := run(*bin, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin string, duration time.Duration) error {
	dir, err := os.MkdirTemp("", "loglet-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		return err
	}

	agent := exec.Command(bin, "agent", "--path", logs+"/*.log", "--state-dir", filepath.Join(dir, "state"),
		"--sink", "stdout://", "--batch-wait", "200ms", "--scan-interval", "200ms", "--log-format", "text")
	agent.Stderr = os.Stderr
	stdout, err := agent.StdoutPipe()
	if err != nil {
		return err
	}
	if err := agent.Start(); err != nil {
		return fmt.Errorf("start %s (run `make build` first): %w", bin, err)
	}
	delivered := make(chan int)
	go func() { delivered <- printRecords(stdout) }()

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	written, err := workload(ctx, logs)
	if err != nil {
		agent.Process.Kill()
		return err
	}
	agent.Process.Signal(syscall.SIGTERM)
	n := <-delivered
	if err := agent.Wait(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	fmt.Printf("\nwritten %d lines (one rotation on the way), delivered %d records\n", written, n)
	if n < written {
		return fmt.Errorf("%d lines were not delivered", written-n)
	}
	return nil
}

// printRecords prints a short view of each record and counts them.
func printRecords(r interface{ Read([]byte) (int, error) }) int {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		var rec struct {
			Time       string         `json:"time"`
			Body       string         `json:"body"`
			Attributes map[string]any `json:"attributes"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		n++
		if n <= 10 || n%100 == 0 {
			fmt.Printf("%s %-22s source=%v package=%v offset=%v  %s\n", rec.Time[11:23],
				filepath.Base(fmt.Sprint(rec.Attributes["log.file.path"])), rec.Attributes["loglet.source_id"],
				rec.Attributes["loglet.package_id"], rec.Attributes["loglet.offset"], rec.Body)
		}
		if n == 10 {
			fmt.Println("… (every 100th record from here; the full records are JSON, see README)")
		}
	}
	return n
}

// workload writes like a web server and an application until ctx ends,
// rotating the application log once by rename.
func workload(ctx context.Context, logs string) (int, error) {
	access, err := os.Create(filepath.Join(logs, "access.log"))
	if err != nil {
		return 0, err
	}
	defer access.Close()
	appPath := filepath.Join(logs, "app.log")
	app, err := os.Create(appPath)
	if err != nil {
		return 0, err
	}
	written, rotated := 0, false
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return written, app.Close()
		case <-tick.C:
		}
		now := time.Now()
		fmt.Fprintf(access, "10.0.%d.%d - - [%s] \"GET /api/orders/%d HTTP/1.1\" 200 %d \"-\" \"curl/8.5.0\"\n",
			i%256, i%100, now.Format("02/Jan/2006:15:04:05 -0700"), i, 200+i%900)
		fmt.Fprintf(app, "%s INFO order %d processed in %dms\n", now.Format(time.RFC3339Nano), i, i%50)
		written += 2
		if !rotated && time.Since(start) > 2*time.Second {
			app.Close()
			if err := os.Rename(appPath, appPath+".1"); err != nil {
				return written, err
			}
			if app, err = os.Create(appPath); err != nil {
				return written, err
			}
			rotated = true
		}
	}
}
