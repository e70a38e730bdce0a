package webhook

import (
	"bytes"
	"io"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/loglet/loglet/internal/textdiff"
)

// workloads starts with "---" and holds an empty document: both as
// kubectl accepts them.
const workloads = `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations:
        loglet.io/inject: "true"
        loglet.io/paths: app:/var/log/app/*.log
    spec:
      containers:
      - name: app
        image: ghcr.io/example/web:1.4.2
---
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: untouched
data:
  a: b
---
apiVersion: batch/v1
kind: Job
metadata:
  name: report
  namespace: batch
spec:
  template:
    metadata:
      annotations:
        loglet.io/inject: "true"
    spec:
      restartPolicy: Never
      containers:
      - name: report
        image: ghcr.io/example/report:3
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: batch
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
            loglet.io/inject: "true"
            loglet.io/paths: report:/tmp/report/*.log
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: ghcr.io/example/report:3
`

// TestInjectManifests: loglet inject gives each pod template what the
// webhook gives a pod made from it.
func TestInjectManifests(t *testing.T) {
	var out, warn bytes.Buffer
	if err := (Preview{Config: DefaultConfig(), Warn: &warn}).Write(&out, Source{Name: "workloads.yaml", Data: []byte(workloads)}); err != nil {
		t.Fatal(err)
	}
	// The leading "---" and the empty document stay as written.
	var docs []string
	for _, d := range strings.Split(out.String(), "---\n") {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, d)
		}
	}
	var inputs []string
	for _, in := range strings.Split(workloads, "---\n") {
		if strings.TrimSpace(in) != "" {
			inputs = append(inputs, in)
		}
	}
	if len(docs) != 4 {
		t.Fatalf("got %d documents, want 4", len(docs))
	}
	if !strings.Contains(docs[1], "name: untouched") || strings.Contains(docs[1], "loglet") {
		t.Errorf("the ConfigMap changed:\n%s", docs[1])
	}
	for _, i := range []int{0, 2, 3} {
		got, ns := template(t, docs[i]), []string{"shop", "", "batch", "batch"}[i]
		if got.Annotations[AnnotationStatus] != "injected" {
			t.Errorf("document %d: template not injected", i+1)
			continue
		}
		// What the webhook makes of a pod from the original template.
		orig := template(t, inputs[i])
		want, _, _, err := Inject(&corev1.Pod{ObjectMeta: orig.ObjectMeta, Spec: orig.Spec}, ns, nil, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		gotYAML, _ := yaml.Marshal(got.Spec)
		wantYAML, _ := yaml.Marshal(want.Spec)
		if !bytes.Equal(gotYAML, wantYAML) {
			t.Errorf("document %d: the template differs from the webhook's pod:\n%s", i+1, textdiff.First(string(wantYAML), string(gotYAML)))
		}
	}
}

// template returns the pod template of a Deployment, Job or CronJob.
func template(t *testing.T, doc string) corev1.PodTemplateSpec {
	t.Helper()
	var meta struct{ Kind string }
	yaml.Unmarshal([]byte(doc), &meta)
	var d appsv1.Deployment
	var j batchv1.Job
	var c batchv1.CronJob
	objs := map[string]any{"Deployment": &d, "Job": &j, "CronJob": &c}
	obj, ok := objs[meta.Kind]
	if !ok {
		t.Fatalf("unexpected kind %q", meta.Kind)
	}
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		t.Fatalf("%s: %v", meta.Kind, err)
	}
	switch meta.Kind {
	case "Deployment":
		return d.Spec.Template
	case "Job":
		return j.Spec.Template
	}
	return c.Spec.JobTemplate.Spec.Template
}

func TestInjectManifestsInvalid(t *testing.T) {
	bad := strings.Replace(workloads, "app:/var/log/app/*.log", "app:/etc/*.conf", 1)
	err := Preview{Config: DefaultConfig(), Warn: io.Discard}.Write(io.Discard, Source{Name: "bad.yaml", Data: []byte(bad)})
	if err == nil || !strings.Contains(err.Error(), "Deployment web") || !strings.Contains(err.Error(), "under /etc") {
		t.Fatalf("err %v, want the webhook's message naming the Deployment", err)
	}
}

