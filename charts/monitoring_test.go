package charts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/sidecar/metrics"
	"github.com/loglet/loglet/sidecar/process"
	"github.com/loglet/loglet/sidecar/receive"
	"github.com/loglet/loglet/webhook"
	"github.com/loglet/loglet/webhook/certs"
	"github.com/loglet/loglet/webhook/logconfigctl"
)

// monitoringOn turns every monitoring object on, and node mode, whose
// PodMonitor needs the DaemonSet.
var monitoringOn = []string{
	"nodeMode.enabled=true",
	"monitoring.webhook.enabled=true", "monitoring.node.enabled=true", "monitoring.sidecars.enabled=true",
	"monitoring.prometheusRule.enabled=true", "monitoring.grafanaDashboard.enabled=true",
	"monitoring.labels.release=kube-prometheus-stack", "monitoring.interval=30s",
}

// all decodes every rendered object of kind strictly into T: a field
// the Go type does not have (a misspelt one) fails.
func all[T any](t *testing.T, objs []*unstructured.Unstructured, kind string) map[string]*T {
	t.Helper()
	out := map[string]*T{}
	for _, o := range objs {
		if o.GetKind() != kind {
			continue
		}
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		var v T
		if err := yaml.UnmarshalStrict(b, &v); err != nil {
			t.Fatalf("%s %s does not decode into %T: %v", kind, o.GetName(), v, err)
		}
		out[o.GetName()] = &v
	}
	return out
}

func render(t *testing.T, set ...string) []*unstructured.Unstructured {
	t.Helper()
	r, err := Render(Dir(), ReleaseName, ReleaseNamespace, set...)
	if err != nil {
		t.Fatal(err)
	}
	return objects(t, r.Manifests)
}

// containerPort is the number of the port named name in c, 0 if none.
func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// flagPort is the port of a port or address flag (--port=9443,
// --metrics-addr=:8080) in args.
func flagPort(t *testing.T, args []string, flag string) int32 {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			n, err := strconv.Atoi(v[strings.LastIndex(v, ":")+1:])
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			return int32(n)
		}
	}
	t.Fatalf("no %s in %q", flag, args)
	return 0
}

func selects(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return s.Matches(labels.Set(l))
}

// metaLabel is the label Prometheus's Kubernetes discovery gives a pod's
// annotation: its name with every character not allowed in a label name
// made _.
func metaLabel(annotation string) string {
	return "__meta_kubernetes_pod_annotation_" + regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(annotation, "_")
}

// TestMonitoringOffByDefault: nothing of monitoring.* or the
// NetworkPolicy renders unless asked, and the node PodMonitor not without
// the DaemonSet.
func TestMonitoringOffByDefault(t *testing.T) {
	for name, set := range map[string][]string{
		"defaults":                      nil,
		"node mode, no monitoring":      {"nodeMode.enabled=true"},
		"node PodMonitor, no node mode": {"monitoring.node.enabled=true"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, o := range render(t, set...) {
				if k := o.GetKind(); k == "PodMonitor" || k == "PrometheusRule" || k == "NetworkPolicy" || (k == "ConfigMap" && strings.HasSuffix(o.GetName(), "-dashboard")) {
					t.Errorf("%s %s rendered", k, o.GetName())
				}
			}
		})
	}
}

