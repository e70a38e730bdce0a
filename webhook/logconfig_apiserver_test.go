package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
)

// TestLogConfigsThroughAPIServer: with the chart's CRDs installed in a
// real kube-apiserver, an invalid LogConfig is refused by the validating
// webhook with the loader's message, and a pod with no loglet annotation
// that a LogConfig selects comes back injected with that LogConfig's
// input, the handler reading LogConfigs from an informer cache as `loglet
// webhook` does.
func TestLogConfigsThroughAPIServer(t *testing.T) {
	env, restCfg := kubetest.Start(t, kubetest.CRDs(), kubetest.Webhooks(Registration("loglet", admissionregv1.Fail)),
		kubetest.ValidatingWebhooks(ValidatingRegistration("loglet-logconfigs", admissionregv1.Fail)))
	cl := kubetest.Client(t, restCfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // before env.Stop: the server watches the certificate files
	informers, err := cache.New(restCfg, cache.Options{Scheme: cl.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{&v1alpha1.LogConfig{}, &v1alpha1.ClusterLogConfig{}} {
		if _, err := informers.GetInformer(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	go informers.Start(ctx)
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("the LogConfig informers did not sync")
	}
	source := LogConfigsFrom(informers)

	wo := env.WebhookInstallOptions
	srv := crwebhook.NewServer(crwebhook.Options{Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir})
	srv.Register(Path, &admission.Webhook{Handler: NewHandler(DefaultConfig(), NamespaceLabelsFrom(cl), source, prometheus.NewRegistry())})
	srv.Register(ValidatePath, &admission.Webhook{Handler: Validator{}})
	go srv.Start(ctx)
	poll.Until(t, 10*time.Second, "the webhook server to start", func() bool { return srv.StartedChecker()(&http.Request{}) == nil })
	kubetest.Namespaces(t, restCfg, "shop")

	logConfig := func(name string, in v1alpha1.Input) *v1alpha1.LogConfig {
		return &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: v1alpha1.LogConfigSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Inputs: []v1alpha1.Input{in}}}
	}

	t.Run("invalid LogConfigs are refused with the loader's message", func(t *testing.T) {
		for _, tc := range []struct {
			in   v1alpha1.Input
			want string
		}{
			{filesInput("app", "regex:(unclosed", "/var/log/app/*.log"), "LogConfig bad: spec.inputs: input app: format regex:(unclosed does not compile: error parsing regexp: missing closing )"},
			{filesInput("app", "xml", "/var/log/app/*.log"), "LogConfig bad: spec.inputs: input app: format"},
			// A path under /etc: the CRD's CEL rule refuses it before
			// the webhook is asked.
			{filesInput("app", "", "/etc/app/*.log"), "/proc, /sys, /dev, /etc and /var/run/secrets are never read"},
		} {
			err := cl.Create(ctx, logConfig("bad", tc.in))
			t.Logf("refused: %v", err)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("create a LogConfig with %+v: %v; want a refusal saying %q", tc.in, err, tc.want)
			}
		}
		// The annotation's problem for the unknown format is in the
		// LogConfig's message too.
		err := cl.Create(ctx, logConfig("bad", filesInput("app", "xml", "/var/log/app/*.log")))
		_, _, _, annErr := Inject(pod(map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log", AnnotationFormat: "xml"}, "app"), "shop", nil, DefaultConfig())
		invalid, ok := annErr.(*InvalidError)
		if !ok || err == nil || !strings.Contains(err.Error(), invalid.Problem) {
			t.Errorf("LogConfig refused with %v; want the annotation's problem %v in it", err, annErr)
		}
	})

	t.Run("a pod a LogConfig selects comes back injected with it", func(t *testing.T) {
		lc := logConfig("web", v1alpha1.Input{Name: "access", Files: []string{"/var/log/app/access*.log"}, Format: "json", Route: "access"})
		if err := cl.Create(ctx, lc); err != nil {
			t.Fatalf("create a valid LogConfig: %v", err)
		}
		poll.Until(t, 10*time.Second, "the informer to see LogConfig web", func() bool {
			entries, _, err := source(ctx, "shop")
			return err == nil && len(entries) == 1
		})
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/example/web:1.4.2", Command: []string{"/web"}}}},
		}
		if err := cl.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if p.Annotations[AnnotationStatus] != "injected" {
			t.Fatalf("the pod was not injected: annotations %v", p.Annotations)
		}
		if m := p.Spec.Containers[0].VolumeMounts; !slices.ContainsFunc(m, func(m corev1.VolumeMount) bool { return m.MountPath == "/var/log/app" && m.SubPath == "c/app/0" }) {
			t.Errorf("the app container's mounts %+v lack the shared volume at /var/log/app", m)
		}
		agent, err := loadInjected(p, "shop")
		if err != nil {
			t.Fatalf("the injected sidecar would not start: %v", err)
		}
		if len(agent.Inputs) != 1 || agent.Inputs[0].Name != "web/access" || agent.Inputs[0].Route != "access" ||
			!slices.Equal(agent.Inputs[0].Files, []string{"/var/loglet/c/app/0/access*.log"}) {
			in, _ := json.Marshal(agent.Inputs)
			t.Errorf("the sidecar's inputs %s; want web/access, json, route access, reading /var/loglet/c/app/0/access*.log", in)
		}
		// A pod the LogConfig does not select stays as it was.
		q := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "batch-1", Namespace: "shop", Labels: map[string]string{"app": "batch"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/example/batch:1"}}},
		}
		if err := cl.Create(ctx, q); err != nil || q.Annotations[AnnotationStatus] != "" || len(q.Spec.InitContainers) != 0 {
			t.Errorf("a pod the LogConfig does not select: %v, annotations %v", err, q.Annotations)
		}
	})
}
