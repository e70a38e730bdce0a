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
}

type instance struct {
	lines    []line
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

func newInstance() *instance { return &instance{started: time.Now(), grew: make(chan struct{})} }

func (k *Kubelet) current(ns, pod, c string) *instance {
	ct := k.containers[key(ns, pod, c)]
	if ct == nil {
		k.t.Fatalf("kubelettest: container %s/%s/%s is not running: call Run first", ns, pod, c)
	}
	return ct.instances[len(ct.instances)-1]
}

// Log appends lines to the running instance's log, stamped now.
func (k *Kubelet) Log(ns, pod, c string, texts ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	in := k.current(ns, pod, c)
	for _, s := range texts {
		in.lines = append(in.lines, line{time.Now(), s})
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
	next := 0
	for {
		k.mu.Lock()
		lines, ended, grew, cut := in.lines[next:], in.ended, in.grew, k.cut
		next = len(in.lines)
		k.mu.Unlock()
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
		if !follow || ended {
			return
		}
		select {
		case <-grew:
		case <-cut:
			return
		case <-r.Context().Done():
			return
		}
	}
}
