//go:build !slim

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/charts"
	"github.com/loglet/loglet/hub"
	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
)

// TestNodeModeChurn runs the agent in node mode as the chart's DaemonSet
// ServiceAccount (its RBAC applied from the rendered chart, a real token)
// against a real kube-apiserver while 200 short-lived pods come and go:
// each is created in the API, writes 100 lines (every tenth restarts its
// container half way: 0.log, then 1.log), is deleted, and its folder is
// removed three seconds later, as the kubelet would. Half way through the
// agent is killed with SIGKILL and started again. Every line must arrive,
// with the pod's labels from the API, also the lines the restarted agent
// reads of pods deleted before it started.
func TestNodeModeChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("200 pods through kube-apiserver and a kill -9; runs in make test")
	}
	_, restCfg := kubetest.Start(t)
	admin := kubernetes.NewForConfigOrDie(restCfg)
	ctx := context.Background()
	kubetest.Namespaces(t, restCfg, "churn")
	if err := charts.Apply(ctx, restCfg, "nodeMode.enabled=true"); err != nil {
		t.Fatal(err)
	}
	secrets := kubetest.TokenFiles(t, restCfg, charts.ReleaseNamespace, "loglet-node")

	pods, state := t.TempDir(), t.TempDir()
	out := filepath.Join(t.TempDir(), "out.ndjson")
	// Started like the DaemonSet's pod: churn goes on once it is ready
	// (its informer listed the node's pods), as the kubelet would route
	// nothing to it before either.
	startNode := func() *agent {
		metricsAddr := freeport.Addr(t)
		a := startAgentWithEnv(t, []string{"LOGLET_NODE_NAME=node-1"}, "--mode=node", "--pods-dir", pods,
			"--api-server", restCfg.Host, "--api-token-file", filepath.Join(secrets, "token"), "--api-ca-file", filepath.Join(secrets, "ca.crt"),
			"--state-dir", state, "--sink", "file://"+out, "--batch-wait", "100ms", "--metrics-addr", metricsAddr)
		poll.OK(t, 20*time.Second, "the node agent to be ready", "http://"+metricsAddr+"/readyz")
		return a
	}
	a := startNode()

	const nPods, nLines = 200, 100
	// The kubelet removes a deleted pod's logs a while after: here 3 s.
	var gc sync.WaitGroup
	writeLines := func(file string, pod, from, to int) {
		os.MkdirAll(filepath.Dir(file), 0o755)
		f, err := os.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			fmt.Fprintf(f, "2026-11-25T12:00:00.%09dZ stdout F pod-%03d line %03d\n", i, pod, i)
		}
		f.Close()
	}
	start := time.Now()
	files := 0
	for i := range nPods {
		if i == nPods/2 {
			// Killed while packages are in flight and folders are being
			// removed, once it has found every file so far (its checkpoint
			// is written at once and keeps the pod's metadata): the pods
			// of a moment with no agent at all can only be read with what
			// their path tells.
			poll.Until(t, 20*time.Second, "the agent to find every file so far", func() bool {
				return len(checkpointtest.Load(t, state)) >= files
			})
			a.cmd.Process.Kill()
			a.wait(t, 10*time.Second)
			a = startNode()
		}
		name := fmt.Sprintf("pod-%03d", i)
		pod, err := admin.CoreV1().Pods("churn").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "churn"}},
			Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "example.com/churn:1"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(pods, "churn_"+name+"_"+string(pod.UID))
		if i%10 == 0 {
			writeLines(filepath.Join(dir, "app", "0.log"), i, 0, nLines/2)
			writeLines(filepath.Join(dir, "app", "1.log"), i, nLines/2, nLines)
			files += 2
		} else {
			writeLines(filepath.Join(dir, "app", "0.log"), i, 0, nLines)
			files++
		}
		if err := admin.CoreV1().Pods("churn").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		gc.Add(1)
		time.AfterFunc(3*time.Second, func() { os.RemoveAll(dir); gc.Done() })
	}
	churn := time.Since(start)

	seen := map[string]int{}
	var dups, unlabelled int
	poll.Until(t, 60*time.Second, "every line of the 200 pods", func() bool {
		recs, torn := readSinkFileTorn(t, out)
		// The kill can tear the record being written; it is sent again.
		if torn > 1 {
			t.Fatalf("%s: %d records are not JSON, more than the one the kill can tear", out, torn)
		}
		clear(seen)
		dups, unlabelled = 0, 0
		for _, r := range recs {
			if seen[r.Body]++; seen[r.Body] > 1 {
				dups++
			}
			if r.Resource["k8s.pod.label.app"] != "churn" {
				unlabelled++
			}
		}
		return len(seen) >= nPods*nLines
	})
	gc.Wait()
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d", code)
	}
	for k := range seen {
		if !strings.HasPrefix(k, "pod-") {
			t.Errorf("unexpected record %q", k)
		}
	}
	t.Logf("%d pods × %d lines in %v of churn, agent killed once: %d distinct lines delivered, %d duplicates, %d without the pod's labels",
		nPods, nLines, churn.Round(time.Millisecond), len(seen), dups, unlabelled)
	if len(seen) != nPods*nLines {
		t.Errorf("%d distinct lines, want %d", len(seen), nPods*nLines)
	}
	if unlabelled > 0 {
		t.Errorf("%d records without the pod's labels from the API", unlabelled)
	}
}

