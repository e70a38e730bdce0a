package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/loglet/loglet/charts"
	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/node"
	"github.com/loglet/loglet/sidecar/podapi"
)

// BenchmarkNode runs the slim agent in node mode over 500 pods of one
// container each, written at 20 MB/s in total (CRI lines of 200 bytes),
// for BENCH_SECONDS (20) seconds, shipping to null://: once with the
// pods' metadata from a real kube-apiserver (the chart's node
// ServiceAccount), once without. The informer's own heap is measured in
// this process. Target: under 0.5 core and 150 MiB.
func BenchmarkNode(b *testing.B) {
	const pods, rate = 500, 20e6 // bytes per second
	seconds := benchSeconds()
	bin := buildAgent(b, b.TempDir())
	_, cfg := kubetest.Start(b)
	admin := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	kubetest.Namespaces(b, cfg, "bench")
	if err := charts.Apply(ctx, cfg, "nodeMode.enabled=true"); err != nil {
		b.Fatal(err)
	}
	secrets := kubetest.TokenFiles(b, cfg, charts.ReleaseNamespace, "loglet-node")
	uids := make([]string, pods)
	for i := range pods {
		p, err := admin.CoreV1().Pods("bench").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%03d", i), Labels: map[string]string{"app": "bench", "shard": fmt.Sprint(i % 10)},
				Annotations: map[string]string{"example.com/owner": "team-" + fmt.Sprint(i%7)}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "registry.example/bench/app:1.0",
				Env: []corev1.EnvVar{{Name: "MODE", Value: "bench"}}}}},
		}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		uids[i] = string(p.UID)
	}

	fmt.Printf("node mode: the pod informer holds %.1f MiB of heap for %d pods\n", informerHeap(b, cfg, secrets), pods)

	for range b.N {
		for _, metadata := range []bool{true, false} {
			tree := b.TempDir()
			files := make([]*os.File, pods)
			for i := range pods {
				path := filepath.Join(tree, fmt.Sprintf("bench_pod-%03d_%s", i, uids[i]), "app", "0.log")
				os.MkdirAll(filepath.Dir(path), 0o755)
				f, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				files[i] = f
			}
			addr := freeport.Addr(b)
			cmd := exec.Command(bin, "agent", "--mode=node", "--pods-dir", tree, "--state-dir", b.TempDir(), "--sink", "null://",
				"--log-level", "warn", "--metrics-addr", addr, fmt.Sprintf("--pod-metadata=%v", metadata),
				"--api-server", cfg.Host, "--api-token-file", filepath.Join(secrets, "token"), "--api-ca-file", filepath.Join(secrets, "ca.crt"))
			cmd.Env = append(os.Environ(), "LOGLET_NODE_NAME=node-1")
			cmd.Stderr = os.Stderr
			m, err := startMeasured(cmd)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { cmd.Process.Kill() })
			poll.OK(b, 30*time.Second, "the node agent to be ready", "http://"+addr+"/readyz")

			// Every 20 ms, each file gets its share: 4 lines of 200 bytes.
			const tick = 20 * time.Millisecond
			perFile := int(rate * tick.Seconds() / pods)
			payload := strings.Repeat("x", 200-len("2026-11-25T12:00:00.000000000Z stdout F ")-len("pod-000 00000000 ")-1)
			buf := make([]byte, 0, perFile+200)
			t0 := time.Now()
			ticker := time.NewTicker(tick)
			var written int64
			for n := 0; time.Since(t0) < time.Duration(seconds)*time.Second; n++ {
				<-ticker.C
				for i, f := range files {
					buf = buf[:0]
					for j := 0; len(buf)+200 <= perFile; j++ {
						buf = fmt.Appendf(buf, "2026-11-25T12:00:00.000000000Z stdout F pod-%03d %08d %s\n", i, n*8+j, payload)
					}
					k, _ := f.Write(buf)
					written += int64(k)
				}
			}
			ticker.Stop()
			writeWall := time.Since(t0)
			poll.Until(b, 60*time.Second, "the agent to read what was written", func() bool { return readBytes(addr) >= float64(written) })
			cmd.Process.Signal(syscall.SIGTERM)
			cpu, _, _, mem, err := m.wait()
			if err != nil {
				b.Fatalf("agent: %v", err)
			}
			wall := time.Since(t0)
			for _, f := range files {
				f.Close()
			}
			label := "with pod metadata from the API"
			if !metadata {
				label = "without the API (path identity only)"
			}
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
			b.ReportMetric(mib(mem.Peak), "peak-RSS-MiB")
			fmt.Printf("node mode, %d pods × 1 file, %.1f MB/s written for %ds, %s: agent %.2f cores (%.1f MB per CPU-second), peak RSS %.1f MiB (own memory %.1f MiB)\n",
				pods, float64(written)/1e6/writeWall.Seconds(), seconds, label, cpu.Seconds()/wall.Seconds(), float64(written)/1e6/cpu.Seconds(), mib(mem.Peak), mib(mem.Anon))
		}
	}
}

// readBytes is the agent's loglet_bytes_read_total, 0 if unknown.
func readBytes(addr string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if f, ok := families["loglet_bytes_read_total"]; err == nil && ok && len(f.Metric) > 0 {
		return f.Metric[0].GetCounter().GetValue()
	}
	return 0
}

// informerHeap is the heap the node's pod informer holds once synced, as
// the agent builds it (trimmed pods), measured in this process.
func informerHeap(b *testing.B, cfg *rest.Config, secrets string) float64 {
	sa := rest.CopyConfig(cfg)
	sa.TLSClientConfig = rest.TLSClientConfig{CAData: cfg.CAData}
	sa.BearerTokenFile = filepath.Join(secrets, "token")
	rc, err := podapi.NewClient(sa)
	if err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pods := node.NewPods(rc, "node-1", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pods.Run(ctx)
	poll.Until(b, 30*time.Second, "the informer to sync", pods.Synced)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(pods)
	return mib(int64(after.HeapAlloc) - int64(before.HeapAlloc))
}
