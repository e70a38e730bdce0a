package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadDocument loads doc as the --config file.
func loadDocument(t *testing.T, doc string, env map[string]string) (Agent, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "loglet.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return load(t, env, "--config", path)
}

// TestProcessorsPerInputAndGlobal: each input runs its own processors,
// then the document's; an input without any of either has no chain.
func TestProcessorsPerInputAndGlobal(t *testing.T) {
	c, err := loadDocument(t, `
inputs:
  - name: app
    files: [/a/*.log]
    processors:
      - drop: {match: healthz}
  - name: web
    files: [/w/*.log]
processors:
  - redact: {builtin: [email]}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Processors) != 1 || len(c.Inputs[0].Processors) != 1 || len(c.Inputs[1].Processors) != 0 {
		t.Fatalf("processors: global %d, app %d, web %d; want 1, 1, 0", len(c.Processors), len(c.Inputs[0].Processors), len(c.Inputs[1].Processors))
	}
	for _, in := range c.Inputs {
		dropped, redacted := in.Process.Counts()
		if in.Process == nil || len(redacted) != 1 || (in.Name == "app") != (len(dropped) == 1) {
			t.Errorf("input %s: chain with %d drop and %d redaction counters", in.Name, len(dropped), len(redacted))
		}
	}
	c, err = loadDocument(t, "inputs: [{name: app, files: [/a/*.log]}]\n", nil)
	if err != nil || c.Inputs[0].Process != nil {
		t.Errorf("no processors: chain %v, err %v; want none", c.Inputs[0].Process, err)
	}
}

func TestProcessorsErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{"inputs: [{name: app, files: [/a/*.log], processors: [{drop: {match: '('}}]}]\n",
			`inputs[0] (app): processors[0] (drop): match: invalid RE2 "("`},
		{"inputs: [{name: app, files: [/a/*.log], procesors: []}]\n", `unknown key "procesors": did you mean "processors"?`},
		{"path: [/a/*.log]\nprocessors: [{redact: {builtin: [email], hash: sha256}}]\n", "needs the redact-salt setting"},
		{"path: [/a/*.log]\nprocessor: []\n", `unknown key "processor": did you mean "processors"?`},
		{"path: [/a/*.log]\nprocessors: [{drop: {match: a}}, {drop: {match: b}, name: drop}]\n", `input default: processors: "drop" names two processors`},
	}
	for _, tc := range tests {
		_, err := loadDocument(t, tc.doc, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.doc, err, tc.want)
		}
	}
	if _, err := loadDocument(t, "path: [/a/*.log]\nprocessors: [{redact: {builtin: [email], hash: sha256}}]\n",
		map[string]string{"LOGLET_REDACT_SALT": "s3cret"}); err != nil {
		t.Errorf("hash with LOGLET_REDACT_SALT: %v", err)
	}
}
