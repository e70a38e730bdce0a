//go:build !slim

package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/webhook"
)

// startWebhookBehindAPIServer runs `loglet webhook` (with the extra
// flags) as a process registered with a real kube-apiserver, and returns
// it with a client of that API server in which the namespace shop exists.
func startWebhookBehindAPIServer(t *testing.T, flags ...string) (*agent, client.Client) {
	t.Helper()
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
	if err := os.WriteFile(kc, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	wo := env.WebhookInstallOptions
	wh := startWebhook(t, []string{"KUBECONFIG=" + kc, "POD_NAMESPACE=loglet-system"},
		append([]string{"--port", strconv.Itoa(wo.LocalServingPort), "--cert-mode", "files", "--cert-dir", wo.LocalServingCertDir}, flags...)...)
	cl, err := client.New(restCfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	return wh, cl
}

// TestWebhookCommand runs `loglet webhook` as a process against a real
// kube-apiserver: its health endpoints answer and pods created through the
// API come back injected.
func TestWebhookCommand(t *testing.T) {
	a, cl := startWebhookBehindAPIServer(t, "--image", "registry.example/loglet-slim:test")
	ctx := context.Background()
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