// FuzzPreview: no input makes loglet inject panic; a stream that names
// no loglet annotation comes back byte for byte, and the documents the
// splitter cuts put together are the input.
func FuzzPreview(f *testing.F) {
	for _, seed := range []string{
		workloads,
		"---\n# only a comment\n---\n",
		"apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {annotations: {loglet.io/inject: \"true\"}}\n  spec: {containers: [{name: app, image: a}]}\n",
		"kind: Deployment\nspec:\n  template:\n    metadata:\n    spec: {containers: [{name: app, image: a, command: [x]}]}\n",
		"{\"kind\": \"Pod\", \"metadata\": {\"annotations\": {\"loglet.io/inject\": \"true\"}}, \"spec\": {\"containers\": [{\"name\": \"a\", \"image\": \"b\"}]}}",
		"a: &x {b: 1}\nc: *x\n",
		"--- \r\nkind: Pod\r\n...\r\n",
		"- 1\n- 2\n",
		// LogConfigs apply to the pods of the stream (offline.go).
		"apiVersion: loglet.io/v1alpha1\nkind: LogConfig\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {matchLabels: {app: web}}\n  inputs: [{name: a, files: [/var/log/app/*.log], format: json}]\n---\nkind: Pod\nmetadata: {name: p, namespace: shop, labels: {app: web}}\nspec: {containers: [{name: app, image: a}]}\n",
		"apiVersion: loglet.io/v1alpha1\nkind: ClusterLogConfig\nmetadata: {name: all}\nspec:\n  namespaceSelector: {matchLabels: {team: a}}\n  inputs: [{name: out, stdout: true}]\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: default, labels: {team: a}}\n---\nkind: Pod\nspec: {containers: [{name: app, image: a, command: [x]}]}\n",
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: loglet.io/v1alpha1\n  kind: LogConfig\n  spec: {inputs: [{name: a, files: [/etc/x]}]}\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var joined []byte
		for _, c := range split([]byte(in)) {
			joined = append(append(joined, c.sep...), c.body...)
		}
		if string(joined) != in {
			t.Fatalf("split lost bytes: %q from %q", joined, in)
		}
		for _, diff := range []bool{false, true} {
			var out bytes.Buffer
			err := Preview{Config: DefaultConfig(), Warn: io.Discard, Diff: diff}.Write(&out, Source{Name: "fuzz.yaml", Data: []byte(in)})
			if err == nil && !diff && !strings.Contains(in, "loglet") && out.String() != in {
				t.Fatalf("a stream without loglet annotations changed:\n%q\n%q", in, out.String())
			}
		}
	})
}

// TestPreviewDocuments: how loglet inject writes documents of each shape:
// what it leaves alone comes back byte for byte (CRLF, comments only, an
// injected manifest fed back), what it changes keeps its form (JSON stays
// JSON) and the template's comments and unknown fields.
func TestPreviewDocuments(t *testing.T) {
	const optIn = `{"loglet.io/inject": "true", "loglet.io/paths": "app:/var/log/app/*.log"}`
	deployment := "# the web tier\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    metadata:\n      annotations: " + optIn + "\n    spec:\n      containers:\n      - name: app # the app\n        image: web:1\n        command: [/web]\n        imagePullPolicey: Always\n"
	injected := func(t *testing.T, in string) string {
		var out bytes.Buffer
		if err := (Preview{Config: DefaultConfig(), Warn: io.Discard}).Write(&out, Source{Name: "in.yaml", Data: []byte(in)}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	for _, tc := range []struct {
		name, in string
		same     bool     // comes back byte for byte
		want     []string // parts of the output
	}{
		{name: "CRLF, not opted in", in: "apiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: a # x\r\nspec:\r\n  containers:\r\n  - {name: app, image: a}\r\n", same: true},
		{name: "comments only", in: "---\n# nothing here\n---\n\n", same: true},
		{name: "unknown kind", in: "apiVersion: example.com/v1\nkind: Widget\nspec:\n  template:\n    metadata:\n      annotations: " + optIn + "\n", same: true},
		{name: "deployment", in: deployment, want: []string{"# the web tier\n", "- name: app # the app\n", "imagePullPolicey: Always\n", "loglet.io/status: injected", "initContainers:"}},
		{name: "existing init container", in: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  annotations: " + optIn + "\nspec:\n  initContainers:\n  - name: migrate # runs the migrations\n    image: migrate:1\n    imagePullPolicey: Always\n  containers:\n  - {name: app, image: a, command: [/a]}\n",
			want: []string{"  initContainers:\n  - args:\n    - agent\n", "  - name: migrate # runs the migrations\n    image: migrate:1\n    imagePullPolicey: Always\n  containers:\n"}},
		{name: "template metadata null, not opted in", in: "kind: Job\nmetadata: {name: j}\nspec:\n  template:\n    metadata:\n    spec:\n      containers: [{name: app, image: a, command: [/a]}]\n", same: true},
		{name: "JSON pod", in: `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "annotations": ` + optIn + `}, "spec": {"containers": [{"name": "app", "image": "a", "command": ["/a"]}]}}` + "\n",
			want: []string{"{\n    \"apiVersion\": \"v1\",", `"loglet.io/status": "injected"`, `"initContainers": [`}},
		{name: "JSON List", in: `{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "annotations": ` + optIn + `}, "spec": {"containers": [{"name": "app", "image": "a", "command": ["/a"]}]}}]}`,
			want: []string{`"kind": "List"`, `"loglet.io/status": "injected"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := injected(t, tc.in)
			if tc.same != (out == tc.in) {
				t.Fatalf("unchanged %v, want %v:\n%s", out == tc.in, tc.same, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			// Idempotent, as the webhook: the injected manifest fed back
			// comes back byte for byte.
			if again := injected(t, out); again != out {
				t.Errorf("a second inject changed the manifest:\n%s", textdiff.First(out, again))
			}
		})
	}
}
