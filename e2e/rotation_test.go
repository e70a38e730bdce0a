package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/e2e/virtualnode"
	"github.com/loglet/loglet/internal/poll"
)

// TestStdoutAPILogRotation: with stdout: api, the virtual node rotates the
// app's log at a containerLogMaxSize-like size, and its kubelet API does
// what kubelets do to a follow stream open at a rotation: on virtual-1 the
// stream stays open and silent (kubernetes#115701, #126564), on virtual-2
// it ends (#59902). Every line the app writes reaches the hub once: the
// sidecar notices the silent stall (its log says so) and resumes without
// a duplicate at the seam. The app writes about 4 KB/s and the log
// rotates past 64 KiB, checked every 2 s: one rotation per stall, as on a
// kubelet, whose rotations are at least containerLogMonitorInterval
// (10 s) apart — more than one would lose the file between (README).
func TestStdoutAPILogRotation(t *testing.T) {
	s := startServerless(t)
	second := startVirtualNode(t, s.Cluster, "virtual-2")
	second.Images, second.Env = s.node.Images, s.node.Env
	nodes := []struct {
		name string
		p    *virtualnode.Provider
		mode virtualnode.RotationMode
	}{{"virtual-1", s.node, virtualnode.StallFollow}, {"virtual-2", second, virtualnode.EndFollow}}
	const n = 1800
	pad := strings.Repeat("x", 80)
	// The lines app writes on node: ~100 bytes, 10 then a pause of
	// 0.35 s (at most ~4 KB/s), then a last one.
	line := func(node string, i int) string { return fmt.Sprintf("%s line %d %s", node, i, pad) }
	last := func(node string) string { return node + " last line" }
	ctx := context.Background()
	t.Cleanup(func() {
		if t.Failed() {
			s.describe(t, "app=rotate")
		}
	})
	var written []string
	// One node after the other: pods share the machine's network here, and
	// two sidecars at once would want the same metrics port.
	for _, node := range nodes {
		script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "%s line $i %s"; i=$((i+1)); [ $((i %% 10)) -eq 0 ] && sleep 0.35; done; echo "%s"; sleep 3600`,
			n, node.name, pad, last(node.name))
		node.p.SetLogRotation(virtualnode.LogRotation{MaxBytes: 64 << 10, MaxFiles: 100, Interval: 2 * time.Second, Mode: node.mode})
		pod, err := s.Client.CoreV1().Pods(testNamespace).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "rotate-" + node.name, Labels: map[string]string{"app": "rotate"},
				Annotations: map[string]string{"loglet.io/inject": "true", "loglet.io/stdout": "api"}},
			Spec: corev1.PodSpec{
				NodeSelector:                  map[string]string{"kubernetes.io/hostname": node.name},
				Tolerations:                   []corev1.Toleration{virtualnode.Toleration},
				TerminationGracePeriodSeconds: ptr.To[int64](10),
				Containers:                    []corev1.Container{{Name: "app", Image: "registry.example/shop/rotate:1", Command: []string{"sh", "-c", script}}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Annotations["loglet.io/status"] != "injected" {
			t.Fatalf("pod not injected: %v", pod.Annotations)
		}
		// Not poll.Until: when the last line never comes, which lines are
		// missing says where they were lost.
		var counts map[string]int
		for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			if _, counts = s.stored(t); counts[last(node.name)] > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: timed out after 3m waiting for the app's last line at the hub", node.name)
				break
			}
		}
		missing, dups := 0, 0
		for i := -1; i < n; i++ {
			body := last(node.name)
			if i >= 0 {
				body = line(node.name, i)
			}
			written = append(written, body)
			switch c := counts[body]; {
			case c == 0:
				if missing++; missing <= 5 {
					t.Errorf("%s: %.20q… not at the hub", node.name, body)
				}
			case c > 1:
				dups += c - 1
			}
		}
		rotated, _ := filepath.Glob(filepath.Join(node.p.LogDir, testNamespace+"_"+pod.Name+"_*", "app", "0.log.*"))
		sidecarLog := readAll(t, filepath.Join(node.p.LogDir, testNamespace+"_"+pod.Name+"_*", "loglet", "*.log"))
		stalls := bytes.Count(sidecarLog, []byte("the log stream stalled"))
		gaps := bytes.Count(sidecarLog, []byte("rotated more than once"))
		t.Logf("%s (%v): %d lines, app log rotated %d times; %d missing, %d stored twice; the sidecar logged %d stalls, %d gaps",
			node.name, node.mode, n+1, len(rotated), missing, dups, stalls, gaps)
		if missing > 0 {
			files, _ := filepath.Glob(filepath.Join(node.p.LogDir, testNamespace+"_"+pod.Name+"_*", "*", "*"))
			t.Logf("%s: the pod's log files %q; the sidecar's log:\n%s", node.name, files, sidecarLog[max(0, len(sidecarLog)-8000):])
		}
		if len(rotated) < 3 {
			t.Errorf("%s: the app's log rotated %d times, want 3 or more for the test to mean something", node.name, len(rotated))
		}
		if dups > 0 {
			t.Errorf("%s: %d lines stored twice, want none (no duplicate at the seam)", node.name, dups)
		}
		if node.mode == virtualnode.StallFollow && stalls < 1 {
			t.Errorf("%s: the sidecar logged no stall, yet the stream stalls at each rotation", node.name)
		}
		if gaps > 0 {
			t.Errorf("%s: the sidecar logged %d gaps, want none: one rotation per stall", node.name, gaps)
		}
		if err := s.Client.CoreV1().Pods(testNamespace).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 60*time.Second, node.name+": the pod to be gone", func() bool {
			_, err := s.Client.CoreV1().Pods(testNamespace).Get(ctx, pod.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	}
	s.addReport(t, "8 stdout: api, log rotation (stall; end)", written)
}

// readAll concatenates the files a glob matches.
func readAll(t *testing.T, glob string) []byte {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}
