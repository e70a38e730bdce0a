package webhook

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// TestThroughAPIServer registers the webhook with a real kube-apiserver and
// etcd (envtest; `make test` builds them with hack/control-plane.sh) and
// creates pods through the API.
func TestThroughAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs kube-apiserver and etcd; runs in make test")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or export KUBEBUILDER_ASSETS=$(hack/control-plane.sh)")
	}
	// Fail rather than Ignore: a webhook that is not called must fail the test.
	env := &envtest.Environment{WebhookInstallOptions: envtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregv1.MutatingWebhookConfiguration{Registration("loglet", admissionregv1.Fail)},
	}}
	restCfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	defer env.Stop()
	cl, err := client.New(restCfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wo := env.WebhookInstallOptions
	srv := crwebhook.NewServer(crwebhook.Options{Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir})
	nsLabels := func(ctx context.Context, name string) (map[string]string, error) {
		var ns corev1.Namespace
		if err := cl.Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
			return nil, err
		}
		return ns.Labels, nil
	}
	srv.Register(Path, &admission.Webhook{Handler: NewHandler(DefaultConfig(), nsLabels, prometheus.NewRegistry())})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // before env.Stop: the server watches the certificate files
	go srv.Start(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for srv.StartedChecker()(&http.Request{}) != nil {
		if time.Now().After(deadline) {
			t.Fatal("webhook server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{NamespaceLabel: "enabled"}}},
	} {
		if err := cl.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	create := func(ns, name string, annotations map[string]string) (*corev1.Pod, error) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: annotations},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/example/web:1.4.2"}}},
		}
		return p, cl.Create(ctx, p)
	}
	opted := map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log"}

	t.Run("native sidecars detected from the server version", func(t *testing.T) {
		native, err := NativeSidecars(restCfg, "auto")
		if err != nil || !native {
			t.Fatalf("auto on a 1.37 API server: %v, %v; want native sidecars", native, err)
		}
		if _, err := NativeSidecars(restCfg, "sometimes"); err == nil || !strings.Contains(err.Error(), "auto, always or never") {
			t.Errorf("bad mode: %v", err)
		}
	})
	t.Run("opted-in pod comes back injected", func(t *testing.T) {
		p, err := create("shop", "web-1", opted)
		if err != nil {
			t.Fatal(err)
		}
		if p.Annotations[AnnotationStatus] != "injected" || len(p.Spec.InitContainers) != 1 || p.Spec.InitContainers[0].Name != SidecarName {
			t.Fatalf("pod not injected: annotations %v, init containers %d", p.Annotations, len(p.Spec.InitContainers))
		}
		// The same spec again: reinvocation and idempotency give the same pod.
		q, err := create("shop", "web-2", opted)
		if err != nil {
			t.Fatal(err)
		}
		if !sameSpec(p, q) {
			t.Errorf("two pods of the same spec were injected differently")
		}
	})
	t.Run("namespace label opts in", func(t *testing.T) {
		p, err := create("team-a", "api-1", nil)
		if err != nil || p.Annotations[AnnotationStatus] != "injected" {
			t.Fatalf("pod in labelled namespace: %v, annotations %v", err, p.Annotations)
		}
	})
	t.Run("invalid annotation is refused with the webhook's message", func(t *testing.T) {
		_, err := create("shop", "bad", map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/etc/*.conf"})
		if err == nil || !strings.Contains(err.Error(), "loglet.io/paths") || !strings.Contains(err.Error(), "under /etc") {
			t.Fatalf("err %v, want a denial naming loglet.io/paths", err)
		}
	})
	t.Run("kube-system is untouched", func(t *testing.T) {
		p, err := create("kube-system", "system", opted)
		if err != nil || p.Annotations[AnnotationStatus] != "" || len(p.Spec.InitContainers) != 0 {
			t.Fatalf("kube-system pod: %v, annotations %v", err, p.Annotations)
		}
	})
	t.Run("a pod that did not opt in is untouched", func(t *testing.T) {
		p, err := create("shop", "quiet", map[string]string{AnnotationPaths: "app:/var/log/*.log"})
		if err != nil || p.Annotations[AnnotationStatus] != "" || len(p.Spec.InitContainers) != 0 {
			t.Fatalf("quiet pod: %v, annotations %v", err, p.Annotations)
		}
	})
}

func sameSpec(a, b *corev1.Pod) bool {
	x, y := a.Spec.DeepCopy(), b.Spec.DeepCopy()
	return strings.EqualFold(x.String(), y.String())
}
