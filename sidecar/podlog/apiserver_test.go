package podlog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/loglet/loglet/internal/kubelettest"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/podapi"
	"github.com/loglet/loglet/sidecar/podlog"
)

// streamer runs podlog Streams for pod until stopped; stop ends it abruptly
// (no drain), like a killed sidecar.
type streamer struct {
	*podlog.Streams
	dir  string
	done chan error
	stop context.CancelFunc
}

// stream runs Streams with waits short enough for a test: a quiet stream
// is checked for a stall after 50 ms (5 s in the agent).
func stream(t *testing.T, c *kubelettest.Cluster, pod, dir string, containers ...string) *streamer {
	t.Helper()
	client, err := podapi.NewClient(c.Sidecar)
	if err != nil {
		t.Fatal(err)
	}
	streams, err := podlog.New(podlog.Options{Client: client, Namespace: c.Namespace, Pod: pod, Containers: containers, Dir: dir,
		Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, MaxFileBytes: 4 << 10, MaxFiles: 100,
		StallCheck: 50 * time.Millisecond, MaxStallCheck: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &streamer{Streams: streams, dir: dir, done: make(chan error, 1), stop: stop}
	go func() { s.done <- streams.Run(ctx) }()
	t.Cleanup(func() { stop(); <-s.done })
	return s
}

func (s *streamer) kill(t *testing.T) {
	s.stop()
	if err := <-s.done; err != context.Canceled {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
	s.done <- nil // for the cleanup
}

// spooled returns the texts in container's spool files, oldest first.
func spooled(t *testing.T, dir, container string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, container, "api*.log"))
	slices.SortFunc(files, func(a, b string) int { return rotation(b) - rotation(a) })
	var texts []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if l == "" {
				continue
			}
			ts, text, ok := strings.Cut(l, " ")
			if _, err := time.Parse(time.RFC3339Nano, ts); !ok || err != nil {
				t.Fatalf("spool line %q does not start with a timestamp", l)
			}
			texts = append(texts, text)
		}
	}
	return texts
}

// rotation is n for api-<n>.log, 0 for api.log.
func rotation(path string) int {
	var n int
	fmt.Sscanf(filepath.Base(path), "api-%d.log", &n)
	return n
}

// waitSpooled waits until container's spool holds want lines, then
// checks they are exactly want.
func waitSpooled(t *testing.T, dir, container string, want []string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		if got = spooled(t, dir, container); len(got) >= len(want) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the spool: the condition, not a guess
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s spool has %d lines, want %d; first difference: %s", container, len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("line %d is %q, want %q", i, got[i], want[i])
		}
	}
	if len(got) > len(want) {
		return fmt.Sprintf("extra line %q", got[len(want)])
	}
	return fmt.Sprintf("missing line %q", want[len(got)])
}

func numbered(prefix string, from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprintf("%s line %d", prefix, i))
	}
	return s
}

