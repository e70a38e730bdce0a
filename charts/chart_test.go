package charts

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"testing"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/spf13/pflag"

	"github.com/loglet/loglet/sidecar/config"
	"github.com/loglet/loglet/webhook"

	"github.com/loglet/loglet/internal/kubetest"
)

var update = flag.Bool("update", false, "rewrite manifests/ from the chart")

// The value sets the must-shows name: defaults, node mode, files mode.
var valueSets = map[string][]string{
	"defaults":  nil,
	"node mode": {"nodeMode.enabled=true"},
	"files":     {"webhook.certMode=files", "webhook.certFiles.injectCAFrom=loglet-system/loglet-webhook"},
	"one hub":   {"hub.replicas=1"},
	"own hub":   {"hub.install=false", "hub.sink=nats://hub.example:4222/LOGLET"},
	"console": {"hub.console.generateToken=true", "hub.console.ingress.enabled=true", "hub.console.ingress.host=logs.example.com",
		"hub.console.ingress.tls[0].secretName=tls"},
	"console secret": {"hub.replicas=1", "hub.console.tokenSecret=mine"},
	"sidecar rbac":   {"rbac.sidecarNamespaces={" + ReleaseNamespace + "}"},
	"evict":          {"logConfig.reinject=evict"},
	"no controller":  {"webhook.certMode=files", "logConfig.controller.enabled=false"},
	"network policy": {"webhook.networkPolicy.enabled=true", "webhook.networkPolicy.from[0].ipBlock.cidr=10.0.0.0/24",
		"webhook.networkPolicy.metrics.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring"},
}

