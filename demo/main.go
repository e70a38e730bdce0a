// Command demo shows loglet end to end on one machine: `make demo`.
//
// It starts `loglet hub` on a free port with a temporary data dir, a sample
// workload (a web server's access log, and a Java service's stdout as a
// container runtime writes it, stack traces included), two agents shipping
// them to the hub as they would in a pod (pod identity from the environment),
// and `loglet logs tail -f` showing records as they arrive. Then it asks
// `loglet logs context` for the lines around a stack trace, prints
// throughput and delivery latency (line written → readable at the hub), and
// shows what the webhook would do to a sample Deployment (`loglet inject
// --diff`). Every command is printed as it runs, with $DEMO for its
// temporary folder, so it can be pasted while the demo runs. It stops by
// itself, or on Ctrl-C, and leaves nothing running.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("loglet", "bin/loglet", "the loglet binary to run")
	duration := flag.Duration("duration", 6*time.Second, "how long the workload writes")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *bin, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// procs are the demo's child processes; all are stopped on the way out.
type procs struct {
	mu   sync.Mutex
	list []*exec.Cmd
}

// show prints cmd as a shell line: its LOGLET_* variables first, the
// binary as loglet, the demo's folder as $DEMO.
func show(cmd *exec.Cmd, dir string) {
	var words []string
	for _, e := range cmd.Env {
		if strings.HasPrefix(e, "LOGLET_") {
			words = append(words, e)
		}
	}
	words = append(words, "loglet")
	for _, a := range cmd.Args[1:] {
		if dir != "" {
			a = strings.ReplaceAll(a, dir, "$DEMO")
		}
		if strings.ContainsAny(a, " \\^*{}$") && !strings.HasPrefix(a, "$DEMO") {
			a = "'" + a + "'"
		}
		words = append(words, a)
	}
	fmt.Println("$ " + strings.Join(words, " "))
}

func (p *procs) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.mu.Lock()
	p.list = append(p.list, cmd)
	p.mu.Unlock()
	return nil
}

func (p *procs) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.list {
		c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range p.list {
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
		}
	}
	p.list = nil
}

