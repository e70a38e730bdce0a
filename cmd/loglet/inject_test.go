//go:build !slim

package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/loglet/loglet/internal/textdiff"
)

const csvPodYAML = `apiVersion: v1
kind: Pod
metadata:
  name: report
  namespace: shop
  annotations:
    loglet.io/inject: "true"
    loglet.io/paths: app:/var/log/app/*.csv
    loglet.io/format: csv
%s
spec:
  containers:
  - name: app
    image: ghcr.io/example/report:3
    command: ["/report"]
`

// TestInjectCSVPod: `loglet inject` previews what the webhook does: the
// csv pod without its columns is refused with the webhook's message; with
// them, its sidecar gets one LOGLET_CONFIG document with the pod's input.
func TestInjectCSVPod(t *testing.T) {
	dir := t.TempDir()
	inject := func(extra string) (stdout, stderr string, err error) {
		f := filepath.Join(dir, "pod.yaml")
		if err := os.WriteFile(f, []byte(strings.Replace(csvPodYAML, "%s", extra, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		cmd := exec.Command(loglet, "inject", "-f", f)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err = cmd.Run()
		return out.String(), errb.String(), err
	}
	_, stderr, err := inject("")
	const deny = "annotation loglet.io/format=csv needs loglet.io/csv-fields, the column names (e.g. time,level,msg)"
	if err == nil || !strings.Contains(stderr, deny) {
		t.Fatalf("inject without csv-fields: %v, stderr %q; want a failure saying %q", err, stderr, deny)
	}
	stdout, stderr, err := inject("    loglet.io/csv-fields: time,level,msg")
	if err != nil {
		t.Fatalf("inject with csv-fields: %v: %s", err, stderr)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(stdout), &pod); err != nil {
		t.Fatalf("inject printed no pod: %v\n%s", err, stdout)
	}
	var docs []string
	for _, c := range pod.Spec.InitContainers {
		for _, e := range c.Env {
			if strings.HasPrefix(e.Name, "LOGLET_") && e.ValueFrom == nil {
				if e.Name != "LOGLET_CONFIG" {
					t.Errorf("sidecar %s has env %s; want its settings in LOGLET_CONFIG only", c.Name, e.Name)
				}
				docs = append(docs, e.Value)
			}
		}
	}
	if len(docs) != 1 {
		t.Fatalf("%d LOGLET_CONFIG values, want 1", len(docs))
	}
	var doc struct {
		Mode   string `json:"mode"`
		Inputs []struct {
			Name      string   `json:"name"`
			Files     []string `json:"files"`
			Format    string   `json:"format"`
			CSVFields []string `json:"csv-fields"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(docs[0]), &doc); err != nil {
		t.Fatalf("LOGLET_CONFIG is not JSON: %v\n%s", err, docs[0])
	}
	if doc.Mode != "sidecar" || len(doc.Inputs) != 1 || doc.Inputs[0].Name != "default" || doc.Inputs[0].Format != "csv" ||
		strings.Join(doc.Inputs[0].CSVFields, ",") != "time,level,msg" || strings.Join(doc.Inputs[0].Files, ",") != "/var/loglet/c/app/0/*.csv" {
		t.Errorf("document %+v, want mode sidecar and one input default with the csv files and columns", doc)
	}
}

// TestAgentSettingTypo: a misspelled --agent-setting (the chart's
// agentSettings) stops `loglet webhook` at start, and `loglet inject`,
// with the nearest setting.
func TestAgentSettingTypo(t *testing.T) {
	const want = "agent-setting LOGLET_BATCH_BYTE: unknown agent setting; did you mean LOGLET_BATCH_BYTES?"
	for _, args := range [][]string{
		{"webhook", "--agent-setting", "LOGLET_BATCH_BYTE=1MiB"},
		{"inject", "-f", "-", "--agent-setting", "LOGLET_BATCH_BYTE=1MiB"},
	} {
		cmd := exec.Command(loglet, args...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("loglet %s: %v\n%s\nwant a failure saying %q", strings.Join(args, " "), err, out, want)
		}
	}
}

// update rewrites the golden files of testdata/inject/golden and the
// console's screenshots in docs/img.
var update = flag.Bool("update", false, "rewrite the golden files of testdata/inject/golden and the console's screenshots in docs/img")

// TestInjectGolden runs `loglet inject` on the manifests of testdata/inject
// (from that folder, so the names in messages are stable) and compares its
// standard output and error with testdata/inject/golden/NAME.out and
// NAME.err; go test -run InjectGolden -update rewrites them after a change
// (read the diff before committing).
func TestInjectGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string // a file of testdata/inject fed to standard input
	}{
		{name: "passthrough", args: []string{"-f", "passthrough.yaml"}},
		{name: "changed", args: []string{"-f", "deployment.yaml"}},
		{name: "diff", args: []string{"--diff", "-f", "deployment.yaml", "-f", "passthrough.yaml", "-f", "list.yaml"}},
		{name: "list", args: []string{"-f", "list.yaml"}},
		{name: "replicationcontroller", args: []string{"-f", "replicationcontroller.yaml"}},
		{name: "files", args: []string{"-f", "passthrough.yaml", "-f", "replicationcontroller.yaml"}},
		{name: "files-comma", args: []string{"-f", "passthrough.yaml,replicationcontroller.yaml"}},
		{name: "folder", args: []string{"-f", "folder/"}},
		{name: "folder-recursive", args: []string{"-R", "-f", "folder"}},
		{name: "stdin", args: []string{"-f", "-"}, stdin: "deployment.yaml"},
		{name: "typos", args: []string{"-f", "typos.yaml"}},
		// LogConfigs in the same input (issue 21).
		{name: "logconfig-selected", args: []string{"-f", "logconfig/selected.yaml"}},
		{name: "logconfig-annotated", args: []string{"-f", "logconfig/annotated.yaml"}},
		{name: "logconfig-two", args: []string{"-f", "logconfig/two.yaml"}},
		{name: "logconfig-cluster", args: []string{"-f", "logconfig/cluster.yaml"}},
		{name: "logconfig-nomatch", args: []string{"-f", "logconfig/nomatch.yaml"}},
		// The LogConfig in one file applies to the Deployment in another.
		{name: "logconfig-files", args: []string{"--diff", "-f", "deployment.yaml", "-f", "logconfig/two.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			cmd := exec.Command(loglet, append([]string{"inject"}, tc.args...)...)
			cmd.Dir = filepath.Join("testdata", "inject")
			cmd.Stdout, cmd.Stderr = &out, &errb
			if tc.stdin != "" {
				in, err := os.ReadFile(filepath.Join(cmd.Dir, tc.stdin))
				if err != nil {
					t.Fatal(err)
				}
				cmd.Stdin = bytes.NewReader(in)
			}
			if err := cmd.Run(); err != nil {
				t.Fatalf("loglet inject %s: %v\n%s", strings.Join(tc.args, " "), err, errb.String())
			}
			for ext, got := range map[string][]byte{".out": out.Bytes(), ".err": errb.Bytes()} {
				golden := filepath.Join("testdata", "inject", "golden", tc.name+ext)
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from the golden file (run with -update after checking):\n%s", golden, textdiff.First(string(want), string(got)))
				}
			}
		})
	}
}

// TestInjectPassthrough: a document inject does not change comes out as
// it went in, byte for byte: comments, quoting, an empty document and an
// unknown field (the typo imagePullPolicey, which kubectl apply
// --validate=strict must still see).
func TestInjectPassthrough(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "inject", "passthrough.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-f", "-"}, {"-f", filepath.Join("testdata", "inject", "passthrough.yaml")}} {
		cmd := exec.Command(loglet, append([]string{"inject"}, args...)...)
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("loglet inject %v: %v", args, err)
		}
		if !bytes.Equal(out, in) {
			t.Errorf("loglet inject %v changed a document it does not inject:\n%s", args, textdiff.First(string(in), string(out)))
		}
	}
}

// TestInjectHelp: inject --help lists what means something to a preview
// (the webhook's mutation settings, -f, -R, --diff) and not the webhook
// server's own flags; --image defaults to what the chart installs.
func TestInjectHelp(t *testing.T) {
	out, err := exec.Command(loglet, "inject", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("inject --help: %v\n%s", err, out)
	}
	help := string(out)
	for _, want := range []string{"--filename", "--recursive", "--diff", "--image", "--sink", "--agent-setting", "--config", `(default "ghcr.io/loglet/loglet-slim:0.1.0")`} {
		if !strings.Contains(help, want) {
			t.Errorf("inject --help lacks %s:\n%s", want, help)
		}
	}
	for _, server := range []string{"--port", "--cert-dir", "--cert-mode", "--health-addr", "--metrics-addr", "--webhook-config-name"} {
		if strings.Contains(help, server+" ") {
			t.Errorf("inject --help lists the webhook server's %s", server)
		}
	}
}

// TestInjectLogConfigs: LogConfig documents pass through `loglet inject`
// unchanged; a pod no LogConfig selects comes out byte for byte as it
// went in; a LogConfig the validating webhook would refuse stops inject
// with the webhook's message.
func TestInjectLogConfigs(t *testing.T) {
	dir := filepath.Join("testdata", "inject", "logconfig")
	for _, file := range []string{"nomatch.yaml"} {
		in, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(loglet, "inject", "-f", filepath.Join(dir, file)).Output()
		if err != nil {
			t.Fatalf("loglet inject %s: %v", file, err)
		}
		if !bytes.Equal(out, in) {
			t.Errorf("loglet inject changed %s, which no LogConfig applies to:\n%s", file, textdiff.First(string(in), string(out)))
		}
	}
	// The LogConfig documents themselves come out as written.
	in, err := os.ReadFile(filepath.Join(dir, "selected.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(loglet, "inject", "-f", filepath.Join(dir, "selected.yaml")).Output()
	if err != nil {
		t.Fatal(err)
	}
	_, lcIn, _ := strings.Cut(string(in), "\n---\n")
	_, lcOut, _ := strings.Cut(string(out), "\n---\n")
	if lcIn == "" || lcOut != lcIn {
		t.Errorf("the LogConfig document changed:\n%s", textdiff.First(lcIn, lcOut))
	}

	cmd := exec.Command(loglet, "inject", "-f", filepath.Join(dir, "invalid.yaml"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	const want = "invalid.yaml: document 1: LogConfig broken: spec.inputs: input app: format regex:(unclosed does not compile"
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), want) {
		t.Errorf("inject of an invalid LogConfig: %v, stderr %q; want a failure saying %q", err, stderr.String(), want)
	}
}
