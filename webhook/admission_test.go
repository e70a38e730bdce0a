package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/loglet/loglet/sidecar/config"
)

// sidecarOf is the injected loglet container of pod, or nil.
func sidecarOf(pod *corev1.Pod) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == SidecarName {
				return &list[i]
			}
		}
	}
	return nil
}

// loadInjected loads the configuration the injected sidecar of pod
// (admitted into namespace ns) starts with, as the kubelet would hand it
// over: its arguments, its env with the downward-API values resolved the
// way the kubelet resolves them for a pod scheduled to node-a. It is the
// test's own reading of the container, independent of the webhook's check.
func loadInjected(pod *corev1.Pod, ns string) (config.Agent, error) {
	sc := sidecarOf(pod)
	if sc == nil {
		return config.Agent{}, fmt.Errorf("no %s container injected", SidecarName)
	}
	if len(sc.Args) == 0 || sc.Args[0] != "agent" || len(sc.Command) > 0 {
		return config.Agent{}, fmt.Errorf("the sidecar runs %q %q, not loglet agent", sc.Command, sc.Args)
	}
	name := pod.Name
	if name == "" {
		name = pod.GenerateName + "x7k2p"
	}
	var environ []string
	for _, e := range sc.Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil:
			v = map[string]string{"metadata.name": name, "metadata.namespace": ns,
				"metadata.uid": "6b1f3c0e-2d4a-4e9b-9c51-0a8f7e2d3b1c", "spec.nodeName": "node-a"}[e.ValueFrom.FieldRef.FieldPath]
			if v == "" {
				return config.Agent{}, fmt.Errorf("env %s: field %s the test cannot resolve", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			// What the kubelet reads from the Secret: its name and key.
			v = "nats://" + e.ValueFrom.SecretKeyRef.Name + ":4222/" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
			limit, ok := sc.Resources.Limits[corev1.ResourceMemory]
			if !ok {
				return config.Agent{}, fmt.Errorf("env %s: limits.memory of a container without a memory limit", e.Name)
			}
			v = fmt.Sprint(limit.Value())
		default:
			return config.Agent{}, fmt.Errorf("env %s: a source the test cannot resolve: %+v", e.Name, e.ValueFrom)
		}
		environ = append(environ, e.Name+"="+v)
	}
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.AgentFlags(fs)
	if err := fs.Parse(sc.Args[1:]); err != nil {
		return config.Agent{}, err
	}
	return config.Load(fs, environ)
}

// TestCSVFields: a pod that asks for format csv names its columns with
// loglet.io/csv-fields; without them it is denied, since its sidecar could
// not start, with a message naming both annotations and the fix.
func TestCSVFields(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		deny        string
		fields      []string
	}{
		{"csv without columns", map[string]string{AnnotationFormat: "csv"}, "annotation loglet.io/format=csv needs loglet.io/csv-fields, the column names (e.g. time,level,msg)", nil},
		{"csv with columns", map[string]string{AnnotationFormat: "csv", AnnotationCSVFields: "time, level,msg"}, "", []string{"time", "level", "msg"}},
		{"a column without a name", map[string]string{AnnotationFormat: "csv", AnnotationCSVFields: "time,,msg"}, `annotation loglet.io/csv-fields="time,,msg": column 2 has no name`, nil},
		{"columns without csv", map[string]string{AnnotationFormat: "json", AnnotationCSVFields: "time,level,msg"}, "", []string{"time", "level", "msg"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.csv"}
			for k, v := range tc.annotations {
				a[k] = v
			}
			p := pod(a, "app")
			resp := newTestHandler().Handle(t.Context(), review(t, podKind, p))
			if tc.deny != "" {
				if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, tc.deny) {
					t.Fatalf("allowed %v, result %+v; want a denial saying %q", resp.Allowed, resp.Result, tc.deny)
				}
				return
			}
			if !resp.Allowed {
				t.Fatalf("denied: %+v", resp.Result)
			}
			out, _, _, err := Inject(p, "shop", nil, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			c, err := loadInjected(out, "shop")
			if err != nil {
				t.Fatalf("the injected sidecar does not load: %v", err)
			}
			if len(c.Inputs) != 1 || !slices.Equal(c.Inputs[0].CSVFields, tc.fields) || c.Inputs[0].Format != tc.annotations[AnnotationFormat] {
				t.Errorf("inputs %+v, want format %s with columns %q", c.Inputs, tc.annotations[AnnotationFormat], tc.fields)
			}
		})
	}
}

