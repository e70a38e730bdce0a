package logconfigctl_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/logconfig"
	"github.com/loglet/loglet/webhook"
	"github.com/loglet/loglet/webhook/logconfigctl"
)

// The controller reads the pod contract's annotations under its own
// names (it cannot import the webhook that registers it).
func TestAnnotationsAreTheWebhooks(t *testing.T) {
	if logconfigctl.AnnotationInject != webhook.AnnotationInject || logconfigctl.AnnotationStatus != webhook.AnnotationStatus {
		t.Errorf("annotations %s, %s; the webhook's are %s, %s", logconfigctl.AnnotationInject, logconfigctl.AnnotationStatus, webhook.AnnotationInject, webhook.AnnotationStatus)
	}
}

func decider() logconfigctl.Decider {
	cfg := webhookConfig()
	return func(pod *corev1.Pod, ns string, labels map[string]string) (bool, string) {
		d := webhook.Decide(pod, ns, labels, cfg)
		return d.Inject, d.Reason
	}
}

// TestUninjected: which pods opted in and miss their sidecar, and which
// a config counts, by the precedence the webhook documents.
func TestUninjected(t *testing.T) {
	web := logconfig.Entry{Kind: logconfig.KindLogConfig, Name: "web",
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Inputs: []v1alpha1.Input{{Name: "app", Files: []string{"/var/log/a/*.log"}}}}
	audit := logconfig.Entry{Kind: logconfig.KindLogConfig, Name: "audit", Containers: []string{"auditor"}, Inputs: web.Inputs}
	badsel := logconfig.Entry{Kind: logconfig.KindLogConfig, Name: "badsel", Inputs: web.Inputs,
		Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Maybe"}}}}
	cluster := logconfig.Entry{Kind: logconfig.KindClusterLogConfig, Name: "all", Inputs: web.Inputs}
	now := metav1.NewTime(time.Now())
	tests := []struct {
		name     string
		ns       string
		nsLabels map[string]string
		labels   map[string]string
		ann      map[string]string
		init     string // an init container's name
		phase    corev1.PodPhase
		deleted  bool
		entries  []logconfig.Entry
		want     string // part of the reason; "" none
		matched  bool   // web counts it
	}{
		{name: "selected by a LogConfig", labels: map[string]string{"app": "web"}, entries: []logconfig.Entry{web}, want: "selected by LogConfig web", matched: true},
		{name: "selected by two", labels: map[string]string{"app": "web"}, entries: []logconfig.Entry{web, cluster}, want: "selected by LogConfig web, ClusterLogConfig all", matched: true},
		{name: "injected", labels: map[string]string{"app": "web"}, ann: map[string]string{webhook.AnnotationStatus: "injected"}, entries: []logconfig.Entry{web}, matched: true},
		{name: "opted out wins over a LogConfig", labels: map[string]string{"app": "web"}, ann: map[string]string{webhook.AnnotationInject: "false"}, entries: []logconfig.Entry{web}},
		{name: "opted out wins over the namespace", nsLabels: map[string]string{webhook.NamespaceLabel: "enabled"}, ann: map[string]string{webhook.AnnotationInject: "false"}},
		{name: "annotation", ann: map[string]string{webhook.AnnotationInject: "true"}, want: "the pod opted in"},
		{name: "namespace label", nsLabels: map[string]string{webhook.NamespaceLabel: "enabled"}, want: "the namespace opted in"},
		{name: "not selected", labels: map[string]string{"app": "db"}, entries: []logconfig.Entry{web}},
		{name: "container filter leaves none", entries: []logconfig.Entry{audit}},
		{name: "selector does not parse", labels: map[string]string{"app": "web"}, entries: []logconfig.Entry{badsel}, matched: true},
		{name: "ended", labels: map[string]string{"app": "web"}, phase: corev1.PodSucceeded, entries: []logconfig.Entry{web}},
		{name: "failed", ann: map[string]string{webhook.AnnotationInject: "true"}, phase: corev1.PodFailed},
		{name: "pending counts", labels: map[string]string{"app": "web"}, phase: corev1.PodPending, entries: []logconfig.Entry{web}, want: "LogConfig web", matched: true},
		{name: "being deleted", labels: map[string]string{"app": "web"}, deleted: true, entries: []logconfig.Entry{web}, matched: true},
		{name: "static pod", ann: map[string]string{webhook.AnnotationInject: "true", corev1.MirrorPodAnnotationKey: "x"}},
		{name: "a container named like the sidecar", labels: map[string]string{"app": "web"}, init: webhook.SidecarName, entries: []logconfig.Entry{web}, matched: true},
		{name: "namespace never injected", ns: "kube-system", ann: map[string]string{webhook.AnnotationInject: "true"}},
		{name: "excluded namespace", ns: "quiet", labels: map[string]string{"app": "web"}, entries: []logconfig.Entry{web}, matched: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := tc.ns
			if ns == "" {
				ns = "shop"
			}
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p", Labels: tc.labels, Annotations: tc.ann},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
				Status:     corev1.PodStatus{Phase: tc.phase},
			}
			if tc.init != "" {
				pod.Spec.InitContainers = []corev1.Container{{Name: tc.init}}
			}
			if tc.deleted {
				pod.DeletionTimestamp = &now
			}
			got := logconfigctl.Uninjected(pod, tc.nsLabels, logconfigctl.NewSelectors(tc.entries), decider())
			if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
				t.Errorf("Uninjected = %q; want %q", got, tc.want)
			}
			if m := logconfigctl.NewSelector(web).Matched(pod); m != tc.matched {
				t.Errorf("Matched by web = %v; want %v", m, tc.matched)
			}
		})
	}
}

