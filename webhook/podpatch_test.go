package webhook

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
)

// TestPodPatch: the patch the handler answers with, applied to the pod
// the API server sent (by a JSON patch implementation nobody here wrote),
// gives the injected pod, for every golden pod; and a field of the sent
// pod that k8s.io/api does not know survives where injection did not
// change its field.
func TestPodPatch(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, file := range files {
		if filepath.Ext(file[:len(file)-len(".yaml")]) == ".injected" || filepath.Base(file) == "injected.yaml" {
			continue
		}
		orig := readPod(t, file)
		out, d, _, err := InjectWith(orig.DeepCopy(), "shop", map[string]string{"loglet.io/inject": "enabled"}, nil, DefaultConfig())
		if err != nil || !d.Inject {
			continue // refused or not opted in: no patch
		}
		n++
		t.Run(filepath.Base(file), func(t *testing.T) {
			sent, err := json.Marshal(orig)
			if err != nil {
				t.Fatal(err)
			}
			got := applyPatch(t, sent, podPatch, orig, out)
			want, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, got, want) {
				t.Errorf("patched pod\n%s\nwant the injected pod\n%s", got, want)
			}
		})
	}
	if n < 10 {
		t.Fatalf("%d golden pods injected, want at least 10", n)
	}

	// A field this build does not know, beside the app container's.
	orig := readPod(t, "testdata/plain.yaml")
	out, _, _, err := InjectWith(orig.DeepCopy(), "shop", nil, nil, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	sent, err := json.Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(sent, &doc); err != nil {
		t.Fatal(err)
	}
	doc["spec"].(map[string]any)["futureField"] = map[string]any{"x": 1.0}
	sent, _ = json.Marshal(doc)
	var patched map[string]any
	if err := json.Unmarshal(applyPatch(t, sent, podPatch, orig, out), &patched); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(patched["spec"].(map[string]any)["futureField"], map[string]any{"x": 1.0}) {
		t.Errorf("spec.futureField, unknown to k8s.io/api and not changed by injection, was lost: spec %v", patched["spec"])
	}
}

func applyPatch(t *testing.T, doc []byte, patch func(a, b *corev1.Pod) ([]jsonpatch.JsonPatchOperation, error), a, b *corev1.Pod) []byte {
	t.Helper()
	ops, err := patch(a, b)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatchapply.DecodePatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("patch does not apply: %v\n%s", err, raw)
	}
	return out
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
