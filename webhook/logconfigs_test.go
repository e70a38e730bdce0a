package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/logconfig"
)

// lcEntry is a LogConfig's entry selecting pods labelled app=<app>.
func lcEntry(name, app string, inputs ...v1alpha1.Input) logconfig.Entry {
	return logconfig.FromLogConfig(&v1alpha1.LogConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec:       v1alpha1.LogConfigSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}, Inputs: inputs},
	})
}

func filesInput(name, format string, files ...string) v1alpha1.Input {
	return v1alpha1.Input{Name: name, Files: files, Format: format}
}

// webPod is a pod labelled app=web with containers (with a command each
// when wrap is set, so stdout auto picks wrap).
func webPod(annotations map[string]string, wrap bool, containers ...string) *corev1.Pod {
	p := pod(annotations, containers...)
	p.Labels = map[string]string{"app": "web"}
	if wrap {
		for i := range p.Spec.Containers {
			p.Spec.Containers[i].Command = []string{"/" + p.Spec.Containers[i].Name}
		}
	}
	return p
}

// TestDecideWithLogConfigs: a LogConfig that selects a pod opts it in
// (the reason names it); the pod's own inject "false" wins; a config that
// selects none of its containers, or other labels, does not; namespaces
// never injected stay so.
func TestDecideWithLogConfigs(t *testing.T) {
	web := lcEntry("web", "web", filesInput("access", "", "/var/log/app/*.log"))
	web2 := lcEntry("web-2", "web", filesInput("access", "", "/var/log/app/*.log"))
	other := lcEntry("other", "other", filesInput("access", "", "/var/log/app/*.log"))
	sidecarOnly := web
	sidecarOnly.Containers = []string{"envoy"}
	tests := []struct {
		name        string
		annotations map[string]string
		ns          string
		nsLabels    map[string]string
		configs     []logconfig.Entry
		inject      bool
		reason      string
	}{
		{"selected", nil, "shop", nil, []logconfig.Entry{web}, true, "selected by LogConfig web"},
		{"selected by two", nil, "shop", nil, []logconfig.Entry{other, web, web2}, true, "selected by LogConfig web, LogConfig web-2"},
		{"the pod opts out", map[string]string{AnnotationInject: "false"}, "shop", nil, []logconfig.Entry{web}, false, "the pod opted out"},
		{"the annotation opts in first", map[string]string{AnnotationInject: "true"}, "shop", nil, []logconfig.Entry{web}, true, "the pod opted in"},
		{"other labels", nil, "shop", nil, []logconfig.Entry{other}, false, reasonNotOptedIn},
		{"none of its containers", nil, "shop", nil, []logconfig.Entry{sidecarOnly}, false, reasonNotOptedIn},
		{"kube-system", nil, "kube-system", nil, []logconfig.Entry{web}, false, "namespace kube-system is never injected"},
		// The registration's namespaceSelector leaves it out: the
		// controller must not report its pods as missing a sidecar.
		{"namespace disabled", nil, "shop", map[string]string{NamespaceLabel: "disabled"}, []logconfig.Entry{web}, false, "namespace shop is labelled loglet.io/inject=disabled"},
		{"no configs", nil, "shop", nil, nil, false, reasonNotOptedIn},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := webPod(tc.annotations, false, "app")
			_, d, _, err := InjectWith(p, tc.ns, tc.nsLabels, tc.configs, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			if d.Inject != tc.inject || d.Reason != tc.reason {
				t.Errorf("decision %+v, want inject %v because %q", d, tc.inject, tc.reason)
			}
		})
	}
}

