package webhook

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/loglet/loglet/internal/textdiff"
)

var update = flag.Bool("update", false, "rewrite the golden *.injected.yaml files")

func readPod(t *testing.T, path string) *corev1.Pod {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(b, &pod); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &pod
}

// TestGolden injects each testdata pod and compares with its golden file:
// go test ./webhook -run Golden -update rewrites them after a change.
func TestGolden(t *testing.T) {
	classic := DefaultConfig()
	classic.NativeSidecar = false
	withHubSecret := DefaultConfig()
	withHubSecret.HubSecret = "hub-credentials"
	withHubSecret.Sink = "nats://hub:4222/LOGLET?creds=" + HubSecretDir + "/nats.creds"
	tests := []struct {
		file, golden string
		nsLabels     map[string]string
		cfg          Config
		injected     bool
		// Pods whose sidecar reads stdout from the API (no command) get
		// a warning: the default config binds no namespace for it.
		warnings int
	}{
		{"plain.yaml", "plain.injected.yaml", nil, DefaultConfig(), true, 1},
		{"plain.yaml", "plain.classic.injected.yaml", nil, classic, true, 1},
		{"plain.yaml", "plain.hub-secret.injected.yaml", nil, withHubSecret, true, 1},
		{"multi.yaml", "multi.injected.yaml", nil, DefaultConfig(), true, 2},
		{"existing.yaml", "existing.injected.yaml", nil, DefaultConfig(), true, 1},
		{"job.yaml", "job.injected.yaml", nil, DefaultConfig(), true, 0},
		{"job.yaml", "job.classic.injected.yaml", nil, classic, true, 0},
		{"wrap-args.yaml", "wrap-args.injected.yaml", nil, DefaultConfig(), true, 0},
		{"auto-wrap.yaml", "auto-wrap.injected.yaml", nil, DefaultConfig(), true, 0},
		{"api.yaml", "api.injected.yaml", nil, DefaultConfig(), true, 1},
		{"csv.yaml", "csv.injected.yaml", nil, DefaultConfig(), true, 0},
		{"api-no-automount.yaml", "api-no-automount.injected.yaml", nil, DefaultConfig(), true, 3},
		{"push.yaml", "push.injected.yaml", nil, DefaultConfig(), true, 0},
		{"owned.yaml", "owned.injected.yaml", nil, DefaultConfig(), true, 0},
		{"remove-shipped.yaml", "remove-shipped.injected.yaml", nil, DefaultConfig(), true, 0},
		{"injected.yaml", "", nil, DefaultConfig(), false, 0},
		{"not-opted.yaml", "", nil, DefaultConfig(), false, 1},
		{"ns-opt-in.yaml", "ns-opt-in.injected.yaml", map[string]string{NamespaceLabel: "enabled"}, DefaultConfig(), true, 1},
		{"ns-pod-opt-out.yaml", "", map[string]string{NamespaceLabel: "enabled"}, DefaultConfig(), false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.golden+tc.file, func(t *testing.T) {
			pod := readPod(t, filepath.Join("testdata", tc.file))
			out, d, warnings, err := Inject(pod, pod.Namespace, tc.nsLabels, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if d.Inject != tc.injected || len(warnings) != tc.warnings {
				t.Fatalf("injected %v with warnings %q, want %v with %d", d.Inject, warnings, tc.injected, tc.warnings)
			}
			if !d.Inject {
				if out != pod {
					t.Fatalf("a pod that is not injected must come back unchanged")
				}
				return
			}
			got, err := yaml.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (run with -update after checking):\n%s", golden, textdiff.First(string(want), string(got)))
			}
			// Idempotent: injecting the result again changes nothing.
			again, dAgain, _, err := Inject(out, pod.Namespace, tc.nsLabels, tc.cfg)
			if err != nil || dAgain.Inject || again != out {
				t.Errorf("a second injection changed the pod (injected %v, %v)", dAgain.Inject, err)
			}
		})
	}
}