// admitCase is one pod on its way to admission.
type admitCase struct {
	pod      *corev1.Pod
	ns       string
	nsLabels map[string]string
	cfg      int // index into admitConfigs
}

// admitConfigs are the clusters the property holds in: defaults, the
// sidecar as a plain container, agent settings from the chart.
func admitConfigs() []Config {
	classic := DefaultConfig()
	classic.NativeSidecar = false
	tuned := DefaultConfig()
	tuned.Agent = map[string]string{"LOGLET_BATCH_BYTES": "1MiB", "LOGLET_MEMORY_LIMIT": "none", "LOGLET_DRAIN_TIMEOUT": "40s"}
	noLimit := DefaultConfig()
	noLimit.Limits = corev1.ResourceList{}
	return []Config{DefaultConfig(), classic, tuned, noLimit}
}

// admitHandlers are handlers over admitConfigs, each answering with the
// namespace labels of the case (the labels are looked up by name).
func admitHandlers(labels func(ns string) map[string]string) []*Handler {
	var hs []*Handler
	for _, cfg := range admitConfigs() {
		hs = append(hs, NewHandler(cfg, func(_ context.Context, ns string) (map[string]string, error) { return labels(ns), nil }, nil, prometheus.NewRegistry()))
	}
	return hs
}

// checkAdmitted is the property: the pod goes through the admission
// handler; a denial names an annotation; an admitted, injected pod has a
// sidecar whose configuration loads in the agent (config.Load, read by
// the test from the container), and a second admission changes nothing.
// It returns whether the pod was injected.
func checkAdmitted(t *testing.T, h *Handler, cfg Config, c admitCase) (injected bool) {
	t.Helper()
	raw, err := json.Marshal(c.pod)
	if err != nil {
		t.Fatal(err)
	}
	resp := h.Handle(t.Context(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Kind: podKind, Namespace: c.ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}})
	out, d, _, err := Inject(c.pod, c.ns, c.nsLabels, cfg)
	annotations, _ := json.Marshal(c.pod.Annotations)
	switch {
	case resp.Result != nil && resp.Result.Code >= 500:
		t.Fatalf("pod with %s: admission errored: %s", annotations, resp.Result.Message)
	case !resp.Allowed:
		if err == nil {
			t.Fatalf("pod with %s: denied by the handler (%s) but Inject admits it", annotations, resp.Result.Message)
		}
		if msg := resp.Result.Message; !strings.Contains(msg, Prefix) {
			t.Fatalf("pod with %s: denied with %q, which names no annotation", annotations, msg)
		}
		return false
	case err != nil:
		t.Fatalf("pod with %s: admitted by the handler, Inject says %v", annotations, err)
	case !d.Inject:
		if len(resp.Patches) != 0 {
			t.Fatalf("pod with %s: not injected (%s) but patched", annotations, d.Reason)
		}
		return false
	}
	if len(resp.Patches) == 0 {
		t.Fatalf("pod with %s: injected without a patch", annotations)
	}
	if _, err := loadInjected(out, c.ns); err != nil {
		sc := sidecarOf(out)
		var env []corev1.EnvVar
		if sc != nil {
			env = sc.Env
		}
		t.Fatalf("pod with %s was admitted, but its sidecar does not load: %v\nenv: %+v", annotations, err, env)
	}
	again, d2, _, err := Inject(out, c.ns, c.nsLabels, cfg)
	if err != nil || d2.Inject || again != out {
		t.Fatalf("pod with %s: a second admission changed it (%v, %v)", annotations, d2.Inject, err)
	}
	return true
}

// goldenPods are the pods of testdata (not the golden results).
func goldenPods(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string][]byte{}
	for _, f := range files {
		if strings.HasSuffix(f, ".injected.yaml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pods[filepath.Base(f)] = b
	}
	if len(pods) == 0 {
		t.Fatal("no pods in testdata")
	}
	return pods
}