// TestPodMonitors holds the PodMonitors to what they must scrape: the
// webhook Deployment's and the DaemonSet's metrics ports, and the port
// the webhook gives every sidecar it injects.
func TestPodMonitors(t *testing.T) {
	objs := render(t, monitoringOn...)
	pms := all[monitoringv1.PodMonitor](t, objs, "PodMonitor")
	if len(pms) != 3 {
		t.Fatalf("PodMonitors %v, want the webhook's, the node agents' and the sidecars'", slices.Sorted(func(yield func(string) bool) {
			for k := range pms {
				if !yield(k) {
					return
				}
			}
		}))
	}
	for name, pm := range pms {
		if pm.Labels["release"] != "kube-prometheus-stack" {
			t.Errorf("PodMonitor %s: labels %v lack monitoring.labels", name, pm.Labels)
		}
		if len(pm.Spec.PodMetricsEndpoints) != 1 || pm.Spec.PodMetricsEndpoints[0].Port == nil || pm.Spec.PodMetricsEndpoints[0].Interval != "30s" {
			t.Fatalf("PodMonitor %s: endpoints %+v, want one, by port name, every 30s", name, pm.Spec.PodMetricsEndpoints)
		}
	}
	d := find[appsv1.Deployment](t, objs, "Deployment", "loglet-webhook")
	ds := find[appsv1.DaemonSet](t, objs, "DaemonSet", "loglet-node")
	webhookC, nodeC := d.Spec.Template.Spec.Containers[0], ds.Spec.Template.Spec.Containers[0]

	// The sidecar as the webhook injects it.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{webhook.AnnotationInject: "true"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web"}}}}
	cfg := webhook.DefaultConfig()
	injected, _, _, err := webhook.Inject(pod, "shop", nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var sidecarPort string
	for _, c := range append(injected.Spec.InitContainers, injected.Spec.Containers...) {
		for _, p := range c.Ports {
			if p.ContainerPort == cfg.MetricsPort {
				sidecarPort = p.Name
			}
		}
	}
	if sidecarPort == "" {
		t.Fatalf("the injected pod has no container port %d (the sidecar's metrics)", cfg.MetricsPort)
	}

	for _, tc := range []struct {
		name, component string
		pod             corev1.PodTemplateSpec
		container       corev1.Container
		others          []map[string]string // pod labels it must not select
	}{
		{"loglet-webhook", "webhook", d.Spec.Template, webhookC, []map[string]string{ds.Spec.Template.Labels}},
		{"loglet-node", "node-agent", ds.Spec.Template, nodeC, []map[string]string{d.Spec.Template.Labels}},
	} {
		pm := pms[tc.name]
		if pm == nil {
			t.Errorf("no PodMonitor %s", tc.name)
			continue
		}
		if !selects(t, &pm.Spec.Selector, tc.pod.Labels) {
			t.Errorf("PodMonitor %s: selector %v does not select the %s pods %v", tc.name, pm.Spec.Selector, tc.component, tc.pod.Labels)
		}
		for _, l := range tc.others {
			if selects(t, &pm.Spec.Selector, l) {
				t.Errorf("PodMonitor %s selects other pods too: %v", tc.name, l)
			}
		}
		if ns := pm.Spec.NamespaceSelector; ns.Any || !slices.Equal(ns.MatchNames, []string{ReleaseNamespace}) {
			t.Errorf("PodMonitor %s: namespaces %+v, want %s", tc.name, ns, ReleaseNamespace)
		}
		port := *pm.Spec.PodMetricsEndpoints[0].Port
		if got, want := containerPort(tc.container, port), flagPort(t, tc.container.Args, "--metrics-addr"); got == 0 || got != want {
			t.Errorf("PodMonitor %s scrapes port %q: container port %d, the %s serves metrics on %d", tc.name, port, got, tc.component, want)
		}
	}

	pm := pms["loglet-sidecars"]
	if pm == nil {
		t.Fatal("no PodMonitor loglet-sidecars")
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if *ep.Port != sidecarPort {
		t.Errorf("sidecar PodMonitor scrapes port %q; the webhook names the sidecar's %q", *ep.Port, sidecarPort)
	}
	if !pm.Spec.NamespaceSelector.Any || !selects(t, &pm.Spec.Selector, injected.Labels) {
		t.Errorf("sidecar PodMonitor: namespaces %+v, selector %v; want every namespace and every pod", pm.Spec.NamespaceSelector, pm.Spec.Selector)
	}
	// The webhook and the node agents are not scraped twice: no port of
	// theirs has the sidecar's port name.
	for _, c := range []corev1.Container{webhookC, nodeC} {
		if containerPort(c, sidecarPort) != 0 {
			t.Errorf("container %s has a port named %s: the sidecar PodMonitor scrapes it too", c.Name, sidecarPort)
		}
	}
	// Its relabeling keeps the pods the webhook annotated as injected.
	if len(ep.RelabelConfigs) != 1 {
		t.Fatalf("sidecar PodMonitor relabelings %+v, want the one keeping injected pods", ep.RelabelConfigs)
	}
	rc := ep.RelabelConfigs[0]
	status, ok := injected.Annotations[webhook.AnnotationStatus]
	if !ok {
		t.Fatalf("the injected pod has no %s annotation", webhook.AnnotationStatus)
	}
	if rc.Action != "keep" || len(rc.SourceLabels) != 1 || string(rc.SourceLabels[0]) != metaLabel(webhook.AnnotationStatus) ||
		!regexp.MustCompile("^(?:"+rc.Regex+")$").MatchString(status) || regexp.MustCompile("^(?:"+rc.Regex+")$").MatchString("") {
		t.Errorf("sidecar PodMonitor relabeling %+v: want keep %s matching %q (the webhook's) and not a pod without it", rc, metaLabel(webhook.AnnotationStatus), status)
	}
}

// TestPrometheusRule decodes the rule into prometheus-operator's type
// and checks its labels.
func TestPrometheusRule(t *testing.T) {
	rules := all[monitoringv1.PrometheusRule](t, render(t, monitoringOn...), "PrometheusRule")
	pr := rules["loglet"]
	if len(rules) != 1 || pr == nil {
		t.Fatalf("PrometheusRules %v, want loglet", rules)
	}
	if pr.Labels["release"] != "kube-prometheus-stack" || pr.Namespace != ReleaseNamespace {
		t.Errorf("PrometheusRule labels %v in %s, want monitoring.labels, in %s", pr.Labels, pr.Namespace, ReleaseNamespace)
	}
	var alerts []string
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: no severity, summary or description", r.Alert)
			}
		}
	}
	want := []string{"LogletHubUnreachable", "LogletLagGrowing", "LogletRecordsRateLimited", "LogletPushRecordsDropped",
		"LogletPackagesRejected", "LogletPodsWithoutSidecar", "LogletWebhookCertificateExpiring"}
	if !slices.Equal(alerts, want) {
		t.Errorf("alerts %q, want %q", alerts, want)
	}
}

