package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/loglet/loglet/internal/kubelettest"
	"github.com/loglet/loglet/internal/poll"
)

// TestSidecarAPIStdout runs the agent in sidecar mode with stdout: api
// against a real kube-apiserver, authenticated with a service-account
// token that has only the sidecar's rights; the kubelet's containerLogs is
// the kubelettest fixture. The agent is killed with SIGKILL while the
// containers write, restarted, and — a plain container with
// exit-when-done — exits 0 by itself once the pod completed. Every line
// arrives, in order; duplicates only from the packages not yet
// acknowledged at the kill.
func TestSidecarAPIStdout(t *testing.T) {
	const ns, pod = "shop", "batch-1"
	cl := kubelettest.StartCluster(t, ns)
	kubelet := cl.Kubelet
	kubelet.Pod(t, ns, pod, corev1.RestartPolicyNever, "app", "worker")
	secrets := cl.TokenFiles(t)

	vol := t.TempDir()
	out := filepath.Join(t.TempDir(), "out.ndjson")
	env := []string{
		"LOGLET_STDOUT=api",
		"LOGLET_EXIT_WHEN_DONE=true",
		"LOGLET_POD_VOLUME=" + vol,
		"LOGLET_STATE_DIR=" + filepath.Join(vol, "state"),
		"LOGLET_POD_NAMESPACE=" + ns,
		"LOGLET_POD_NAME=" + pod,
		`LOGLET_CONTAINER_IMAGES={"app":"example.com/app:1","worker":"example.com/worker:1"}`,
		"LOGLET_API_SERVER=" + cl.Config.Host,
		"LOGLET_API_TOKEN_FILE=" + filepath.Join(secrets, "token"),
		"LOGLET_API_CA_FILE=" + filepath.Join(secrets, "ca.crt"),
		"LOGLET_SINK=file://" + out,
		"LOGLET_BATCH_WAIT=50ms",
		"LOGLET_SCAN_INTERVAL=100ms",
	}
	write := func(from, to int) {
		for i := from; i < to; i += 100 {
			for _, c := range []string{"app", "worker"} {
				var lines []string
				for j := i; j < i+100; j++ {
					lines = append(lines, fmt.Sprintf("%s line %d", c, j))
				}
				kubelet.Log(ns, pod, c, lines...)
			}
		}
	}
	delivered := func() int { b, _ := os.ReadFile(out); return bytes.Count(b, []byte("\n")) }

	a := startAgentWithEnv(t, env, "--mode=sidecar")
	write(0, 2000)
	poll.Until(t, 20*time.Second, "some lines delivered", func() bool { return delivered() >= 1000 })
	a.cmd.Process.Kill()
	a.wait(t, 5*time.Second)
	write(2000, 3000)

	a = startAgentWithEnv(t, env, "--mode=sidecar")
	write(3000, 4000)
	kubelet.Exit(ns, pod, "app", 0)
	kubelet.Exit(ns, pod, "worker", 0)
	if code := a.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("sidecar exited %d after the pod completed", code)
	}

	recs := readSinkFile(t, out)
	seen := map[string]int{}
	next := map[string]int{}
	for _, r := range recs {
		c := r.Resource["k8s.container.name"]
		if r.Resource["container.image.name"] != "example.com/"+c || r.Resource["k8s.pod.name"] != pod || r.Resource["k8s.namespace.name"] != ns {
			t.Fatalf("record %q: resource %v", r.Body, r.Resource)
		}
		seen[r.Body]++
		var n int
		if _, err := fmt.Sscanf(r.Body, c+" line %d", &n); err != nil {
			t.Fatalf("record %q is not a line the %s container wrote", r.Body, c)
		}
		// Re-sent packages repeat a run of lines; otherwise order holds.
		if n > next[c] {
			t.Fatalf("%s: line %d arrived before line %d", c, n, next[c])
		}
		next[c] = max(next[c], n+1)
	}
	dups := len(recs) - len(seen)
	// Duplicates come whole packages at a time, from those delivered but
	// not yet checkpointed at the kill: checkpoints are written at most
	// every 100 ms, packages cut every 50 ms, so two per source at most.
	resent := map[string]map[uint64]bool{}
	first := map[string]sinkRecord{}
	for _, r := range recs {
		if f, ok := first[r.Body]; ok {
			if resent[f.Attributes.SourceID] == nil {
				resent[f.Attributes.SourceID] = map[uint64]bool{}
			}
			resent[f.Attributes.SourceID][f.Attributes.PackageID] = true
		} else {
			first[r.Body] = r
		}
	}
	for src, pkgs := range resent {
		if len(pkgs) > 2 {
			t.Errorf("source %s: records of %d packages re-sent, want at most 2", src, len(pkgs))
		}
	}
	for _, c := range []string{"app", "worker"} {
		for i := range 4000 {
			if seen[fmt.Sprintf("%s line %d", c, i)] == 0 {
				t.Fatalf("%s line %d was lost", c, i)
			}
		}
	}
	t.Logf("8000 lines written, %d records delivered, %d duplicates (packages re-sent after the SIGKILL)", len(recs), dups)
}