// TestInjectWithLogConfigs: what the sidecar of a pod LogConfigs select
// starts with, as the agent loads it (loadInjected): their inputs after
// the annotation's, each file's folder shared once, stdout captured when
// an input reads it, the sink from the first config's Secret.
func TestInjectWithLogConfigs(t *testing.T) {
	type want struct {
		inputs   []string            // names, in order
		files    map[string][]string // input → files
		stdout   string              // the sidecar's capture
		mounts   map[string][]string // container → folders mounted from the shared volume
		sink     string
		warnings []string // each warning holds one of these
	}
	sinkA := lcEntry("a", "web", filesInput("x", "json", "/var/log/app/*.json"))
	sinkA.Sink = &v1alpha1.SinkRef{SecretName: "team-a"}
	sinkB := lcEntry("b", "web", filesInput("y", "", "/var/log/app/*.txt"))
	sinkB.Sink = &v1alpha1.SinkRef{SecretName: "team-b", Key: "url"}
	onlyApp := lcEntry("only-app", "web", filesInput("x", "", "/var/log/x/*.log"))
	onlyApp.Containers = []string{"app"}
	tests := []struct {
		name        string
		annotations map[string]string
		wrap        bool
		containers  []string
		configs     []logconfig.Entry
		want        want
	}{
		{name: "no annotation: the LogConfig's input only", containers: []string{"app"},
			configs: []logconfig.Entry{lcEntry("web", "web", filesInput("access", "nginx", "/var/log/nginx/access*.log"))},
			want: want{inputs: []string{"web/access"}, files: map[string][]string{"web/access": {"/var/loglet/c/app/0/access*.log"}},
				stdout: "off", mounts: map[string][]string{"app": {"/var/log/nginx"}}}},
		{name: "annotation and LogConfig share a folder, mounted once", containers: []string{"app"},
			annotations: map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log", AnnotationStdout: "off"},
			configs:     []logconfig.Entry{lcEntry("web", "web", filesInput("json", "json", "/var/log/app/*.json", "/var/log/audit/*.log"))},
			want: want{inputs: []string{"default", "web/json"},
				files:  map[string][]string{"default": {"/var/loglet/c/app/0/*.log"}, "web/json": {"/var/loglet/c/app/0/*.json", "/var/loglet/c/app/1/*.log"}},
				stdout: "off", mounts: map[string][]string{"app": {"/var/log/app", "/var/log/audit"}}}},
		{name: "two LogConfigs select one container, in order", containers: []string{"app"},
			configs: []logconfig.Entry{
				lcEntry("a", "web", filesInput("x", "json", "/var/log/app/*.json")),
				lcEntry("b", "web", filesInput("y", "logfmt", "/var/log/app/*.txt")),
			},
			want: want{inputs: []string{"a/x", "b/y"},
				files:  map[string][]string{"a/x": {"/var/loglet/c/app/0/*.json"}, "b/y": {"/var/loglet/c/app/0/*.txt"}},
				stdout: "off", mounts: map[string][]string{"app": {"/var/log/app"}}}},
		{name: "a stdout input turns the capture on (auto: wrap)", wrap: true, containers: []string{"app", "worker"},
			configs: []logconfig.Entry{lcEntry("web", "web", v1alpha1.Input{Name: "out", Stdout: true, Format: "json"})},
			want: want{inputs: []string{"web/out"},
				files:  map[string][]string{"web/out": {"/var/loglet/stdout/app/*.log", "/var/loglet/stdout/worker/*.log"}},
				stdout: "wrap", mounts: map[string][]string{"app": {"/.loglet/bin", "/.loglet/stdout"}, "worker": {"/.loglet/bin", "/.loglet/stdout"}}}},
		{name: "a stdout input overrides the pod's stdout off", containers: []string{"app"},
			annotations: map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log", AnnotationStdout: "off"},
			configs:     []logconfig.Entry{lcEntry("web", "web", v1alpha1.Input{Name: "out", Stdout: true})},
			want: want{inputs: []string{"default", "web/out"},
				files:  map[string][]string{"default": {"/var/loglet/c/app/0/*.log"}, "web/out": {"/var/loglet/stdout/app/*.log"}},
				stdout: "api", mounts: map[string][]string{"app": {"/var/log/app"}},
				warnings: []string{"annotation loglet.io/stdout=off is overridden: LogConfig web input out reads the containers' stdout"}}},
		{name: "containers limits the config", containers: []string{"app", "envoy"},
			configs: []logconfig.Entry{onlyApp},
			want: want{inputs: []string{"only-app/x"}, files: map[string][]string{"only-app/x": {"/var/loglet/c/app/0/*.log"}},
				stdout: "off", mounts: map[string][]string{"app": {"/var/log/x"}}}},
		{name: "the first sink wins, the second is warned about", containers: []string{"app"},
			configs: []logconfig.Entry{sinkA, sinkB},
			want: want{inputs: []string{"a/x", "b/y"},
				files:  map[string][]string{"a/x": {"/var/loglet/c/app/0/*.json"}, "b/y": {"/var/loglet/c/app/0/*.txt"}},
				stdout: "off", mounts: map[string][]string{"app": {"/var/log/app"}}, sink: "nats://team-a:4222/sink",
				warnings: []string{"LogConfig b names sink Secret team-b key url, LogConfig a names Secret team-a key sink: the sidecar ships to the first, LogConfig a's"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := webPod(tc.annotations, tc.wrap, tc.containers...)
			out, d, warnings, err := InjectWith(p, "shop", nil, tc.configs, DefaultConfig())
			if err != nil || !d.Inject {
				t.Fatalf("inject: %+v, %v", d, err)
			}
			agent, err := loadInjected(out, "shop")
			if err != nil {
				t.Fatalf("the sidecar would not start: %v", err)
			}
			var names []string
			files := map[string][]string{}
			for _, in := range agent.Inputs {
				names = append(names, in.Name)
				files[in.Name] = in.Files
			}
			if !slices.Equal(names, tc.want.inputs) {
				t.Errorf("inputs %q, want %q", names, tc.want.inputs)
			}
			for name, want := range tc.want.files {
				if !slices.Equal(files[name], want) {
					t.Errorf("input %s reads %q, want %q", name, files[name], want)
				}
			}
			if agent.Sidecar.Stdout != tc.want.stdout {
				t.Errorf("stdout %s, want %s", agent.Sidecar.Stdout, tc.want.stdout)
			}
			if agent.Sidecar.LogConfigFile != logconfig.File {
				t.Errorf("logconfig-file %q, want %q", agent.Sidecar.LogConfigFile, logconfig.File)
			}
			for _, c := range out.Spec.Containers {
				if c.Name == SidecarName {
					continue
				}
				var got []string
				for _, m := range c.VolumeMounts {
					got = append(got, m.MountPath)
					if m.MountPath == "/.loglet/bin" || m.MountPath == "/.loglet/stdout" {
						continue
					}
					// The agent finds each shared folder where it is mounted.
					if agent.Sidecar.Mounts[c.Name][m.MountPath] != m.SubPath {
						t.Errorf("container %s mounts %s from %s; container-mounts says %q", c.Name, m.MountPath, m.SubPath, agent.Sidecar.Mounts[c.Name][m.MountPath])
					}
				}
				if !slices.Equal(got, tc.want.mounts[c.Name]) {
					t.Errorf("container %s mounts %q, want %q", c.Name, got, tc.want.mounts[c.Name])
				}
			}
			wantSink := tc.want.sink
			if wantSink == "" {
				wantSink = DefaultConfig().Sink
			}
			if agent.Sink != wantSink {
				t.Errorf("sink %q, want %q", agent.Sink, wantSink)
			}
			for _, w := range tc.want.warnings {
				if !slices.ContainsFunc(warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("warnings %q, want one saying %q", warnings, w)
				}
			}
			if len(warnings) != len(tc.want.warnings) && !(agent.Sidecar.Stdout == "api" && len(warnings) == len(tc.want.warnings)+1) {
				t.Errorf("warnings %q, want %d", warnings, len(tc.want.warnings))
			}
		})
	}
}

// TestLogConfigFolderTaken: a folder a LogConfig's files need, where the
// container mounts a volume of its own, cannot be shared: the pod is
// admitted (a central config must not stop an app's rollout) and told
// which files are not read.
func TestLogConfigFolderTaken(t *testing.T) {
	p := webPod(nil, false, "app")
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "logs", MountPath: "/var/log/app"}}
	configs := []logconfig.Entry{lcEntry("web", "web", filesInput("a", "", "/var/log/app/*.log"), filesInput("b", "", "/var/log/b/*.log"))}
	out, d, warnings, err := InjectWith(p, "shop", nil, configs, DefaultConfig())
	if err != nil || !d.Inject {
		t.Fatalf("inject: %+v, %v", d, err)
	}
	if got := out.Spec.Containers[0].VolumeMounts; len(got) != 2 || got[0].Name != "logs" || got[1].MountPath != "/var/log/b" {
		t.Errorf("mounts %+v: want the container's own at /var/log/app kept and the shared volume at /var/log/b", got)
	}
	want := []string{"container app already mounts volume logs at /var/log/app", "input web/a: app:/var/log/app/*.log not shared"}
	for _, w := range want {
		if !slices.ContainsFunc(warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("warnings %q, want one saying %q", warnings, w)
		}
	}
	agent, err := loadInjected(out, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(agent.Inputs) != 1 || agent.Inputs[0].Name != "web/b" {
		t.Errorf("inputs %+v, want web/b only (web/a reads nothing in this pod)", agent.Inputs)
	}
}

