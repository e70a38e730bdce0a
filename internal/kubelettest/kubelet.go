// Package kubelettest is a test fixture standing in for the one part of a
// kubelet that tests of stdout: api need, as no kubelet can run on the
// build machine (no container runtime, cgroup v1): the kubelet API's
// containerLogs endpoint, which kube-apiserver proxies pods/log to, served
// from lines the test writes with the kubelet's meaning of follow,
// previous, sinceTime and timestamps; and the container statuses a kubelet
// would report for them. Everything else — the Node object, the pod, the
// proxying, authentication and RBAC — is the real kube-apiserver's.
package kubelettest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Kubelet serves the logs of the containers of pods bound to its node.
type Kubelet struct {
	t      testing.TB
	client kubernetes.Interface
	Node   string

	mu         sync.Mutex
	containers map[string]*container // namespace/pod/container
	cut        chan struct{}         // closed to end every follow stream
}

type container struct {
	instances []*instance
	rotation  Rotation
}

type instance struct {
	lines []line
	// files holds the index in lines of the first line of each log file,
	// oldest first: the last is the current file, the only one the
	// kubelet serves; size is the current file's size in the CRI format.
	files    []int
	size     int
	ended    bool
	exitCode int32
	started  time.Time
	finished time.Time
	grew     chan struct{} // closed and replaced when lines are added or it ends
}

type line struct {
	time time.Time
	text string
}

// Start serves the kubelet API with certs and registers the Node (its
// InternalIP and kubelet port point here).
func Start(t testing.TB, client kubernetes.Interface, certs *Certs, node string) *Kubelet {
	t.Helper()
	k := &Kubelet{t: t, client: client, Node: node, containers: map[string]*container{}, cut: make(chan struct{})}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(k.serve))
	srv.TLS = certs.serverTLS(t)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)

	ctx := context.Background()
	n, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", node, err)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("node %s status: %v", node, err)
	}
	return k
}

func key(ns, pod, c string) string { return ns + "/" + pod + "/" + c }

// Run starts a container (its first instance) and reports it running.
func (k *Kubelet) Run(ns, pod, c string) {
	k.mu.Lock()
	k.containers[key(ns, pod, c)] = &container{instances: []*instance{newInstance()}}
	k.mu.Unlock()
	k.report(ns, pod)
}

func newInstance() *instance {
	return &instance{started: time.Now(), grew: make(chan struct{}), files: []int{0}}
}

// RotationMode is what a follow stream open on a log file does when the
// kubelet rotates that file (renames it and has the runtime write a new
// one).
type RotationMode int

const (
	// EndFollow ends the stream once it has served the rotated file to
	// its end (kubernetes/kubernetes#59902).
	EndFollow RotationMode = iota + 1
	// StallFollow keeps the connection open and serves nothing more
	// until the container ends (kubernetes/kubernetes#115701, #126564,
	// #28369): the stall that makes kubectl, stern and kail hang.
	StallFollow
)

// Rotation is how a container's log rotates.
type Rotation struct {
	// Mode is what a follow stream does at a rotation; zero: it goes on
	// with the new file, as a kubelet without these bugs does.
	Mode RotationMode
	// MaxBytes rotates the current file before a line would take it
	// past this size, counted in the CRI format the runtime writes, as
	// the kubelet does at containerLogMaxSize; 0: only Rotate rotates.
	MaxBytes int
}

// SetRotation sets how the container's log rotates, for its instances
// now and later.
func (k *Kubelet) SetRotation(ns, pod, c string, r Rotation) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.current(ns, pod, c) // fails the test if the container is unknown
	k.containers[key(ns, pod, c)].rotation = r
}

// Rotate rotates the running instance's log now: what it holds stays in a
// rotated file, which pods/log no longer serves.
func (k *Kubelet) Rotate(ns, pod, c string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	in := k.current(ns, pod, c)
	in.rotate()
	in.wake()
}

func (in *instance) rotate() {
	in.files = append(in.files, len(in.lines))
	in.size = 0
}

