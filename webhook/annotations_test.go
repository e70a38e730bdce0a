package webhook

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(annotations map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Annotations: annotations}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: c + ":1"})
	}
	return p
}

// TestInvalidAnnotations: each bad value is denied with a message naming
// the annotation, the value and an accepted example.
func TestInvalidAnnotations(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{AnnotationPaths, "app:var/log/*.log", "not an absolute path"},
		{AnnotationPaths, "app:/var/log/../../etc/*.conf", "(a parent folder)"},
		{AnnotationPaths, "app:/", "over /"},
		{AnnotationPaths, "app:/*.log", "over /"},
		{AnnotationPaths, "app:/proc/1/*.log", "under /proc"},
		{AnnotationPaths, "app:/sys/kernel/*", "under /sys"},
		{AnnotationPaths, "app:/dev/*", "under /dev"},
		{AnnotationPaths, "app:/etc/*.conf", "under /etc"},
		{AnnotationPaths, "app:/var/run/secrets/kubernetes.io/serviceaccount/*", "under /var/run/secrets"},
		{AnnotationPaths, "db:/var/log/*.log", `no container "db"`},
		{AnnotationPaths, "/var/log/*.log", "names no container and the pod has 2"},
		{AnnotationPaths, "app:/var/*/logs/*.log", "folder must be plain"},
		{AnnotationPaths, "app:/var/log/[.log", "bad glob"},
		{AnnotationStdout, "sometimes", "auto, api, wrap or off"},
		{AnnotationStdout, "wrap", "container app has no command in its spec"},
		{AnnotationFormat, "xml", `format "xml"`},
		{AnnotationFormat, "regex:(?P<a>[", "does not compile"},
		{AnnotationMultilineStart, "^[0-9", "does not compile"},
		{AnnotationRoute, "a.b", "letters, digits"},
		{AnnotationEncoding, "latin-42", "unknown; want utf-8, utf-16le"},
		{AnnotationInputs, "syslog,otpl", `unknown input "otpl"; want lumberjack, otlp, syslog, syslog-udp (did you mean "otlp"?)`},
		{AnnotationInputs, "otlp,otlp", "otlp is named twice"},
		{AnnotationRemoveShipped, "rotatd", `want never or rotated (did you mean "rotated"?)`},
		{AnnotationRemoveShipped, "all", "want never or rotated"},
		{AnnotationRotatedPattern, "old/app.log.*", "globs on file names, without a slash"},
		{AnnotationRotatedPattern, "app.log.[0-9", "globs on file names"},
		{AnnotationSidecarCPU, "lots", "resource quantity"},
		{AnnotationSidecarMemory, "-64Mi", "resource quantity"},
	}
	for _, tc := range tests {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			p := pod(map[string]string{AnnotationInject: "true", tc.key: tc.value}, "app", "worker")
			_, _, _, err := Inject(p, "shop", nil, DefaultConfig())
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, want := range []string{tc.key, fmt.Sprintf("%q", tc.value), tc.want, "for example"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not mention %q", msg, want)
				}
			}
		})
	}
}

func TestUnknownAnnotationWarns(t *testing.T) {
	p := pod(map[string]string{AnnotationInject: "true", "loglet.io/pahts": "app:/var/log/*.log"}, "app")
	cfg := DefaultConfig()
	cfg.SidecarRBACNamespaces = []string{"shop"} // no warning for stdout: api
	_, d, warnings, err := Inject(p, "shop", nil, cfg)
	if err != nil || !d.Inject || len(warnings) != 1 || !strings.Contains(warnings[0], "loglet.io/pahts") {
		t.Fatalf("injected %v, warnings %q, err %v", d.Inject, warnings, err)
	}
}

func TestDecide(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExcludedNamespaces = []string{"legacy"}
	in := map[string]string{AnnotationInject: "true"}
	tests := []struct {
		name     string
		pod      *corev1.Pod
		ns       string
		labels   map[string]string
		expected bool
	}{
		{"opted in", pod(in, "app"), "shop", nil, true},
		{"kube-system never", pod(in, "app"), "kube-system", nil, false},
		{"kube-public never", pod(in, "app"), "kube-public", nil, false},
		{"own namespace never", pod(in, "app"), cfg.Namespace, nil, false},
		{"excluded namespace", pod(in, "app"), "legacy", nil, false},
		{"namespace label", pod(nil, "app"), "shop", map[string]string{NamespaceLabel: "enabled"}, true},
		{"namespace label, pod says false", pod(map[string]string{AnnotationInject: "false"}, "app"), "shop", map[string]string{NamespaceLabel: "enabled"}, false},
		{"namespace disabled", pod(nil, "app"), "shop", map[string]string{NamespaceLabel: "disabled"}, false},
		{"already has a loglet container", pod(in, "app", "loglet"), "shop", nil, false},
		{"not opted in", pod(map[string]string{AnnotationPaths: "app:/etc/*"}, "app"), "shop", nil, false},
	}
	for _, tc := range tests {
		if got := Decide(tc.pod, tc.ns, tc.labels, cfg); got.Inject != tc.expected {
			t.Errorf("%s: Decide = %+v, want inject %v", tc.name, got, tc.expected)
		}
	}
}

// TestManyAnnotations: 5,000 unrelated annotations neither slow nor break
// the decision.
func TestManyAnnotations(t *testing.T) {
	a := map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log"}
	for i := range 5000 {
		a[fmt.Sprintf("example.com/key-%d", i)] = "value"
	}
	cfg := DefaultConfig()
	cfg.SidecarRBACNamespaces = []string{"shop"} // no warning for stdout: api
	_, d, warnings, err := Inject(pod(a, "app"), "shop", nil, cfg)
	if err != nil || !d.Inject || len(warnings) != 0 {
		t.Fatalf("injected %v, warnings %d, err %v", d.Inject, len(warnings), err)
	}
}