func run(ctx context.Context, bin string, duration time.Duration) (err error) {
	dir, err := os.MkdirTemp("", "loglet-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The hub's and tail's own logs are shown only if the demo fails, once
	// they have stopped.
	var hubLog, tailLog bytes.Buffer
	defer func() {
		if err != nil {
			os.Stderr.Write(hubLog.Bytes())
			os.Stderr.Write(tailLog.Bytes())
		}
	}()
	var ps procs
	defer ps.stopAll()

	// The hub.
	hub := exec.Command(bin, "hub", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "hub"))
	hubOut, err := hub.StdoutPipe()
	if err != nil {
		return err
	}
	hub.Stderr = &hubLog
	if err := ps.start(hub); err != nil {
		return fmt.Errorf("start %s (run `make build` first): %w", bin, err)
	}
	line, err := bufio.NewReader(hubOut).ReadString('\n')
	if err != nil {
		return fmt.Errorf("hub did not start: %w", err)
	}
	show(hub, dir)
	fmt.Print(line)
	sinkURL := strings.TrimSpace(line[strings.LastIndex(line, " "):])

	// The agents, one per container of the pod.
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o755)
	for _, c := range []struct {
		name, file string
		args       []string
	}{
		{"nginx", "access.log", []string{"--format", "nginx"}},
		{"orders", "orders-stdout.log", []string{"--format", "cri", "--multiline-start", `^\d{4}-\d{2}-\d{2} `}},
	} {
		agent := exec.Command(bin, append([]string{"agent", "--path", filepath.Join(logs, c.file), "--sink", sinkURL,
			"--state-dir", filepath.Join(dir, "state-"+c.name), "--batch-wait", "100ms", "--scan-interval", "100ms", "--log-level", "warn"}, c.args...)...)
		agent.Env = append(os.Environ(), "LOGLET_POD_NAMESPACE=demo", "LOGLET_POD_NAME=shop-7d9c5", "LOGLET_CONTAINER_NAME="+c.name)
		agent.Stderr = os.Stderr
		show(agent, dir)
		if err := ps.start(agent); err != nil {
			return err
		}
	}

	// loglet logs tail -f, printing a sample and timing every record.
	tail := exec.Command(bin, "logs", "tail", "-f", "-o", "json", "--hub", sinkURL)
	tailOut, err := tail.StdoutPipe()
	if err != nil {
		return err
	}
	tail.Stderr = &tailLog
	if err := ps.start(tail); err != nil {
		return err
	}
	show(tail, dir)
	fmt.Println("  (every 200th record shown)")
	var mu sync.Mutex
	var latencies []time.Duration
	var received int
	var bytesIn int64
	go func() {
		sc := bufio.NewScanner(tailOut)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			now := time.Now()
			var rec struct {
				Time       string            `json:"time"`
				Body       string            `json:"body"`
				Attributes map[string]any    `json:"attributes"`
				Resource   map[string]string `json:"resource"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			written := writtenAt(rec.Time, rec.Attributes)
			mu.Lock()
			received++
			bytesIn += int64(len(rec.Body))
			if !written.IsZero() {
				latencies = append(latencies, now.Sub(written))
			}
			show := received%200 == 1
			mu.Unlock()
			if show {
				body, _, _ := strings.Cut(rec.Body, "\n")
				fmt.Printf("  %s %s/%s %s\n", rec.Time[11:23], rec.Resource["k8s.pod.name"], rec.Resource["k8s.container.name"], body)
			}
		}
	}()

	written, err := workload(ctx, logs, duration)
	if err != nil {
		return err
	}
	// Wait until the hub shows every line (or give up after 10 s).
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		mu.Lock()
		n := received
		mu.Unlock()
		if n >= written {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The context around a stack trace.
	if err := showContext(ctx, bin, sinkURL); err != nil {
		return err
	}

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(p*float64(len(latencies)-1))].Round(time.Millisecond)
	}
	fmt.Printf("\ndemo: %d of %d records delivered (%.1f MB in %s, %.0f records/s); delivery latency p50 %s, p99 %s\n",
		received, written, float64(bytesIn)/1e6, duration, float64(received)/duration.Seconds(), pct(0.5), pct(0.99))
	if received < written {
		return fmt.Errorf("%d records were not delivered", written-received)
	}
	return showInject(ctx, bin, dir)
}

// writtenAt is when the workload wrote a line: the CRI time of a container
// line, or the t= field the web server appends.
func writtenAt(recTime string, attrs map[string]any) time.Time {
	if t, ok := attrs["t"].(string); ok {
		ns, _ := strconv.ParseInt(t, 10, 64)
		return time.Unix(0, ns)
	}
	if _, ok := attrs["log.iostream"]; ok {
		t, _ := time.Parse(time.RFC3339Nano, recTime)
		return t
	}
	return time.Time{}
}

func showContext(ctx context.Context, bin, hubURL string) error {
	out, err := exec.CommandContext(ctx, bin, "logs", "tail", "-o", "json", "--grep", "Exception", "--hub", hubURL).Output()
	if err != nil {
		return fmt.Errorf("logs tail: %w", err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	var rec struct {
		Attributes map[string]any `json:"attributes"`
	}
	if err := json.Unmarshal([]byte(first), &rec); err != nil {
		return fmt.Errorf("no stack trace at the hub: %q", first)
	}
	ids := []string{fmt.Sprint(rec.Attributes["loglet.source_id"]), fmt.Sprint(rec.Attributes["loglet.package_id"]), fmt.Sprint(rec.Attributes["loglet.offset"])}
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"logs", "context"}, ids...), "--before", "2", "--after", "2", "--hub", hubURL)...)
	fmt.Println()
	show(cmd, "")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// sampleDeployment is a Deployment that opts in: its log files, its
// stdout, and an OTLP input for its SDK.
const sampleDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: demo
spec:
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
      annotations:
        loglet.io/inject: "true"
        loglet.io/paths: /var/log/shop/*.log
        loglet.io/format: json
        loglet.io/inputs: otlp
    spec:
      containers:
      - name: shop
        image: registry.example/shop:1.4.2
        command: ["/shop", "--port=8080"]
`

// showInject prints what the webhook would add to a sample Deployment.
func showInject(ctx context.Context, bin, dir string) error {
	path := filepath.Join(dir, "shop.yaml")
	if err := os.WriteFile(path, []byte(sampleDeployment), 0o644); err != nil {
		return err
	}
	fmt.Printf("\n$ cat $DEMO/shop.yaml\n%s", sampleDeployment)
	cmd := exec.CommandContext(ctx, bin, "inject", "-f", path, "--diff")
	fmt.Println()
	show(cmd, dir)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// workload writes like a web server (access.log) and a Java service whose
// stdout a container runtime writes in CRI format, one request in ten
// failing with a stack trace. It returns how many records it wrote.
func workload(ctx context.Context, logs string, duration time.Duration) (int, error) {
	access, err := os.Create(filepath.Join(logs, "access.log"))
	if err != nil {
		return 0, err
	}
	defer access.Close()
	stdout, err := os.Create(filepath.Join(logs, "orders-stdout.log"))
	if err != nil {
		return 0, err
	}
	defer stdout.Close()
	cri := func(w io.Writer, now time.Time, text string) {
		fmt.Fprintf(w, "%s stdout F %s\n", now.UTC().Format(time.RFC3339Nano), text)
	}
	records := 0
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	end := time.After(duration)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return records, ctx.Err()
		case <-end:
			return records, nil
		case <-tick.C:
		}
		now := time.Now()
		fmt.Fprintf(access, "10.0.%d.%d - - [%s] \"GET /api/orders/%d HTTP/1.1\" %d %d \"-\" \"curl/8.5.0\" t=%d\n",
			i%256, i%100, now.Format("02/Jan/2006:15:04:05 -0700"), i, []int{200, 200, 500}[i%3], 200+i%900, now.UnixNano())
		ts := now.Format("2006-01-02 15:04:05.000")
		if i%10 == 9 {
			cri(stdout, now, fmt.Sprintf("%s ERROR [exec-%d] OrderService - order %d failed", ts, i%8, i))
			cri(stdout, now, fmt.Sprintf("java.lang.IllegalStateException: inventory for item %d is empty", i%50))
			cri(stdout, now, "\tat com.example.shop.Inventory.take(Inventory.java:88)")
			cri(stdout, now, "\tat com.example.shop.OrderService.place(OrderService.java:41)")
		} else {
			cri(stdout, now, fmt.Sprintf("%s INFO  [exec-%d] OrderService - order %d placed", ts, i%8, i))
		}
		records += 2
	}
}