func TestLint(t *testing.T) {
	for name, set := range valueSets {
		if err := Lint(Dir(), set...); err != nil {
			t.Errorf("%s: helm lint: %v", name, err)
		}
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		set  string
		want []string // in the error: the value's path and what is allowed
	}{
		{"webhook.failurePolicy=Sometimes", []string{"/webhook/failurePolicy", "'Ignore', 'Fail'"}},
		{"webhook.replica=3", []string{"/webhook", "'replica' not allowed"}},
		{"webhook.certMode=cert-manager", []string{"/webhook/certMode", "'self', 'files'"}},
		{"webhook.timeoutSeconds=60", []string{"/webhook/timeoutSeconds", "30"}},
		{"sidecar.metricsPort=70000", []string{"/sidecar/metricsPort", "65,535"}},
		{"sidecar.resources.requests.memory=lots", []string{"/sidecar/resources/requests/memory"}},
		{"hub.sink=ftp://hub", []string{"/hub/sink", "does not match"}},
		{"hub.replicas=2", []string{"/hub/replicas", "1, 3"}},
		{"hub.persistence.sise=1Gi", []string{"/hub/persistence", "'sise' not allowed"}},
		{"hub.install=false", []string{"hub.sink: give the URL of your hub", "hub.install=true"}},
		{"nodeMode.enabled=yes", []string{"/nodeMode/enabled", "boolean"}},
		{"logConfig.reinject=delete", []string{"/logConfig/reinject", "'off', 'evict'"}},
		{"logConfig.controller.enable=false", []string{"/logConfig/controller", "'enable' not allowed"}},
		{"sidecar.agentSettings.BATCH=1MiB", []string{"/sidecar/agentSettings", "BATCH"}},
		{"nodeMode.processors[0].dorp.match=healthz", []string{"/nodeMode/processors/0", "dorp"}},
		{"nodeMode.processors[0].redact.builtin[0]=credit-cards", []string{"/nodeMode/processors/0/redact/builtin/0", "credit-card"}},
		{"webhook.networkPolicy.enable=true", []string{"/webhook/networkPolicy", "'enable' not allowed"}},
		{"webhook.networkPolicy.from[0].podSelector.matchLabel.app=prometheus", []string{"/webhook/networkPolicy/from/0/podSelector", "'matchLabel' not allowed"}},
		{"webhook.networkPolicy.metrics.namespaceSelector.matchExpressions[0].key=team", []string{"/webhook/networkPolicy/metrics/namespaceSelector/matchExpressions/0", "operator"}},
		{"monitoring.sidecar.enabled=true", []string{"/monitoring", "'sidecar' not allowed"}},
		{"monitoring.webhook.enabled=yes", []string{"/monitoring/webhook/enabled", "boolean"}},
		{"monitoring.prometheusRule.hubUnreachableFor=5 minutes", []string{"/monitoring/prometheusRule/hubUnreachableFor", "does not match"}},
		{"monitoring.prometheusRule.lagBytes=16MiB", []string{"/monitoring/prometheusRule/lagBytes", "integer"}},
		{"monitoring.interval=often", []string{"/monitoring/interval"}},
		{"monitoring.grafanaDashboard.labelValue=not ok", []string{"/monitoring/grafanaDashboard/labelValue", "does not match"}},
	} {
		t.Run(tc.set, func(t *testing.T) {
			_, err := Render(Dir(), ReleaseName, ReleaseNamespace, tc.set)
			if err == nil {
				t.Fatalf("%s rendered; want the schema to refuse it", tc.set)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestManifestsAreCurrent(t *testing.T) {
	for _, m := range Manifests() {
		if *update {
			if err := m.Write(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := m.Render()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(m.Path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale (or missing: %v): run make manifests", m.Path, err)
		}
	}
}

// objects decodes rendered manifests.
func objects(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Objects(manifests)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find[T any](t *testing.T, objs []*unstructured.Unstructured, kind, name string) *T {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			var v T
			b, _ := yaml.Marshal(o.Object)
			if err := yaml.UnmarshalStrict(b, &v); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			return &v
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

// TestRenderedDefaults checks what the issue asks of the installed objects.
func TestRenderedDefaults(t *testing.T) {
	r, err := Render(Dir(), ReleaseName, ReleaseNamespace)
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, r.Manifests)
	mwc := find[admissionregv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", "loglet")
	w := mwc.Webhooks[0]
	if *w.FailurePolicy != admissionregv1.Ignore || *w.SideEffects != admissionregv1.SideEffectClassNone || *w.TimeoutSeconds != 5 ||
		*w.ReinvocationPolicy != admissionregv1.IfNeededReinvocationPolicy || strings.Join(w.AdmissionReviewVersions, ",") != "v1" {
		t.Errorf("webhook registration: %+v", w)
	}
	sel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]bool{"shop": true, "kube-system": false, "kube-public": false, ReleaseNamespace: false} {
		if got := sel.Matches(labels.Set{"kubernetes.io/metadata.name": ns}); got != want {
			t.Errorf("namespace %s selected: %v, want %v", ns, got, want)
		}
	}
	if sel.Matches(labels.Set{"kubernetes.io/metadata.name": "shop", "loglet.io/inject": "disabled"}) {
		t.Error("a namespace labelled loglet.io/inject=disabled is selected")
	}

	d := find[appsv1.Deployment](t, objs, "Deployment", "loglet-webhook")
	c := d.Spec.Template.Spec.Containers[0]
	sc := c.SecurityContext
	if *d.Spec.Replicas != 2 || c.LivenessProbe == nil || c.ReadinessProbe == nil || c.Resources.Requests.Cpu().IsZero() ||
		!*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" ||
		len(d.Spec.Template.Spec.TopologySpreadConstraints) != 1 {
		t.Errorf("webhook deployment: replicas, probes, resources, hardening or spread missing: %+v", d.Spec.Template.Spec)
	}
	// The same hardening as the sidecar the webhook injects.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{webhook.AnnotationInject: "true", webhook.AnnotationStdout: "off", webhook.AnnotationPaths: "app:/var/log/app/*.log"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web"}}}}
	injected, _, _, err := webhook.Inject(pod, "shop", nil, webhook.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if side := injected.Spec.InitContainers[0].SecurityContext; !apiequality.Semantic.DeepEqual(side, sc) {
		t.Errorf("webhook security context %+v differs from the sidecar's %+v", sc, side)
	}
	if !strings.Contains(r.Notes, "loglet.io/inject") || !strings.Contains(r.Notes, "kubectl") {
		t.Errorf("NOTES.txt does not tell how to opt in and check:\n%s", r.Notes)
	}
	for _, o := range objs {
		if o.GetKind() == "DaemonSet" {
			t.Error("the node-mode DaemonSet is rendered by default")
		}
	}
}

// TestNodeModeProcessors: the processors the chart's values give the
// DaemonSet reach the agent as its configuration document, and the
// agent's own loader takes them, with the salt from the Secret.
func TestNodeModeProcessors(t *testing.T) {
	r, err := Render(Dir(), ReleaseName, ReleaseNamespace, "nodeMode.enabled=true",
		"nodeMode.processors[0].drop.match=GET /healthz", "nodeMode.processors[1].redact.builtin[0]=all",
		"nodeMode.processors[1].redact.hash=sha256", "nodeMode.redactSaltSecret.name=loglet-redact", "nodeMode.redactSaltSecret.key=salt")
	if err != nil {
		t.Fatal(err)
	}
	ds := find[appsv1.DaemonSet](t, objects(t, r.Manifests), "DaemonSet", "loglet-node")
	c := ds.Spec.Template.Spec.Containers[0]
	environ := []string{"LOGLET_POD_NAME=x"}
	var salt *corev1.SecretKeySelector
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			environ = append(environ, e.Name+"="+e.Value)
		case e.Name == "LOGLET_REDACT_SALT":
			salt = e.ValueFrom.SecretKeyRef
			environ = append(environ, e.Name+"=from-the-secret")
		default:
			environ = append(environ, e.Name+"=node-1")
		}
	}
	if salt == nil || salt.Name != "loglet-redact" || salt.Key != "salt" {
		t.Errorf("LOGLET_REDACT_SALT from %+v, want the Secret loglet-redact, key salt", salt)
	}
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	config.AgentFlags(fs)
	if err := fs.Parse(c.Args[1:]); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs, environ)
	if err != nil {
		t.Fatalf("the agent refuses what the chart gives it: %v", err)
	}
	if len(cfg.Processors) != 2 || cfg.Processors[0].Drop == nil || cfg.Processors[1].Redact == nil || cfg.Inputs[0].Process == nil {
		t.Errorf("processors loaded: %+v", cfg.Processors)
	}
}

// TestDryRunApply applies the rendered chart to a real kube-apiserver with
// server-side dry run: the API server's validation of every object.
func TestDryRunApply(t *testing.T) {
	_, restCfg := kubetest.Start(t)
	cl, err := client.New(restCfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ReleaseNamespace}}); err != nil {
		t.Fatal(err)
	}
	for name, set := range valueSets {
		t.Run(name, func(t *testing.T) {
			r, err := Render(Dir(), ReleaseName, ReleaseNamespace, set...)
			if err != nil {
				t.Fatal(err)
			}
			objs := objects(t, r.Manifests)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GetKind()]++
				if err := cl.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.DryRunAll, client.FieldOwner("helm"), client.ForceOwnership); err != nil {
					t.Errorf("%s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}
			hubs := map[bool]int{true: 1}[name != "own hub"]
			if kinds["Deployment"] != 1 || kinds["MutatingWebhookConfiguration"] != 1 || kinds["ValidatingWebhookConfiguration"] != 1 || kinds["DaemonSet"] != map[bool]int{true: 1}[name == "node mode"] ||
				kinds["StatefulSet"] != hubs || kinds["NetworkPolicy"] != map[bool]int{true: 1}[name == "network policy"] {
				t.Errorf("applied kinds %v", kinds)
			}
		})
	}
}
