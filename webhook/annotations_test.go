package webhook

import (
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
	_, d, warnings, err := Inject(p, "shop", nil, DefaultConfig())
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
	_, d, warnings, err := Inject(pod(a, "app"), "shop", nil, DefaultConfig())
	if err != nil || !d.Inject || len(warnings) != 0 {
		t.Fatalf("injected %v, warnings %d, err %v", d.Inject, len(warnings), err)
	}
}