func TestPodsLogThroughAPIServer(t *testing.T) {
	c := kubelettest.StartCluster(t, "shop")

	t.Run("follow every container, reconnect after the stream is cut", func(t *testing.T) {
		c.Kubelet.Pod(t, c.Namespace, "web", corev1.RestartPolicyAlways, "app", "worker")
		dir := t.TempDir()
		stream(t, c, "web", dir, "app", "worker")
		c.Kubelet.Log(c.Namespace, "web", "app", numbered("app", 0, 100)...)
		c.Kubelet.Log(c.Namespace, "web", "worker", numbered("worker", 0, 50)...)
		waitSpooled(t, dir, "app", numbered("app", 0, 100))
		waitSpooled(t, dir, "worker", numbered("worker", 0, 50))
		// Rotation on the node ends follow streams; lines written while
		// the stream is down come with the next one, once.
		c.Kubelet.Cut()
		c.Kubelet.Log(c.Namespace, "web", "app", numbered("app", 100, 200)...)
		c.Kubelet.Cut()
		c.Kubelet.Log(c.Namespace, "web", "app", numbered("app", 200, 300)...)
		waitSpooled(t, dir, "app", numbered("app", 0, 300))
	})

	t.Run("resume after a sidecar restart drops what the spool holds", func(t *testing.T) {
		c.Kubelet.Pod(t, c.Namespace, "api", corev1.RestartPolicyAlways, "app")
		dir := t.TempDir()
		s := stream(t, c, "api", dir, "app")
		// The same text twice at the same time must both arrive, and
		// neither twice: the resume mark counts identical lines.
		c.Kubelet.Log(c.Namespace, "api", "app", "same", "same")
		c.Kubelet.Log(c.Namespace, "api", "app", numbered("app", 0, 100)...)
		waitSpooled(t, dir, "app", append([]string{"same", "same"}, numbered("app", 0, 100)...))
		s.kill(t)
		// Written while the sidecar is down, in the same second as the
		// lines before: sinceTime repeats those, the mark drops them.
		c.Kubelet.Log(c.Namespace, "api", "app", numbered("app", 100, 150)...)
		stream(t, c, "api", dir, "app")
		want := append([]string{"same", "same"}, numbered("app", 0, 150)...)
		waitSpooled(t, dir, "app", want)
		c.Kubelet.Log(c.Namespace, "api", "app", "after")
		waitSpooled(t, dir, "app", append(want, "after"))
	})

	t.Run("container restart: the previous instance is read to its end", func(t *testing.T) {
		c.Kubelet.Pod(t, c.Namespace, "job", corev1.RestartPolicyAlways, "app")
		dir := t.TempDir()
		s := stream(t, c, "job", dir, "app")
		c.Kubelet.Log(c.Namespace, "job", "app", numbered("first", 0, 20)...)
		waitSpooled(t, dir, "app", numbered("first", 0, 20))
		c.Kubelet.Log(c.Namespace, "job", "app", numbered("first", 20, 40)...)
		c.Kubelet.Restart(c.Namespace, "job", "app")
		c.Kubelet.Log(c.Namespace, "job", "app", numbered("second", 0, 20)...)
		waitSpooled(t, dir, "app", append(numbered("first", 0, 40), numbered("second", 0, 20)...))

		// The sidecar is down while the container restarts once more: the
		// rest of the instance it was reading comes with previous=true.
		s.kill(t)
		c.Kubelet.Log(c.Namespace, "job", "app", numbered("second", 20, 30)...)
		c.Kubelet.Restart(c.Namespace, "job", "app")
		c.Kubelet.Log(c.Namespace, "job", "app", numbered("third", 0, 10)...)
		stream(t, c, "job", dir, "app")
		waitSpooled(t, dir, "app", slices.Concat(numbered("first", 0, 40), numbered("second", 0, 30), numbered("third", 0, 10)))
	})

	// The kubelet rotates a container's log at containerLogMaxSize; a
	// follow stream open on the file that was rotated ends, or stays open
	// and silent, as kubelets do (kubernetes#59902, #115701, #126564).
	// Lines come in batches, each waited for, so a stream that survives a
	// rotation sees each rotation on its own.
	for _, mode := range []struct {
		name string
		mode kubelettest.RotationMode
	}{{"ends", kubelettest.EndFollow}, {"stalls", kubelettest.StallFollow}} {
		t.Run("log rotation "+mode.name+" the follow: every line once", func(t *testing.T) {
			pod := "rotate-" + mode.name
			c.Kubelet.Pod(t, c.Namespace, pod, corev1.RestartPolicyAlways, "app")
			c.Kubelet.SetRotation(c.Namespace, pod, "app", kubelettest.Rotation{Mode: mode.mode, MaxBytes: 1 << 10})
			dir := t.TempDir()
			s := stream(t, c, pod, dir, "app")
			const batch = 12
			for i := 0; i < 10*batch; i += batch {
				c.Kubelet.Log(c.Namespace, pod, "app", numbered("app", i, i+batch)...)
				waitSpooled(t, dir, "app", numbered("app", 0, i+batch))
			}
			rotations := len(c.Kubelet.LogFiles(c.Namespace, pod, "app")) - 1
			if rotations < 4 {
				t.Fatalf("the log rotated %d times, want at least 4 for the test to mean something", rotations)
			}
			if mode.mode == kubelettest.StallFollow && s.Stalls() < 1 {
				t.Errorf("stalls counted: %v, want the stalls at %d rotations counted", s.Stalls(), rotations)
			}
			if s.Gaps() != 0 {
				t.Errorf("gaps counted: %v, want none: each rotation came alone, and no line was lost", s.Gaps())
			}
		})
	}

	// Two rotations while the stream is stalled: the file between them is
	// gone before the stall is noticed (the kubelet serves only the
	// current file). Its lines are lost; the gap is counted. The lines come
	// in one write, stamped 2 s apart: the kubelet rotates at most every
	// 10 s, so a file rotated away in between spans that long.
	t.Run("more than one rotation during a stall: the files between are lost, and counted", func(t *testing.T) {
		c.Kubelet.Pod(t, c.Namespace, "burst", corev1.RestartPolicyAlways, "app")
		c.Kubelet.SetRotation(c.Namespace, "burst", "app", kubelettest.Rotation{Mode: kubelettest.StallFollow, MaxBytes: 1 << 10})
		dir := t.TempDir()
		s := stream(t, c, "burst", dir, "app")
		c.Kubelet.Log(c.Namespace, "burst", "app", numbered("before", 0, 10)...)
		waitSpooled(t, dir, "app", numbered("before", 0, 10))
		c.Kubelet.LogAt(c.Namespace, "burst", "app", time.Now().Add(time.Second), 2*time.Second, numbered("burst", 0, 60)...)
		files := c.Kubelet.LogFiles(c.Namespace, "burst", "app")
		if len(files) < 3 {
			t.Fatalf("the burst rotated the log %d times, want 2 or more", len(files)-1)
		}
		// Everything the stalled stream had (the first file) and the
		// current file; the files between are lost.
		waitSpooled(t, dir, "app", slices.Concat(files[0], files[len(files)-1]))
		// The gap is counted as the resumed stream's first line is
		// looked at, which may be after it was spooled.
		poll.Until(t, 10*time.Second, "the gap to be counted", func() bool { return s.Gaps() >= 1 })
		if s.Gaps() != 1 || s.Stalls() < 1 {
			t.Errorf("gaps %v, stalls %v: want the one gap and its stall counted", s.Gaps(), s.Stalls())
		}
	})

	t.Run("a completed pod ends the streams", func(t *testing.T) {
		c.Kubelet.Pod(t, c.Namespace, "batch", corev1.RestartPolicyNever, "a", "b")
		dir := t.TempDir()
		s := stream(t, c, "batch", dir, "a", "b")
		c.Kubelet.Log(c.Namespace, "batch", "a", numbered("a", 0, 10)...)
		c.Kubelet.Log(c.Namespace, "batch", "b", numbered("b", 0, 10)...)
		c.Kubelet.Exit(c.Namespace, "batch", "a", 0)
		c.Kubelet.Log(c.Namespace, "batch", "b", "last words")
		c.Kubelet.Exit(c.Namespace, "batch", "b", 1)
		select {
		case err := <-s.done:
			s.done <- nil
			if err != nil {
				t.Fatalf("Run = %v, want nil once every container ended", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not return after the pod completed")
		}
		waitSpooled(t, dir, "a", numbered("a", 0, 10))
		waitSpooled(t, dir, "b", append(numbered("b", 0, 10), "last words"))
	})
}