// TestHandlerClusterLogConfigs: the handler applies the ClusterLogConfigs
// whose namespaceSelector selects the pod's namespace, looking the
// namespace's labels up only when one has a selector.
func TestHandlerClusterLogConfigs(t *testing.T) {
	clc := func(name string, nsSel map[string]string) *v1alpha1.ClusterLogConfig {
		c := &v1alpha1.ClusterLogConfig{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if nsSel != nil {
			c.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: nsSel}
		}
		c.Spec.Inputs = []v1alpha1.Input{filesInput("all", "", "/var/log/app/*.log")}
		return c
	}
	tests := []struct {
		name     string
		clusters []*v1alpha1.ClusterLogConfig
		nsLabels map[string]string
		applied  bool
		lookups  int
	}{
		{"no selector: every namespace, no lookup", []*v1alpha1.ClusterLogConfig{clc("all", nil)}, nil, true, 0},
		{"selector matches", []*v1alpha1.ClusterLogConfig{clc("team", map[string]string{"team": "a"})}, map[string]string{"team": "a"}, true, 1},
		{"selector does not match", []*v1alpha1.ClusterLogConfig{clc("team", map[string]string{"team": "a"})}, map[string]string{"team": "b"}, false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lookups := 0
			ns := func(_ context.Context, name string) (map[string]string, error) {
				lookups++
				return tc.nsLabels, nil
			}
			configs := func(context.Context, string) ([]logconfig.Entry, []*v1alpha1.ClusterLogConfig, error) {
				return nil, tc.clusters, nil
			}
			h := NewHandler(DefaultConfig(), ns, configs, prometheus.NewRegistry())
			p := webPod(map[string]string{AnnotationInject: "true"}, false, "app")
			resp := h.Handle(t.Context(), review(t, podKind, p))
			if !resp.Allowed {
				t.Fatalf("denied: %v", resp.Result)
			}
			if lookups != tc.lookups {
				t.Errorf("%d namespace lookups, want %d", lookups, tc.lookups)
			}
			// The sidecar's document, in the patch, names the inputs.
			patch, err := json.Marshal(resp.Patches)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.clusters {
				name := `\"name\": \"cluster/` + c.Name + `/all\"`
				if got := strings.Contains(string(patch), name); got != tc.applied {
					t.Errorf("the sidecar reads cluster/%s/all: %v, want %v", c.Name, got, tc.applied)
				}
			}
		})
	}
}