// TestNetworkPolicy: the webhook's NetworkPolicy opens the Deployment's
// webhook and metrics ports, and nothing else.
func TestNetworkPolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		set      []string
		wantFrom []networkingv1.NetworkPolicyPeer // of the webhook port
	}{
		{name: "defaults", set: []string{"webhook.networkPolicy.enabled=true"}},
		{name: "from the control plane", set: []string{"webhook.networkPolicy.enabled=true", "webhook.networkPolicy.from[0].ipBlock.cidr=10.0.0.0/24"},
			wantFrom: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/24"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.set...)
			nps := all[networkingv1.NetworkPolicy](t, objs, "NetworkPolicy")
			np := nps["loglet-webhook"]
			if len(nps) != 1 || np == nil {
				t.Fatalf("NetworkPolicies %v, want loglet-webhook", nps)
			}
			d := find[appsv1.Deployment](t, objs, "Deployment", "loglet-webhook")
			c := d.Spec.Template.Spec.Containers[0]
			if !selects(t, &np.Spec.PodSelector, d.Spec.Template.Labels) || np.Namespace != d.Namespace {
				t.Errorf("podSelector %v does not select the webhook pods %v", np.Spec.PodSelector, d.Spec.Template.Labels)
			}
			if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
				t.Errorf("policy types %v, want Ingress only (egress goes to kube-apiserver, see the README)", np.Spec.PolicyTypes)
			}
			if len(np.Spec.Ingress) != 2 {
				t.Fatalf("ingress rules %+v, want the webhook port's and the metrics port's", np.Spec.Ingress)
			}
			want := map[string]int32{ // the port each rule opens, as the webhook's flags serve them
				"webhook": flagPort(t, c.Args, "--port"),
				"metrics": flagPort(t, c.Args, "--metrics-addr"),
			}
			for i, rule := range np.Spec.Ingress {
				if len(rule.Ports) != 1 || rule.Ports[0].Port == nil {
					t.Fatalf("rule %d: ports %+v, want one", i, rule.Ports)
				}
				name := rule.Ports[0].Port.String()
				if got := containerPort(c, name); got == 0 || got != want[name] {
					t.Errorf("rule %d opens port %q: container port %d, want %d", i, name, got, want[name])
				}
				delete(want, name)
				switch name {
				case "webhook":
					if !equalJSON(t, rule.From, tc.wantFrom) {
						t.Errorf("webhook port from %+v, want %+v", rule.From, tc.wantFrom)
					}
				case "metrics":
					prom := map[string]string{"app.kubernetes.io/name": "prometheus"}
					if len(rule.From) != 1 || !selects(t, rule.From[0].PodSelector, prom) || !selects(t, rule.From[0].NamespaceSelector, map[string]string{"kubernetes.io/metadata.name": "monitoring"}) ||
						selects(t, rule.From[0].PodSelector, map[string]string{"app": "web"}) {
						t.Errorf("metrics port from %+v: want Prometheus pods of any namespace, not others", rule.From)
					}
				}
			}
			if len(want) > 0 {
				t.Errorf("ports not opened: %v", want)
			}
		})
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// TestMonitoringLint: helm lint takes the chart with every monitoring
// object on (TestLint's value sets are also applied to a kube-apiserver,
// which does not serve prometheus-operator's kinds).
func TestMonitoringLint(t *testing.T) {
	if err := Lint(Dir(), monitoringOn...); err != nil {
		t.Errorf("helm lint: %v", err)
	}
}

