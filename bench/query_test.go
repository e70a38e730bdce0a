package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/shiptest"
)

// queryRecords is how many records BenchmarkHubQuery stores (the issue's
// hub of at least 10 M records); QUERY_RECORDS sets another.
func queryRecords() int {
	if n, err := strconv.Atoi(os.Getenv("QUERY_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 10_000_000
}

// queryPods are the pods of BenchmarkHubQuery: 20 namespaces of 5 pods.
func queryPods() []string {
	var out []string
	for ns := range 20 {
		name := fmt.Sprintf("ns%02d", ns)
		if ns == 7 {
			name = "shop"
		}
		for pod := range 5 {
			out = append(out, fmt.Sprintf("%s_%s-%d", name, name, pod))
		}
	}
	return out
}

// writeQueryInput writes n lines spread over the pods' files in dir
// (kept in BENCH_DIR between runs).
func writeQueryInput(b *testing.B, dir string, n int, tag string) {
	pods := queryPods()
	per := n / len(pods)
	if fi, err := os.Stat(filepath.Join(dir, pods[len(pods)-1]+".log")); err == nil && fi.Size() > 0 {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, p := range pods {
		f, err := os.Create(filepath.Join(dir, p+".log"))
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for i := range per {
			fmt.Fprintf(w, "%s %s GET %s 200 %d bytes in %dms user=%d\n", tag, p, paths[i%len(paths)], 100+i%9000, i%300, i%1000)
		}
		w.Flush()
		f.Close()
	}
}

// logs runs `loglet logs tail` and returns its output, wall time and
// CPU time.
func logs(b *testing.B, bin, hubURL string, args ...string) (out string, wall, cpu time.Duration) {
	cmd := exec.Command(bin, append([]string{"logs", "tail", "--hub", hubURL}, args...)...)
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	stdout, err := cmd.Output()
	if err != nil {
		b.Fatalf("loglet logs tail %s: %v", strings.Join(args, " "), err)
	}
	return string(stdout), time.Since(t0), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// BenchmarkHubQuery measures loglet logs on a hub of 10 M records (20
// namespaces, 100 pods): a selective query of the last minutes of one
// namespace (target < 1 s), and a --grep that scans every record (target
// ≥ 300 MB of records per second). Three runs each: median and range.
func BenchmarkHubQuery(b *testing.B) {
	dir := benchDir(b)
	full := buildFull(b, b.TempDir())
	n := queryRecords()
	input := filepath.Join(dir, fmt.Sprintf("query-%d", n))
	writeQueryInput(b, input, n, "old")
	sinkURL, _ := startHub(b, full)
	t0 := time.Now()
	shiptest.Ship(b, sinkURL, input, 1<<20, nil)
	fmt.Printf("%-22s %d records stored in %.1fs\n", "query: fill", n, time.Since(t0).Seconds())

	// The last minutes: this machine cannot age a stream by hours, so the
	// window starts where the fill ended (--since-time): 10 M records are
	// older than it, 100 per pod newer.
	since := time.Now().UTC()
	recent := b.TempDir()
	writeQueryInput(b, recent, 100*len(queryPods()), "new")
	shiptest.Ship(b, sinkURL, recent, 1<<20, nil)

	// The records' size as NDJSON, from a sample.
	sample, _, _ := logs(b, full, sinkURL, "--tail", "1000", "-o", "json")
	avg := float64(len(sample)) / float64(strings.Count(sample, "\n"))
	total := float64(n+100*len(queryPods())) * avg

	// A run prints what check accepts.
	is := func(want string) func(string) bool {
		return func(out string) bool { return strings.TrimSpace(out) == want }
	}
	runs := func(name, target string, args []string, check func(string) bool, figure func(time.Duration) string) {
		var walls, cpus []time.Duration
		for range 3 {
			out, wall, cpu := logs(b, full, sinkURL, args...)
			if !check(out) {
				b.Fatalf("%s: printed %.300q", name, out)
			}
			walls, cpus = append(walls, wall), append(cpus, cpu)
		}
		slices.Sort(walls)
		slices.Sort(cpus)
		fmt.Printf("%-22s loglet logs tail %s: %s (runs %s, %s, %s; client CPU median %s); target %s\n", name, strings.Join(args, " "),
			figure(walls[1]), walls[0].Round(time.Millisecond), walls[1].Round(time.Millisecond), walls[2].Round(time.Millisecond),
			cpus[1].Round(time.Millisecond), target)
	}
	for range b.N {
		runs("query: since -n shop", "< 1s", []string{"-n", "shop", "--since-time", since.Format(time.RFC3339Nano), "--count"}, is("500"),
			func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) })
		last100 := func(out string) bool {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			return len(lines) == 100 && strings.HasPrefix(lines[0], "new shop_shop-") && strings.HasPrefix(lines[99], "new shop_shop-")
		}
		runs("query: tail 100 -n shop", "(none)", []string{"-n", "shop", "--tail", "100", "-o", "raw"}, last100,
			func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) })
		runs("query: grep scan", "≥ 300 MB/s", []string{"--grep", "order 4711 failed", "--count"}, is("0"),
			func(d time.Duration) string {
				return fmt.Sprintf("%.0f MB/s (%.0f MB of records, %.0f B each)", total/1e6/d.Seconds(), total/1e6, avg)
			})
	}
}
