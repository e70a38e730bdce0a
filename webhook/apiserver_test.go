package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
)

// TestThroughAPIServer registers the webhook with a real kube-apiserver and
// etcd (envtest; `make test` builds them with hack/control-plane.sh) and
// creates pods through the API.
func TestThroughAPIServer(t *testing.T) {
	// Fail rather than Ignore: a webhook that is not called must fail the
	// test. A second webhook that changes every pod after ours makes the
	// API server call ours again (reinvocationPolicy: IfNeeded).
	other := Registration("zz-other", admissionregv1.Fail)
	other.Webhooks[0].Name = "other.example.com"
	other.Webhooks[0].ClientConfig.Service.Path = ptr.To("other")
	env, restCfg := kubetest.Start(t, kubetest.Webhooks(Registration("loglet", admissionregv1.Fail), other))
	cl, err := client.New(restCfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wo := env.WebhookInstallOptions
	srv := crwebhook.NewServer(crwebhook.Options{Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir})
	srv.Register(Path, &admission.Webhook{Handler: NewHandler(DefaultConfig(), NamespaceLabelsFrom(cl), nil, prometheus.NewRegistry())})
	srv.Register("/other", &admission.Webhook{Handler: admission.HandlerFunc(touch)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // before env.Stop: the server watches the certificate files
	go srv.Start(ctx)
	poll.Until(t, 10*time.Second, "the webhook server to start", func() bool { return srv.StartedChecker()(&http.Request{}) == nil })

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
		if !apiequality.Semantic.DeepEqual(p.Spec, q.Spec) {
			t.Errorf("two pods of the same spec were injected differently")
		}
		// Reinvoked after the other webhook changed the pod, ours left it
		// be: one sidecar, and four volumes (logs, pod info, the
		// namespace's LogConfigs, and the token that stdout: api — auto
		// without a command — needs).
		if p.Labels["example.com/touched"] != "true" || len(p.Spec.InitContainers) != 1 || len(p.Spec.Volumes) != 4 {
			t.Errorf("after reinvocation: labels %v, %d init containers, %d volumes; want one sidecar and four volumes", p.Labels, len(p.Spec.InitContainers), len(p.Spec.Volumes))
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
	t.Run("an opt-in typo comes back as a warning", func(t *testing.T) {
		warned := &warnings{}
		wcfg := rest.CopyConfig(restCfg)
		wcfg.WarningHandler = warned
		wcl, err := client.New(wcfg, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "typo", Namespace: "shop", Annotations: map[string]string{AnnotationInject: "True", AnnotationPaths: "app:/var/log/app/*.log"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/example/web:1.4.2"}}},
		}
		if err := wcl.Create(ctx, p); err != nil || p.Annotations[AnnotationStatus] != "" {
			t.Fatalf("pod with inject True: %v, annotations %v; want it admitted as it is", err, p.Annotations)
		}
		got := warned.all()
		if len(got) != 1 || !strings.Contains(got[0], `loglet.io/inject="True"`) || !strings.Contains(got[0], `not injected`) {
			t.Errorf("the client was warned %q; want one warning about loglet.io/inject=\"True\"", got)
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

// warnings collects the warnings the API server sends a client (what
// kubectl prints as "Warning: …").
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.list)
}

// touch is another cluster's webhook: it labels every pod, after ours.
func touch(_ context.Context, req admission.Request) admission.Response {
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels["example.com/touched"] = "true"
	raw, _ := json.Marshal(&pod)
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}