// LogFiles returns the texts of the running instance's log files, oldest
// first; the last is the current file.
func (k *Kubelet) LogFiles(ns, pod, c string) [][]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	in := k.current(ns, pod, c)
	var files [][]string
	for i, start := range in.files {
		end := len(in.lines)
		if i+1 < len(in.files) {
			end = in.files[i+1]
		}
		texts := []string{}
		for _, l := range in.lines[start:end] {
			texts = append(texts, l.text)
		}
		files = append(files, texts)
	}
	return files
}

// criSize is the size of a line in the CRI log format:
// "<RFC 3339 nano time> stdout F <text>\n".
func criSize(text string) int { return len("2006-01-02T15:04:05.000000000Z stdout F \n") + len(text) }

func (k *Kubelet) current(ns, pod, c string) *instance {
	ct := k.containers[key(ns, pod, c)]
	if ct == nil {
		k.t.Fatalf("kubelettest: container %s/%s/%s is not running: call Run first", ns, pod, c)
	}
	return ct.instances[len(ct.instances)-1]
}

// Log appends lines to the running instance's log, stamped now, rotating
// it as its Rotation says.
func (k *Kubelet) Log(ns, pod, c string, texts ...string) {
	k.LogAt(ns, pod, c, time.Time{}, 0, texts...)
}

// LogAt is Log with the lines stamped at, at+step, at+2·step… (at zero:
// now), as a container whose writes came then: a test sets the time
// between lines without waiting for it. Times must not go back.
func (k *Kubelet) LogAt(ns, pod, c string, at time.Time, step time.Duration, texts ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	in := k.current(ns, pod, c)
	rot := k.containers[key(ns, pod, c)].rotation
	for i, s := range texts {
		t := time.Now()
		if !at.IsZero() {
			t = at.Add(time.Duration(i) * step)
		}
		if n := criSize(s); rot.MaxBytes > 0 && in.size > 0 && in.size+n > rot.MaxBytes {
			in.rotate()
		}
		in.lines = append(in.lines, line{t, s})
		in.size += criSize(s)
	}
	in.wake()
}

func (in *instance) wake() {
	close(in.grew)
	in.grew = make(chan struct{})
}

// Exit ends the running instance with code and reports it.
func (k *Kubelet) Exit(ns, pod, c string, code int32) {
	k.mu.Lock()
	in := k.current(ns, pod, c)
	in.ended, in.exitCode, in.finished = true, code, time.Now()
	in.wake()
	k.mu.Unlock()
	k.report(ns, pod)
}

// Restart ends the running instance (if it has not ended) and starts the
// next one, as the kubelet does for a crashed container.
func (k *Kubelet) Restart(ns, pod, c string) {
	k.mu.Lock()
	if in := k.current(ns, pod, c); !in.ended {
		in.ended, in.exitCode, in.finished = true, 137, time.Now()
		in.wake()
	}
	ct := k.containers[key(ns, pod, c)]
	ct.instances = append(ct.instances, newInstance())
	k.mu.Unlock()
	k.report(ns, pod)
}

// Cut ends every follow stream open now, as log rotation on a node does
// (kubernetes/kubernetes#59902).
func (k *Kubelet) Cut() {
	k.mu.Lock()
	close(k.cut)
	k.cut = make(chan struct{})
	k.mu.Unlock()
}