// TestLogConfigsFromSkipsInvalid: the source lists only the configs the
// validating webhook would accept (one created before the webhook, or
// while it was down, never reaches a pod).
func TestLogConfigsFromSkipsInvalid(t *testing.T) {
	scheme := kubetest.Scheme(t)
	good := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "good", Namespace: "shop", UID: "1"},
		Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{filesInput("a", "json", "/var/log/app/*.log")}}}
	bad := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "shop", UID: "2"},
		Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{filesInput("a", "regex:(", "/var/log/app/*.log")}}}
	elsewhere := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "other", UID: "3"},
		Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{filesInput("a", "", "/var/log/app/*.log")}}}
	badCluster := &v1alpha1.ClusterLogConfig{ObjectMeta: metav1.ObjectMeta{Name: "bad", UID: "4"},
		Spec: v1alpha1.ClusterLogConfigSpec{LogConfigSpec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{filesInput("a", "xml", "/var/log/app/*.log")}}}}
	cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(good, bad, elsewhere, badCluster).Build()
	src := LogConfigsFrom(cl)
	for range 2 { // the second time from what it remembers
		entries, clusters, err := src(t.Context(), "shop")
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name != "good" || len(clusters) != 0 {
			t.Errorf("entries %+v, clusters %d; want good only", entries, len(clusters))
		}
	}
}