// TestGrafanaDashboard: the ConfigMap carries the sidecar's label and a
// dashboard that parses, each panel with a query.
func TestGrafanaDashboard(t *testing.T) {
	for _, tc := range []struct {
		set        []string
		label, val string
		namespace  string
	}{
		{set: monitoringOn, label: "grafana_dashboard", val: "1", namespace: ReleaseNamespace},
		{set: append(slices.Clone(monitoringOn), "monitoring.grafanaDashboard.label=dashboards", "monitoring.grafanaDashboard.labelValue=loglet",
			"monitoring.grafanaDashboard.namespace=grafana"), label: "dashboards", val: "loglet", namespace: "grafana"},
	} {
		cm := find[corev1.ConfigMap](t, render(t, tc.set...), "ConfigMap", "loglet-dashboard")
		if cm.Labels[tc.label] != tc.val || cm.Namespace != tc.namespace {
			t.Errorf("dashboard ConfigMap in %s labelled %v, want %s=%s in %s", cm.Namespace, cm.Labels, tc.label, tc.val, tc.namespace)
		}
		d := dashboard(t, cm)
		if d.UID == "" || len(d.Panels) < 10 {
			t.Errorf("dashboard uid %q, %d panels", d.UID, len(d.Panels))
		}
		for _, p := range d.Panels {
			if p.Type != "row" && (len(p.Targets) == 0 || p.Targets[0].Expr == "") {
				t.Errorf("panel %q has no query", p.Title)
			}
		}
	}
}

type grafanaDashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func dashboard(t *testing.T, cm *corev1.ConfigMap) grafanaDashboard {
	t.Helper()
	var d grafanaDashboard
	if err := json.Unmarshal([]byte(cm.Data["loglet.json"]), &d); err != nil {
		t.Fatalf("the dashboard (dashboards/loglet.json) is not JSON: %v", err)
	}
	return d
}

