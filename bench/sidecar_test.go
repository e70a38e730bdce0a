package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/loglet/loglet/internal/kubelettest"
)

// BenchmarkSidecarAPI runs the slim agent as a sidecar with stdout: api
// for a pod of 3 containers printing 1 MB/s each (200-byte lines), through
// a real kube-apiserver and the kubelettest fixture, for
// BENCH_SECONDS (20) seconds, then lets the pod complete: peak RSS,
// CPU, and what reached the spool. The agent ships to null://.
func BenchmarkSidecarAPI(b *testing.B) {
	seconds := benchSeconds()
	bin := buildAgent(b, b.TempDir())
	const ns = "bench"
	cl := kubelettest.StartCluster(b, ns)
	kubelet := cl.Kubelet
	containers := []string{"app", "worker", "proxy"}
	secrets := cl.TokenFiles(b)
	line := strings.Repeat("x", 200)

	for range b.N {
		pod := fmt.Sprintf("web-%d", time.Now().UnixNano())
		kubelet.Pod(b, ns, pod, corev1.RestartPolicyNever, containers...)
		vol := b.TempDir()
		cmd := exec.Command(bin, "agent", "--mode=sidecar", "--log-level", "warn")
		cmd.Env = append(os.Environ(), "LOGLET_STDOUT=api", "LOGLET_EXIT_WHEN_DONE=true", "LOGLET_POD_VOLUME="+vol,
			"LOGLET_STATE_DIR="+filepath.Join(vol, "state"), "LOGLET_POD_NAMESPACE="+ns, "LOGLET_POD_NAME="+pod,
			`LOGLET_CONTAINER_IMAGES={"app":"app:1","worker":"worker:1","proxy":"proxy:1"}`,
			"LOGLET_API_SERVER="+cl.Config.Host, "LOGLET_API_TOKEN_FILE="+filepath.Join(secrets, "token"),
			"LOGLET_API_CA_FILE="+filepath.Join(secrets, "ca.crt"), "LOGLET_SINK=null://")
		cmd.Stderr = os.Stderr
		m, err := startMeasured(cmd)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill() })

		// 1 MB/s per container: 50 lines of 200 bytes every 10 ms.
		t0 := time.Now()
		tick := time.NewTicker(10 * time.Millisecond)
		var n int
		for time.Since(t0) < time.Duration(seconds)*time.Second {
			<-tick.C
			for _, c := range containers {
				batch := make([]string, 50)
				for j := range batch {
					batch[j] = fmt.Sprintf("%s %08d %s", c, n+j, line)[:199]
				}
				kubelet.Log(ns, pod, c, batch...)
			}
			n += 50
		}
		tick.Stop()
		for _, c := range containers {
			kubelet.Exit(ns, pod, c, 0)
		}
		cpu, _, _, mem, err := m.wait()
		if err != nil {
			b.Fatalf("sidecar: %v", err)
		}
		var spooled int64
		files, _ := filepath.Glob(filepath.Join(vol, "stdout", "*", "api*.log"))
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				spooled += fi.Size()
			}
		}
		wall := time.Since(t0)
		b.ReportMetric(mib(mem.Peak), "peak-RSS-MiB")
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "CPU-%")
		fmt.Printf("sidecar stdout: api, 3 containers × 1 MB/s for %ds: %.1f MB spooled, peak RSS %.1f MiB (own memory %.1f MiB, executable pages %.1f MiB), CPU %.1f%% of a core\n",
			seconds, float64(spooled)/1e6, mib(mem.Peak), mib(mem.Anon), mib(mem.File), 100*cpu.Seconds()/wall.Seconds())
	}
}

// BenchmarkExec runs `loglet exec` around a command printing 200 MB of
// 100-byte lines as fast as it can: the memory loglet exec adds to the
// application's container, and its CPU per MB.
func BenchmarkExec(b *testing.B) {
	bin := buildAgent(b, b.TempDir())
	for range b.N {
		dir := b.TempDir()
		cmd := exec.Command(bin, "exec", "--dir", dir, "--", "sh", "-c", `yes "$(printf '%099d' 7)" | head -c 200000000`)
		devnull, _ := os.Open(os.DevNull)
		cmd.Stdout = devnull
		t0 := time.Now()
		cpu, _, _, mem := runMeasured(b, cmd)
		wall := time.Since(t0)
		b.ReportMetric(mib(mem.Peak), "peak-RSS-MiB")
		b.ReportMetric(mib(mem.Anon), "own-MiB")
		fmt.Printf("loglet exec, 200 MB through in %.2fs (%.0f MB/s; CPU %.2fs incl. the child): peak RSS %.1f MiB = own memory %.1f MiB + executable pages %.1f MiB\n",
			wall.Seconds(), 200/wall.Seconds(), cpu.Seconds(), mib(mem.Peak), mib(mem.Anon), mib(mem.File))
	}
}