// TestValidatorMessages: the validating webhook refuses a LogConfig or
// ClusterLogConfig whose inputs would not load, with the message a pod
// annotation gets for the same mistake (its problem, after the name of
// the input and key).
func TestValidatorMessages(t *testing.T) {
	lcKind := metav1.GroupVersionKind{Group: "loglet.io", Version: "v1alpha1", Kind: "LogConfig"}
	clcKind := metav1.GroupVersionKind{Group: "loglet.io", Version: "v1alpha1", Kind: "ClusterLogConfig"}
	// The annotation's problem for the same mistake.
	problem := func(t *testing.T, annotations map[string]string) string {
		a := map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log"}
		for k, v := range annotations {
			a[k] = v
		}
		_, _, _, err := Inject(pod(a, "app"), "shop", nil, DefaultConfig())
		var invalid *InvalidError
		if !errors.As(err, &invalid) {
			t.Fatalf("the annotation's error %v is no InvalidError", err)
		}
		return invalid.Problem
	}
	tests := []struct {
		name       string
		in         v1alpha1.Input
		annotation map[string]string
		start      string // what the denial starts with
	}{
		{"an invalid regex", filesInput("app", "regex:(", "/var/log/app/*.log"), map[string]string{AnnotationFormat: "regex:("}, "LogConfig web: spec.inputs: "},
		{"an unknown format", filesInput("app", "xml", "/var/log/app/*.log"), map[string]string{AnnotationFormat: "xml"}, "LogConfig web: spec.inputs: "},
		{"a path under /etc", filesInput("app", "", "/etc/app/*.log"), map[string]string{AnnotationPaths: "app:/etc/app/*.log"}, "LogConfig web: spec.inputs[0] (app): files: "},
		{"a bad multiline start", v1alpha1.Input{Name: "app", Files: []string{"/var/log/app/*.log"}, Multiline: &v1alpha1.Multiline{Start: "[a-"}},
			map[string]string{AnnotationMultilineStart: "[a-"}, "LogConfig web: spec.inputs: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := problem(t, tc.annotation)
			lc := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{tc.in}}}
			req := review(t, lcKind, lc)
			req.Name = "web"
			resp := Validator{}.Handle(t.Context(), req)
			if resp.Allowed || resp.Result == nil || !strings.HasPrefix(resp.Result.Message, tc.start) || !strings.Contains(resp.Result.Message, want) {
				t.Errorf("LogConfig: allowed %v, %v; want a denial starting %q holding the annotation's %q", resp.Allowed, resp.Result, tc.start, want)
			}
			clc := &v1alpha1.ClusterLogConfig{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1alpha1.ClusterLogConfigSpec{LogConfigSpec: lc.Spec}}
			req = review(t, clcKind, clc)
			req.Name = "web"
			resp = Validator{}.Handle(t.Context(), req)
			if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "ClusterLogConfig web: ") || !strings.Contains(resp.Result.Message, want) {
				t.Errorf("ClusterLogConfig: allowed %v, %v; want a denial holding %q", resp.Allowed, resp.Result, want)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		lc := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1alpha1.LogConfigSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Inputs:   []v1alpha1.Input{filesInput("app", "json", "/var/log/app/*.log"), {Name: "out", Stdout: true}}}}
		if resp := (Validator{}).Handle(t.Context(), review(t, lcKind, lc)); !resp.Allowed {
			t.Errorf("a valid LogConfig was refused: %v", resp.Result)
		}
	})
	t.Run("a bad namespace selector", func(t *testing.T) {
		clc := &v1alpha1.ClusterLogConfig{Spec: v1alpha1.ClusterLogConfigSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Sometimes"}}},
			LogConfigSpec:     v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{filesInput("app", "", "/var/log/app/*.log")}}}}
		resp := Validator{}.Handle(t.Context(), review(t, clcKind, clc))
		if resp.Allowed || !strings.Contains(resp.Result.Message, "spec.namespaceSelector") {
			t.Errorf("allowed %v, %v; want a denial naming spec.namespaceSelector", resp.Allowed, resp.Result)
		}
	})
	t.Run("a pod is not its kind", func(t *testing.T) {
		resp := Validator{}.Handle(t.Context(), review(t, podKind, pod(nil, "app")))
		if resp.Allowed || resp.Result.Code != 400 {
			t.Errorf("a pod sent to the validator: allowed %v, %v; want an error", resp.Allowed, resp.Result)
		}
	})
}