// TestOptInWarnings: a pod that meant to opt in and did not, or whose
// sidecar will lack the RBAC its stdout mode needs, gets a warning
// (kubectl prints admission warnings; loglet inject prints them on
// standard error); a pod that says nothing of loglet, or opts out, none.
func TestOptInWarnings(t *testing.T) {
	bound := DefaultConfig()
	bound.SidecarRBACNamespaces = []string{"shop"}
	withCommand := func(p *corev1.Pod) *corev1.Pod {
		for i := range p.Spec.Containers {
			p.Spec.Containers[i].Command = []string{"/" + p.Spec.Containers[i].Name}
		}
		return p
	}
	paths := "app:/var/log/app/*.log"
	tests := []struct {
		name     string
		pod      *corev1.Pod
		ns       string
		labels   map[string]string
		cfg      Config
		injected bool
		want     []string // each a part of one warning; nil: no warning
	}{
		{name: "True", pod: pod(map[string]string{AnnotationInject: "True"}, "app"), want: []string{`loglet.io/inject="True"`, `not injected`, `loglet.io/inject: "true"`}},
		{name: "enabled", pod: pod(map[string]string{AnnotationInject: "enabled"}, "app"), want: []string{`loglet.io/inject="enabled"`, `namespace label`, `loglet.io/inject: "true"`}},
		{name: "yes", pod: pod(map[string]string{AnnotationInject: "yes", AnnotationPaths: paths}, "app"), want: []string{`loglet.io/inject="yes"`}},
		{name: "paths without inject", pod: pod(map[string]string{AnnotationPaths: paths}, "app"), want: []string{`loglet.io/paths`, `not loglet.io/inject: "true"`, `not injected`}},
		{name: "format without inject", pod: pod(map[string]string{AnnotationFormat: "json", AnnotationStdout: "api"}, "app"), want: []string{`loglet.io/format, loglet.io/stdout`}},
		{name: "misspelt inject", pod: pod(map[string]string{"loglet.io/injct": "true"}, "app"), want: []string{`loglet.io/injct`, `did you mean loglet.io/inject?`}},
		{name: "False in an opted-in namespace", pod: withCommand(pod(map[string]string{AnnotationInject: "False"}, "app")), labels: map[string]string{NamespaceLabel: "enabled"}, cfg: bound, injected: true, want: []string{`loglet.io/inject="False"`, `injected`, `namespace`}},
		{name: "opted out with paths", pod: pod(map[string]string{AnnotationInject: "false", AnnotationPaths: paths}, "app")},
		{name: "nothing of loglet", pod: pod(map[string]string{"example.com/x": "y"}, "app")},
		{name: "kube-system", pod: pod(map[string]string{AnnotationPaths: paths}, "app"), ns: "kube-system"},
		{name: "auto picks api, namespace not bound", pod: pod(map[string]string{AnnotationInject: "true"}, "app"), injected: true,
			want: []string{"stdout from the Kubernetes API", "container app has no command", "namespace shop", "rbac.sidecarNamespaces", "SECURITY.md"}},
		{name: "api, namespace not bound", pod: withCommand(pod(map[string]string{AnnotationInject: "true", AnnotationStdout: "api"}, "app")), injected: true,
			want: []string{"stdout from the Kubernetes API", "loglet.io/stdout: api", "namespace shop"}},
		{name: "auto picks api, namespace bound", pod: pod(map[string]string{AnnotationInject: "true"}, "app"), cfg: bound, injected: true},
		{name: "auto picks wrap", pod: withCommand(pod(map[string]string{AnnotationInject: "true"}, "app")), injected: true},
		{name: "stdout off", pod: pod(map[string]string{AnnotationInject: "true", AnnotationStdout: "off", AnnotationPaths: paths}, "app"), injected: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.Image == "" {
				cfg = DefaultConfig()
			}
			ns := tc.ns
			if ns == "" {
				ns = "shop"
			}
			_, d, warnings, err := Inject(tc.pod, ns, tc.labels, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if d.Inject != tc.injected {
				t.Errorf("injected %v (%s), want %v", d.Inject, d.Reason, tc.injected)
			}
			if tc.want == nil {
				if len(warnings) != 0 {
					t.Errorf("warnings %q, want none", warnings)
				}
				return
			}
			if len(warnings) != 1 {
				t.Fatalf("warnings %q, want one saying %q", warnings, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(warnings[0], w) {
					t.Errorf("warning %q does not say %q", warnings[0], w)
				}
			}
		})
	}
}

// TestHandlerWarns: the webhook answers a pod that meant to opt in and
// did not with an admission warning (AdmissionResponse.Warnings), which
// kubectl prints.
func TestHandlerWarns(t *testing.T) {
	h := newTestHandler()
	resp := h.Handle(context.Background(), review(t, podKind, pod(map[string]string{AnnotationInject: "True", AnnotationPaths: "app:/var/log/app/*.log"}, "app")))
	if !resp.Allowed || len(resp.Patches) != 0 {
		t.Fatalf("allowed %v with %d patches; want the pod admitted as it is", resp.Allowed, len(resp.Patches))
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], `loglet.io/inject="True"`) {
		t.Errorf("warnings %q, want one about loglet.io/inject=\"True\"", resp.Warnings)
	}
}