// report writes the container statuses and the phase to the pod.
func (k *Kubelet) report(ns, name string) {
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := k.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		k.mu.Lock()
		pod.Status.ContainerStatuses = nil
		running, failed, done := 0, 0, 0
		for _, spec := range pod.Spec.Containers {
			ct := k.containers[key(ns, name, spec.Name)]
			if ct == nil {
				continue
			}
			n := len(ct.instances)
			cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, RestartCount: int32(n - 1)}
			cs.State, cs.ContainerID = ct.instances[n-1].state(ns, name, spec.Name, n-1)
			if n > 1 {
				cs.LastTerminationState, _ = ct.instances[n-2].state(ns, name, spec.Name, n-2)
			}
			switch t := cs.State.Terminated; {
			case t == nil:
				running++
			case t.ExitCode != 0:
				failed++
			default:
				done++
			}
			pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, cs)
		}
		k.mu.Unlock()
		// Every container ended and none will restart: the pod is done.
		pod.Status.Phase = corev1.PodRunning
		if running == 0 && done+failed == len(pod.Spec.Containers) {
			switch policy := pod.Spec.RestartPolicy; {
			case policy == corev1.RestartPolicyAlways:
			case failed == 0:
				pod.Status.Phase = corev1.PodSucceeded
			case policy == corev1.RestartPolicyNever:
				pod.Status.Phase = corev1.PodFailed
			}
		}
		_, err = k.client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		k.t.Errorf("kubelettest: report status of %s/%s: %v", ns, name, err)
	}
}

func (in *instance) state(ns, pod, c string, n int) (corev1.ContainerState, string) {
	id := fmt.Sprintf("kubelettest://%s/%s/%s/%d", ns, pod, c, n)
	if in.ended {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: in.exitCode, ContainerID: id,
			StartedAt: metav1.NewTime(in.started), FinishedAt: metav1.NewTime(in.finished)}}, id
	}
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(in.started)}}, id
}

// serve answers GET /containerLogs/{namespace}/{pod}/{container}.
func (k *Kubelet) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if !strings.HasPrefix(r.URL.Path, "/containerLogs/") || len(parts) != 3 {
		http.Error(w, "kubelettest serves /containerLogs/{namespace}/{pod}/{container} only", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	var since time.Time
	if s := q.Get("sinceTime"); s != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, s); err != nil {
			http.Error(w, "sinceTime: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	follow, timestamps := q.Get("follow") == "true", q.Get("timestamps") == "true"
	tail := -1
	if s := q.Get("tailLines"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			http.Error(w, fmt.Sprintf("tailLines: %q is not a count of lines", s), http.StatusBadRequest)
			return
		}
		tail = n
	}

	k.mu.Lock()
	ct := k.containers[key(parts[0], parts[1], parts[2])]
	var in *instance
	switch {
	case ct == nil:
	case q.Get("previous") == "true":
		follow = false
		if len(ct.instances) > 1 {
			in = ct.instances[len(ct.instances)-2]
		}
	default:
		in = ct.instances[len(ct.instances)-1]
	}
	k.mu.Unlock()
	if in == nil {
		http.Error(w, fmt.Sprintf("container %q in pod %q not found", parts[2], parts[1]), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	flusher, _ := w.(http.Flusher)
	// The stream reads the file current when it opened, as the kubelet
	// does: from its first line.
	k.mu.Lock()
	file := len(in.files) - 1
	next := in.files[file]
	k.mu.Unlock()
	for first := true; ; first = false {
		k.mu.Lock()
		// A kubelet without the bug (no Mode) follows into the new file.
		mode := ct.rotation.Mode
		end, rotated := len(in.lines), mode != 0 && file+1 < len(in.files)
		if rotated {
			end = in.files[file+1]
		}
		lines, ended, grew, cut := in.lines[next:end], in.ended, in.grew, k.cut
		next = end
		k.mu.Unlock()
		if first && tail >= 0 {
			lines = lines[max(0, len(lines)-tail):]
		}
		var b strings.Builder
		for _, l := range lines {
			if l.time.Before(since) {
				continue
			}
			if timestamps {
				b.WriteString(l.time.UTC().Format(time.RFC3339Nano))
				b.WriteByte(' ')
			}
			b.WriteString(l.text)
			b.WriteByte('\n')
		}
		if _, err := w.Write([]byte(b.String())); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		if !follow || ended || rotated && mode == EndFollow {
			return
		}
		// A stream whose file was rotated under it (StallFollow) waits on
		// with nothing more to serve, until the container ends.
		select {
		case <-grew:
		case <-cut:
			return
		case <-r.Context().Done():
			return
		}
	}
}