// TestGoldenPodsLoad: every pod of testdata, in every cluster setting,
// through admission: whenever it is admitted, its sidecar's configuration
// loads.
func TestGoldenPodsLoad(t *testing.T) {
	optIn := map[string]string{NamespaceLabel: "enabled"}
	hs := admitHandlers(func(string) map[string]string { return optIn })
	injected := 0
	for name, b := range goldenPods(t) {
		var p corev1.Pod
		if err := yaml.UnmarshalStrict(b, &p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, cfg := range admitConfigs() {
			t.Run(fmt.Sprintf("%s/config%d", name, i), func(t *testing.T) {
				if checkAdmitted(t, hs[i], cfg, admitCase{pod: &p, ns: p.Namespace, nsLabels: optIn}) {
					injected++
				}
			})
		}
	}
	if injected == 0 {
		t.Fatal("no golden pod was injected: the property was not tested")
	}
}

// podGen decodes fuzz input into a pod's annotations and containers: each
// byte picks one of a few values, good and bad, or a free string cut from
// the input.
type podGen struct{ b []byte }

func (g *podGen) next() int {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return int(c)
}

// free is a string cut from the input: its length, then its bytes.
func (g *podGen) free() string {
	n := min(g.next()%24, len(g.b))
	s := string(g.b[:n])
	g.b = g.b[n:]
	return s
}

// pick returns one of good (absent: the annotation is left out) most of
// the time, else one of bad or a free string: a pod is admitted often
// enough for the property to be tried on many sidecars.
func (g *podGen) pick(good, bad []string) (string, bool) {
	v := ""
	switch c := g.next(); {
	case c < 224 || len(g.b) == 0 && c == 0:
		v = good[c%len(good)]
	case c < 248 && len(bad) > 0:
		v = bad[c%len(bad)]
	default:
		return g.free(), true
	}
	return v, v != absent
}

const absent = "\x00absent"

var containerNames = []string{"app", "worker", "proxy"}

// generate builds a pod with 1 to 3 containers and loglet annotations.
func (g *podGen) generate() admitCase {
	p := &corev1.Pod{}
	p.Namespace = "shop"
	if g.next()%4 == 3 {
		p.GenerateName = "web-7d9f-"
	} else {
		p.Name = "web"
	}
	for i := range 1 + g.next()%3 {
		c := corev1.Container{Name: containerNames[i], Image: "ghcr.io/example/" + containerNames[i] + ":1"}
		if g.next()%2 == 0 {
			c.Command = []string{"/" + c.Name}
		}
		p.Spec.Containers = append(p.Spec.Containers, c)
	}
	if g.next()%3 == 2 {
		grace := int64(g.next() % 40)
		p.Spec.TerminationGracePeriodSeconds = &grace
	}
	a := map[string]string{}
	set := func(key string, good, bad []string) {
		if v, ok := g.pick(good, bad); ok {
			a[key] = v
		}
	}
	list := func(s ...string) []string { return s }
	set(AnnotationInject, list("true", "true", "true", absent), list("false", "True", "ture", ""))
	set(AnnotationPaths, list("app:/var/log/app/*.log", "app:/var/log/app/*.log, worker:/var/log/worker/*.json",
		"app:/var/log/app/*.log,app:/var/log/app/audit-*.json,app:/opt/logs/catalina.*.log", "proxy:/logs/access.log",
		"app:/var/log/app/", absent),
		list("/var/log/*.log", "app:var/log/*.log", "app:/etc/app/*.log", "db:/var/log/*.log", "app:/var/log/[.log",
			"app:/*.log", "app:/var/log/../secret/*", "app:/var/*/x.log", ""))
	set(AnnotationStdout, list("auto", "api", "wrap", "off", absent), list("Wrap", "sometimes", ""))
	set(AnnotationFormat, list("raw", "json", "logfmt", "nginx", "csv", "syslog", `regex:^(?P<level>\w+) (?P<msg>.*)$`, absent),
		list("regex:[", `regex:\w+`, "xml", "cri", "auto", "docker", "", "CSV"))
	set(AnnotationCSVFields, list("time,level,msg", "msg", "ts, lvl ,message", absent, absent), list("time,,msg", " ", "", ","))
	set(AnnotationMultilineStart, list(`^\d{4}-\d{2}-\d{2}`, `^\S`, absent, absent), list("^[", "", "(?P<x", `\`))
	set(AnnotationRoute, list("orders", "nginx_access_log", absent, absent), list("a.b", "", strings.Repeat("x", 65), "ä"))
	set(AnnotationEncoding, list("gbk", "utf-16le", "windows-1252", absent, absent), list("latin-42", "utf-17", "EBCDIC"))
	set(AnnotationSidecarCPU, list("50m", "900m", absent, absent), list("lots", "-1", "0"))
	set(AnnotationSidecarMemory, list("64Mi", "1Gi", "1", absent, absent), list("0", "x", "-1Mi"))
	p.Annotations = a
	var labels map[string]string
	if g.next()%3 == 2 {
		labels = map[string]string{NamespaceLabel: "enabled"}
	}
	return admitCase{pod: p, ns: p.Namespace, nsLabels: labels, cfg: g.next() % len(admitConfigs())}
}

// FuzzAdmissionLoads holds the property of checkAdmitted over generated
// pods: base is a pod as YAML (the golden pods seed it) whose annotations
// the choices then change; when it is no pod, the choices make one.
func FuzzAdmissionLoads(f *testing.F) {
	for _, b := range goldenPods(f) {
		f.Add(b, []byte{})
		f.Add(b, []byte{1, 0, 4, 0, 4, 3, 5, 0})
	}
	// Choices: name, containers, a command each, grace, then inject,
	// paths, stdout, format, csv-fields, multiline-start, route, cpu,
	// memory (each below 224 a good value, then a bad one, then free).
	for _, choices := range [][]byte{
		{0, 0, 0, 0, 0, 0, 0, 4, 3},                               // one container, csv without columns
		{0, 1, 0, 0, 0, 0, 1, 2, 4, 0, 0, 0},                      // two, wrap, csv with columns, multiline, route
		{0, 2, 1, 1, 1, 0, 0, 5, 3, 0},                            // three, stdout off without paths
		{0, 0, 0, 0, 0, 230, 0, 230},                              // bad paths, a bad regex
		{3, 0, 0, 0, 0, 0, 0, 0, 255, 5, 'x', 'm', 'l', '?', '{'}, // a free format
		{0, 0, 1, 2, 3, 0, 0, 1, 6, 3, 3, 3, 3, 2, 2},             // short grace, api, regex
	} {
		f.Add([]byte{}, choices)
	}
	cfgs := admitConfigs()
	labels := map[string]map[string]string{}
	var mu sync.Mutex
	hs := admitHandlers(func(ns string) map[string]string {
		mu.Lock()
		defer mu.Unlock()
		return labels[ns]
	})
	f.Fuzz(func(t *testing.T, base, choices []byte) {
		g := &podGen{b: choices}
		var c admitCase
		var p corev1.Pod
		if len(base) > 0 && len(base) < 8192 && yaml.Unmarshal(base, &p) == nil && len(p.Spec.Containers) > 0 && p.Namespace != "" {
			c = admitCase{pod: &p, ns: p.Namespace, nsLabels: map[string]string{NamespaceLabel: "enabled"}}
			if len(choices) > 0 {
				gen := g.generate()
				if p.Annotations == nil {
					p.Annotations = map[string]string{}
				}
				for k, v := range gen.pod.Annotations {
					p.Annotations[k] = v
				}
				c.nsLabels, c.cfg = gen.nsLabels, gen.cfg
			}
		} else {
			c = g.generate()
		}
		// Each fuzz worker is a process of its own: the namespace's
		// labels are the case's.
		mu.Lock()
		labels[c.ns] = c.nsLabels
		mu.Unlock()
		checkAdmitted(t, hs[c.cfg], cfgs[c.cfg], c)
	})
}

// TestAnyCharacterArrives: annotation values reach the agent exactly,
// whatever characters they hold; JSON leaves DEL, C1 controls and the
// byte-order mark raw, which the agent's reader (YAML, of which JSON is a
// part) refuses in a document.
func TestAnyCharacterArrives(t *testing.T) {
	for _, v := range []string{"^\x7f", "^\u0085 at|\u0080\u009f", "^\ufeffstart", "^\ufffe|\uffff", "tab\there"} {
		t.Run(fmt.Sprintf("%q", v), func(t *testing.T) {
			c := injectAndLoad(t, map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log",
				AnnotationMultilineStart: v, AnnotationFormat: "csv", AnnotationCSVFields: "a" + v + ",b"})
			if in := c.Inputs[0]; in.Multiline.Start != v || !slices.Equal(in.CSVFields, []string{"a" + v, "b"}) {
				t.Errorf("multiline-start %q, csv-fields %q; want %q and %q", in.Multiline.Start, in.CSVFields, v, []string{"a" + v, "b"})
			}
		})
	}
}

// TestStartDenials: a pod whose sidecar the agent's loader refuses is
// denied with a message naming the annotation at fault and the fix.
func TestStartDenials(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        string
	}{
		{"csv without columns", map[string]string{AnnotationPaths: "app:/var/log/app/*.csv", AnnotationFormat: "csv"},
			"annotation loglet.io/format=csv needs loglet.io/csv-fields, the column names (e.g. time,level,msg)"},
		{"nothing to read", map[string]string{AnnotationStdout: "off"},
			"annotation loglet.io/stdout=off without loglet.io/paths leaves the loglet sidecar nothing to read: give loglet.io/paths (e.g. app:/var/log/app/*.log), or capture the containers' output with loglet.io/stdout: auto"},
		{"regex without fields", map[string]string{AnnotationPaths: "app:/var/log/app/*.log", AnnotationFormat: `regex:\w+`},
			`annotation loglet.io/format="regex:\\w+": format regex:\w+ has no named groups`},
		{"route, after a good format", map[string]string{AnnotationPaths: "app:/var/log/app/*.log", AnnotationFormat: "json", AnnotationRoute: "a.b"},
			`annotation loglet.io/route="a.b": route: invalid value "a.b"`},
		{"two faults: the first the loader meets", map[string]string{AnnotationPaths: "app:/var/log/app/*.log", AnnotationMultilineStart: "(", AnnotationRoute: "a.b"},
			`annotation loglet.io/route="a.b"`},
		{"a misspelt preset", map[string]string{AnnotationPaths: "app:/var/log/app/*.log", AnnotationMultiline: "jav"},
			`annotation loglet.io/multiline="jav": multiline-preset "jav": want one of java, python, go, ruby, node, dotnet, auto (did you mean java?)`},
		{"a preset and a start pattern", map[string]string{AnnotationPaths: "app:/var/log/app/*.log", AnnotationMultiline: "java", AnnotationMultilineStart: "^x"},
			`annotation loglet.io/multiline="java": multiline-preset java with start, end or continue: give a preset or patterns, not both`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.annotations[AnnotationInject] = "true"
			resp := newTestHandler().Handle(t.Context(), review(t, podKind, pod(tc.annotations, "app")))
			if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, tc.want) {
				t.Fatalf("allowed %v, result %+v; want a denial saying %q", resp.Allowed, resp.Result, tc.want)
			}
		})
	}
}

// TestMultilinePresetAnnotation: loglet.io/multiline: java reaches the
// sidecar as its input's multiline preset, and the sidecar loads it.
func TestMultilinePresetAnnotation(t *testing.T) {
	c := injectAndLoad(t, map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log", AnnotationMultiline: "java"})
	if in := c.Inputs[0]; in.ParseConfig.MultilinePreset != "java" || !in.Parse.Multiline() {
		t.Errorf("the sidecar's input has multiline preset %q; want java", in.ParseConfig.MultilinePreset)
	}
}

// injectAndLoad injects a pod of one container, app, with annotations in
// namespace shop and loads its sidecar's configuration as the agent does.
func injectAndLoad(t *testing.T, annotations map[string]string) config.Agent {
	t.Helper()
	out, _, _, err := Inject(pod(annotations, "app"), "shop", nil, DefaultConfig())
	if err != nil {
		t.Fatalf("denied: %v", err)
	}
	c, err := loadInjected(out, "shop")
	if err != nil {
		t.Fatalf("the sidecar does not load: %v", err)
	}
	return c
}