// TestMetricNames: every loglet metric the dashboard and the alerts query
// is one the code registers — the agent's registry (sidecar/metrics), the
// webhook's metrics, the LogConfig controller's — gathered from those
// registries, not from a list kept by hand.
func TestMetricNames(t *testing.T) {
	registered := registeredMetrics(t)
	objs := render(t, monitoringOn...)
	queries := map[string][]string{} // where → expressions
	for _, p := range dashboard(t, find[corev1.ConfigMap](t, objs, "ConfigMap", "loglet-dashboard")).Panels {
		for _, tg := range p.Targets {
			queries["dashboard panel "+p.Title] = append(queries["dashboard panel "+p.Title], tg.Expr)
		}
	}
	for _, g := range find[monitoringv1.PrometheusRule](t, objs, "PrometheusRule", "loglet").Spec.Groups {
		for _, r := range g.Rules {
			queries["alert "+r.Alert] = append(queries["alert "+r.Alert], r.Expr.String())
		}
	}
	name := regexp.MustCompile(`loglet_[a-z0-9_]+`)
	used := map[string]bool{}
	for where, exprs := range queries {
		for _, e := range exprs {
			for _, m := range name.FindAllString(e, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(m, suffix); ok && registered[b] {
						base = b
					}
				}
				used[base] = true
				if !registered[base] {
					t.Errorf("%s queries %s, which no loglet registry has", where, m)
				}
			}
		}
	}
	// What the issue asks the dashboard and the alerts to show.
	for _, m := range []string{"loglet_records_sent_total", "loglet_bytes_sent_total", "loglet_send_errors_total", "loglet_sink_up",
		"loglet_lag_bytes", "loglet_source_lag_bytes", "loglet_records_dropped_total", "loglet_push_dropped_total", "loglet_buffered_bytes",
		"loglet_webhook_admissions_total", "loglet_webhook_admission_seconds", "loglet_pods_uninjected", certs.ExpiryMetric} {
		if !used[m] {
			t.Errorf("neither the dashboard nor the alerts query %s", m)
		}
	}
}