// TestEntries: what applies to a namespace, in order; invalid configs
// and namespaces never injected get nothing.
func TestEntries(t *testing.T) {
	in := []v1alpha1.Input{{Name: "app", Files: []string{"/var/log/a/*.log"}}}
	lc := func(ns, name string, inputs []v1alpha1.Input) v1alpha1.LogConfig {
		return v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.LogConfigSpec{Inputs: inputs}}
	}
	clc := func(name string, sel *metav1.LabelSelector) v1alpha1.ClusterLogConfig {
		return v1alpha1.ClusterLogConfig{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.ClusterLogConfigSpec{NamespaceSelector: sel, LogConfigSpec: v1alpha1.LogConfigSpec{Inputs: in}}}
	}
	configs := logconfigctl.NewConfigs(
		[]v1alpha1.LogConfig{lc("shop", "zeta", in), lc("shop", "alpha", in), lc("team", "other", in),
			lc("shop", "etc", []v1alpha1.Input{{Name: "x", Files: []string{"/etc/*.conf"}}}),
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "badsel"}, Spec: v1alpha1.LogConfigSpec{Inputs: in,
				Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Maybe"}}}}}},
		[]v1alpha1.ClusterLogConfig{clc("every", nil), clc("prod", &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}),
			clc("broken", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Maybe"}}})},
	)
	for key, want := range map[string]string{
		logconfigctl.Key(logconfig.KindLogConfig, "shop", "etc"):       "under /etc",
		logconfigctl.Key(logconfig.KindLogConfig, "shop", "badsel"):    "spec.selector",
		logconfigctl.Key(logconfig.KindClusterLogConfig, "", "broken"): "spec.namespaceSelector",
	} {
		if err := configs.Invalid[key]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want an error saying %q", key, err, want)
		}
	}
	if len(configs.Invalid) != 3 {
		t.Errorf("invalid: %v; want 3", configs.Invalid)
	}
	for _, tc := range []struct {
		ns     string
		labels map[string]string
		want   string
	}{
		{"shop", nil, "LogConfig/alpha LogConfig/zeta ClusterLogConfig/every"},
		{"shop", map[string]string{"env": "prod"}, "LogConfig/alpha LogConfig/zeta ClusterLogConfig/every ClusterLogConfig/prod"},
		{"team", nil, "LogConfig/other ClusterLogConfig/every"},
		{"kube-system", nil, ""},
		{"loglet-system", nil, ""},
		{"quiet", map[string]string{"env": "prod"}, ""},
	} {
		var got []string
		for _, e := range configs.Entries(decider(), tc.ns, tc.labels) {
			got = append(got, e.Kind+"/"+e.Name)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s %v: %q; want %q", tc.ns, tc.labels, strings.Join(got, " "), tc.want)
		}
	}
}

// TestRenderDeterministic: the same configs give the same bytes, the
// map keys of selectors sorted, so the ConfigMap is not rewritten.
func TestRenderDeterministic(t *testing.T) {
	e := logconfig.Entry{Kind: logconfig.KindLogConfig, Name: "web", Generation: 3,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"b": "2", "a": "1", "c": "3"}},
		Inputs:   []v1alpha1.Input{{Name: "app", Files: []string{"/var/log/a/*.log"}}}}
	first, err := logconfigctl.Render([]logconfig.Entry{e})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := logconfigctl.Render([]logconfig.Entry{e})
		if string(again) != string(first) {
			t.Fatalf("render differs:\n%s\n%s", first, again)
		}
	}
	want := `{"version":1,"configs":[{"kind":"LogConfig","name":"web","generation":3,"selector":{"matchLabels":{"a":"1","b":"2","c":"3"}},"inputs":[{"name":"app","files":["/var/log/a/*.log"]}]}]}`
	if string(first) != want {
		t.Errorf("render:\n%s\nwant:\n%s", first, want)
	}
	if r, err := logconfig.Parse(first); err != nil || len(r.Configs) != 1 {
		t.Errorf("the sidecar's parser: %+v, %v", r, err)
	}
}

// TestTrimPod keeps what the controller reads and drops the rest.
func TestTrimPod(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", UID: "u", Labels: map[string]string{"app": "web"},
			Annotations:     map[string]string{webhook.AnnotationInject: "true", corev1.LastAppliedConfigAnnotation: strings.Repeat("x", 1000)},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs"}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}},
			InitContainers: []corev1.Container{{Name: "init", Image: "x"}}, NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady}}},
	}
	out, err := logconfigctl.TrimPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	switch {
	case got.Name != "p" || got.Namespace != "shop" || got.UID != "u" || got.Labels["app"] != "web" || len(got.OwnerReferences) != 1:
		t.Errorf("metadata lost: %+v", got.ObjectMeta)
	case got.Annotations[webhook.AnnotationInject] != "true" || got.Annotations[corev1.LastAppliedConfigAnnotation] != "" || got.ManagedFields != nil:
		t.Errorf("annotations %v, managed fields %v; want inject kept, last-applied and managed fields dropped", got.Annotations, got.ManagedFields)
	case len(got.Spec.Containers) != 1 || got.Spec.Containers[0].Name != "app" || got.Spec.Containers[0].Image != "" || got.Spec.InitContainers[0].Name != "init":
		t.Errorf("containers %+v; want names only", got.Spec.Containers)
	case got.Status.Phase != corev1.PodRunning || got.Status.Conditions != nil:
		t.Errorf("status %+v; want the phase only", got.Status)
	}
	if pod.Annotations[corev1.LastAppliedConfigAnnotation] == "" {
		t.Errorf("the informer's object was changed")
	}
}