// TestPreviewLogConfigs: `loglet inject`'s offline rules: a LogConfig
// applies to the pods of its own namespace only; a Namespace in the
// stream is known with its labels (the opt-in label, a ClusterLogConfig's
// namespaceSelector); a ClusterLogConfig with a namespaceSelector is not
// applied where the namespace is not in the stream, said once.
func TestPreviewLogConfigs(t *testing.T) {
	const podIn = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s, labels: {app: web}}\nspec: {containers: [{name: app, image: a, command: [/a]}]}\n"
	podOf := func(name, ns string) string { return fmt.Sprintf(podIn, name, ns) }
	const lc = "apiVersion: loglet.io/v1alpha1\nkind: LogConfig\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {matchLabels: {app: web}}\n  inputs: [{name: a, files: [/var/log/app/*.log]}]\n"
	const clc = "apiVersion: loglet.io/v1alpha1\nkind: ClusterLogConfig\nmetadata: {name: team}\nspec:\n  namespaceSelector: {matchLabels: {team: a}}\n  inputs: [{name: a, files: [/var/log/app/*.log]}]\n"
	const nsTeam = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-a, labels: {team: a}}\n"
	const nsOptIn = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: opted, labels: {loglet.io/inject: enabled}}\n"
	tests := []struct {
		name     string
		in       string
		injected []string // pods injected, by name
		warnings int
	}{
		{"a LogConfig applies in its namespace only", lc + podOf("in-shop", "shop") + podOf("in-other", "other"), []string{"in-shop"}, 0},
		{"a Namespace's opt-in label", nsOptIn + podOf("opted-pod", "opted") + podOf("other-pod", "other"), []string{"opted-pod"}, 0},
		{"a ClusterLogConfig and the Namespaces in the stream", clc + nsTeam + podOf("a1", "team-a") + podOf("b1", "team-b") + podOf("b2", "team-b"), []string{"a1"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, warn bytes.Buffer
			if err := (Preview{Config: DefaultConfig(), Warn: &warn}).Write(&out, Source{Name: "in.yaml", Data: []byte(tc.in)}); err != nil {
				t.Fatal(err)
			}
			var injected []string
			for _, doc := range strings.Split(out.String(), "\n---\n") {
				if strings.Contains(doc, "loglet.io/status: injected") {
					var p corev1.Pod
					if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
						t.Fatal(err)
					}
					injected = append(injected, p.Name)
				}
			}
			if !slices.Equal(injected, tc.injected) {
				t.Errorf("injected %q, want %q", injected, tc.injected)
			}
			if n := strings.Count(warn.String(), "\n"); n != tc.warnings {
				t.Errorf("%d warnings, want %d:\n%s", n, tc.warnings, warn.String())
			}
		})
	}
}

// TestLogConfigsFromValidatesOnce: each config's generation is validated
// once, however the namespaces admitted interleave (a namespace without
// LogConfigs once made it forget them all, and re-validate 100 configs
// at the next admission in theirs).
func TestLogConfigsFromValidatesOnce(t *testing.T) {
	scheme := kubetest.Scheme(t)
	b := fake.NewClientBuilder().WithScheme(scheme)
	for i := range 100 {
		b = b.WithObjects(&v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("lc-%03d", i), Namespace: "shop", UID: types.UID(fmt.Sprint(i)), Generation: 1},
			Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{filesInput("a", "json", "/var/log/app/*.log")}}})
	}
	checks := 0
	src := logConfigsFrom(b.Build(), func(v1alpha1.LogConfigSpec) error { checks++; return nil }, logconfig.ValidateCluster)
	for _, ns := range []string{"shop", "empty", "shop", "empty", "shop"} {
		if _, _, err := src(t.Context(), ns); err != nil {
			t.Fatal(err)
		}
	}
	if checks != 100 {
		t.Errorf("%d validations for 100 configs admitted in turn with another namespace; want 100", checks)
	}
}

// TestHandlerLogConfigsUnreadable: when the LogConfigs cannot be read
// (the cache not synced in time, no RBAC to list them), a pod its
// annotations opt in is still injected, with a warning that says why
// its LogConfigs are missing; the read does not hold the admission
// past configsTimeout.
func TestHandlerLogConfigsUnreadable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		configs LogConfigs
	}{
		{"an error", func(context.Context, string) ([]logconfig.Entry, []*v1alpha1.ClusterLogConfig, error) {
			return nil, nil, errors.New(`logconfigs.loglet.io is forbidden`)
		}},
		{"no answer", func(ctx context.Context, _ string) ([]logconfig.Entry, []*v1alpha1.ClusterLogConfig, error) {
			<-ctx.Done() // as the cache's List waits for a sync that does not come
			return nil, nil, ctx.Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHandler(DefaultConfig(), nil, tc.configs, prometheus.NewRegistry())
			resp := h.Handle(t.Context(), review(t, podKind, webPod(map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log"}, true, "app")))
			if !resp.Allowed || len(resp.Patches) == 0 {
				t.Fatalf("allowed %v with %d patches (%v); want the pod injected by its annotations", resp.Allowed, len(resp.Patches), resp.Result)
			}
			if !slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.Contains(w, "LogConfigs could not be read") }) {
				t.Errorf("warnings %q; want one saying the LogConfigs could not be read", resp.Warnings)
			}
		})
	}
}
