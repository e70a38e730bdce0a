//go:build !slim

package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/webhook"
)

// TestWebhookCommand runs `loglet webhook` as a process against a real
// kube-apiserver: its health endpoints answer and pods created through the
// API come back injected.
func TestWebhookCommand(t *testing.T) {
	env, restCfg := kubetest.Start(t, kubetest.Webhooks(webhook.Registration("loglet", admissionregv1.Fail)))
	user, err := env.AddUser(envtest.User{Name: "loglet-webhook", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kc, kubeconfig, 0o600)

	wo := env.WebhookInstallOptions
	health := freeAddr(t)
	a := &agent{stderr: &syncBuffer{}, done: make(chan struct{})}
	a.cmd = commandWithEnv([]string{"KUBECONFIG=" + kc, "POD_NAMESPACE=loglet-system"}, loglet, "webhook",
		"--port", strconv.Itoa(wo.LocalServingPort), "--cert-mode", "files", "--cert-dir", wo.LocalServingCertDir,
		"--metrics-addr", "127.0.0.1:0", "--health-addr", health, "--image", "registry.example/loglet-slim:test")
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	defer func() { a.cmd.Process.Kill(); <-a.done }() // before env.Stop (deferred earlier)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("webhook stderr (first lines):\n%s", firstLines(a.stderr.String(), 15))
		}
	})
	poll.Until(t, 20*time.Second, "the webhook to be ready", func() bool {
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	cl, err := client.New(restCfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: map[string]string{webhook.AnnotationInject: "true", webhook.AnnotationPaths: "app:/var/log/app/*.log"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/example/web:1.4.2"}}},
	}
	if err := cl.Create(ctx, pod); err != nil {
		t.Fatalf("create: %v\n%s", err, lastLines(a.stderr.String(), 20))
	}
	if len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Image != "registry.example/loglet-slim:test" ||
		pod.Spec.InitContainers[0].RestartPolicy == nil {
		t.Fatalf("pod not injected with a native sidecar of the configured image: %+v", pod.Spec.InitContainers)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