// TestNodeModeSelectsAndRoutes: the agent in node mode, as the chart's
// node ServiceAccount, over a real folder tree of pods created in
// kube-apiserver, shipping to the embedded hub (NATS JetStream): an
// excluded namespace, a pod annotated loglet.io/exclude and a pod with a
// loglet sidecar are not read; the others arrive with their image and
// labels, and the pod labelled log_type lands in its own route.
func TestNodeModeSelectsAndRoutes(t *testing.T) {
	_, restCfg := kubetest.Start(t)
	admin := kubernetes.NewForConfigOrDie(restCfg)
	ctx := context.Background()
	kubetest.Namespaces(t, restCfg, "shop", "team")
	if err := charts.Apply(ctx, restCfg, "nodeMode.enabled=true"); err != nil {
		t.Fatal(err)
	}
	secrets := kubetest.TokenFiles(t, restCfg, charts.ReleaseNamespace, "loglet-node")
	pods := t.TempDir()
	for _, p := range []struct {
		ns, name            string
		labels, annotations map[string]string
	}{
		{"shop", "web", map[string]string{"app": "web", "log_type": "nginx_access_log"}, nil},
		{"team", "api", map[string]string{"app": "api"}, nil},
		{"shop", "db", map[string]string{"app": "db"}, map[string]string{"loglet.io/exclude": "true"}},
		{"shop", "injected", map[string]string{"app": "web"}, map[string]string{"loglet.io/status": "injected"}},
		{"kube-system", "dns", map[string]string{"app": "dns"}, nil},
	} {
		pod, err := admin.CoreV1().Pods(p.ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Labels: p.labels, Annotations: p.annotations},
			Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + p.name + ":2.0"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(pods, p.ns+"_"+p.name+"_"+string(pod.UID), "app", "0.log")
		os.MkdirAll(filepath.Dir(file), 0o755)
		os.WriteFile(file, []byte("2026-11-25T12:00:00.000000000Z stdout F "+p.name+" line\n"), 0o644)
	}
	h, err := hub.Start(ctx, hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown()

	a := startAgentWithEnv(t, []string{"LOGLET_NODE_NAME=node-1"}, "--mode=node", "--pods-dir", pods,
		"--api-server", restCfg.Host, "--api-token-file", filepath.Join(secrets, "token"), "--api-ca-file", filepath.Join(secrets, "ca.crt"),
		"--state-dir", t.TempDir(), "--sink", h.SinkURL(), "--batch-wait", "100ms",
		"--exclude-namespace", "kube-system", "--route-label", "log_type")
	byRoute := func(route string) map[string]query.Record {
		r, err := query.Open(ctx, h.SinkURL())
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		out := map[string]query.Record{}
		r.Tail(ctx, query.Filter{Route: route}, query.Options{}, func(rec query.Record) error { out[rec.Body] = rec; return nil })
		return out
	}
	poll.Until(t, 20*time.Second, "the lines of web and api", func() bool { return len(byRoute("")) >= 2 })
	// Drained on SIGTERM: whatever was to be read has been.
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d", code)
	}
	all := byRoute("")
	if len(all) != 2 || all["web line"].Body == "" || all["api line"].Body == "" {
		t.Fatalf("delivered %v; want only web's and api's lines", keysOf(all))
	}
	web := all["web line"].Resource
	if web["container.image.name"] != "registry.example/web" || web["container.image.tag"] != "2.0" || web["k8s.pod.label.app"] != "web" {
		t.Errorf("web's resource %v: want its image and labels from the API", web)
	}
	if r := byRoute("nginx_access_log"); len(r) != 1 || r["web line"].Body == "" {
		t.Errorf("route nginx_access_log holds %v, want web's line", keysOf(r))
	}
	if r := byRoute("default"); len(r) != 1 || r["api line"].Body == "" {
		t.Errorf("the default route holds %v, want api's line", keysOf(r))
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