// registeredMetrics gathers the names of the metrics loglet registers:
// the agent's (with a source lagging, a processor chain, a push input and
// a source of invalid text, so that the metrics read from them have
// series), the webhook's (admissions, the certificate's expiry) and the
// LogConfig controller's, set up on a manager of a real kube-apiserver.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	agent := metrics.NewAgent(func() metrics.Reading { return metrics.Reading{} })
	agent.ServeLag(func() []metrics.SourceLag {
		return []metrics.SourceLag{{SourceID: "1", Path: "/var/log/app.log", Bytes: 1}}
	})
	chain, err := process.Compile("app", []process.Config{{Drop: &process.Match{Match: "healthz"}}, {Limit: &process.Limit{LinesPerSecond: 10}},
		{Redact: &process.Redact{Builtin: []string{"all"}}}}, process.Options{})
	if err != nil {
		t.Fatal(err)
	}
	agent.ServeProcessors([]*process.Chain{chain})
	agent.ServePush([]metrics.PushInput{{Input: "syslog", Protocol: "syslog", Stats: &receive.Stats{}, Held: func() int64 { return 0 }}})
	agent.ServeInvalidText(func() []metrics.SourceInvalid {
		return []metrics.SourceInvalid{{Input: "app", SourceID: "1", Path: "/x", Records: 1}}
	})
	if err := metrics.RegisterBuildInfo(agent.Registry, "test"); err != nil {
		t.Fatal(err)
	}

	hook := prometheus.NewRegistry()
	webhook.NewHandler(webhook.DefaultConfig(), nil, nil, hook)
	cert := selfSigned(t)
	if err := certs.RegisterExpiry(hook, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }); err != nil {
		t.Fatal(err)
	}
	_, restCfg := kubetest.Start(t, kubetest.CRDs())
	mgr, err := manager.New(restCfg, manager.Options{Scheme: kubetest.Scheme(t), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	never := func(*corev1.Pod, string, map[string]string) (bool, string) { return false, "" }
	if err := logconfigctl.Setup(mgr, logconfigctl.Options{Decide: never, Registry: hook}); err != nil {
		t.Fatal(err)
	}

	names := map[string]bool{}
	for _, f := range agent.Registry.Gather() {
		names[f.Name] = true
	}
	mfs, err := hook.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, m := range []string{"loglet_sink_up", "loglet_webhook_admissions_total", "loglet_pods_uninjected", certs.ExpiryMetric} {
		if !names[m] {
			t.Fatalf("the registries gathered have no %s: %v", m, names)
		}
	}
	return names
}

// selfSigned is a certificate for the expiry gauge to read.
func selfSigned(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loglet-webhook"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// promtool is Prometheus's rule checker (PROMTOOL, which make test sets
// from hack/promtool.sh). Without it the test skips, unless
// PROMTOOL_REQUIRED is set, as make test does: there it fails.
func promtool(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("PROMTOOL")
	if bin == "" {
		if os.Getenv("PROMTOOL_REQUIRED") != "" {
			t.Fatal("PROMTOOL is not set and PROMTOOL_REQUIRED is: give it hack/promtool.sh's path (PROMTOOL=$(hack/promtool.sh))")
		}
		t.Skip("PROMTOOL is not set: make test sets it (hack/promtool.sh installs Debian's prometheus, for promtool)")
	}
	return bin
}

// ruleFiles writes the rendered PrometheusRule's groups as Prometheus
// rule files into dir: rules.yaml as rendered, and rules-tested.yaml
// without the descriptions (plain text, checked by promtool check rules),
// which the unit tests would otherwise repeat in full.
func ruleFiles(t *testing.T, dir string) (full, tested string) {
	t.Helper()
	var pr *unstructured.Unstructured
	for _, o := range render(t, monitoringOn...) {
		if o.GetKind() == "PrometheusRule" {
			pr = o
		}
	}
	if pr == nil {
		t.Fatal("no PrometheusRule rendered")
	}
	groups, ok, err := unstructured.NestedSlice(pr.Object, "spec", "groups")
	if err != nil || !ok {
		t.Fatalf("PrometheusRule spec.groups: %v", err)
	}
	write := func(name string, groups []any) string {
		b, err := yaml.Marshal(map[string]any{"groups": groups})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	full = write("rules.yaml", groups)
	stripped := deepCopy(groups)
	for _, g := range stripped {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			delete(r.(map[string]any)["annotations"].(map[string]any), "description")
		}
	}
	return full, write("rules-tested.yaml", stripped)
}

// deepCopy copies decoded YAML.
func deepCopy(groups []any) []any {
	b, _ := json.Marshal(groups)
	var out []any
	_ = json.Unmarshal(b, &out)
	return out
}

// TestAlertRules runs promtool on the rendered rules: check rules (syntax,
// templates), and test rules with charts/testdata/alerts_test.yaml, whose
// series make each alert fire when it should and stay quiet when not.
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	dir := t.TempDir()
	full, _ := ruleFiles(t, dir)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("check", "rules", full)
	tests, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	run("test", "rules", "alerts_test.yaml")
}

// TestAlertRulesCanFail: promtool test rules fails an expectation the
// rules do not meet, so TestAlertRules passing means something.
func TestAlertRulesCanFail(t *testing.T) {
	bin := promtool(t)
	dir := t.TempDir()
	ruleFiles(t, dir)
	wrong := `rule_files: [rules-tested.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'loglet_sink_up{namespace="shop", pod="web-1"}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 2m
        alertname: LogletHubUnreachable
        exp_alerts:
          - exp_labels: {severity: warning, namespace: shop, pod: web-1}
`
	if err := os.WriteFile(filepath.Join(dir, "wrong_test.yaml"), []byte(wrong), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "test", "rules", "wrong_test.yaml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "LogletHubUnreachable") {
		t.Errorf("promtool passed an alert expected after 2m of a 5m rule (err %v):\n%s", err, out)
	}
}
