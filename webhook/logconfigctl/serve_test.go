package logconfigctl_test

import (
	"context"
	"testing"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/webhook"
	"github.com/loglet/loglet/webhook/logconfigctl"
)

// TestServe runs webhook.Serve, as `loglet webhook` does, against a
// kube-apiserver with the CRDs: it takes the controller's Lease in its
// namespace and renders a LogConfig, while pods are still injected.
func TestServe(t *testing.T) {
	env, restCfg := kubetest.Start(t, kubetest.CRDs(), kubetest.Webhooks(webhook.Registration("loglet", admissionregv1.Fail)))
	cl := kubetest.Client(t, restCfg)
	ctx := context.Background()
	namespace(t, cl, "loglet-system", nil)
	namespace(t, cl, "shop", nil)

	wo := env.WebhookInstallOptions
	o := webhook.ServerOptions{Config: webhookConfig(), NativeSidecar: "always", Port: wo.LocalServingPort, CertMode: "files",
		CertDir: wo.LocalServingCertDir, MetricsAddr: "0", HealthAddr: "0", Reinject: logconfigctl.ReinjectOff}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- webhook.Serve(sctx, restCfg, o) }()
	defer func() { // before envtest stops: the server watches its certificate files
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	lc := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: v1alpha1.LogConfigSpec{
		Inputs: []v1alpha1.Input{input("app", "/var/log/app/*.log")},
	}}
	if err := cl.Create(ctx, lc); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, wait, "the shop ConfigMap to render LogConfig web", func() bool {
		names, _ := rendered(t, cl, "shop")
		return len(names) == 1 && names[0] == "LogConfig/web"
	})
	var lease coordinationv1.Lease
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "loglet-system", Name: logconfigctl.LeaseName}, &lease); err != nil {
		t.Fatalf("the controller's Lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Errorf("Lease %s has no holder", lease.Name)
	}
	// Admission still works beside it.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", Annotations: map[string]string{webhook.AnnotationInject: "true"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/example/web:1", Command: []string{"/web"}}}}}
	if err := cl.Create(ctx, pod); err != nil || pod.Annotations[webhook.AnnotationStatus] != "injected" {
		t.Fatalf("pod: %v, annotations %v; want it injected", err, pod.Annotations)
	}
	poll.Until(t, wait, "web's status to count the pod", func() bool {
		a := logConfigStatus(t, cl, "shop", "web")
		return a.status == "True" && a.matched == 1
	})
}
