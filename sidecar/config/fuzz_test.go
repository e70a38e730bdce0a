package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

// FuzzLoad: whatever a configuration document holds, Load answers with a
// configuration or an error; it never panics, and what it accepts has an
// input with parsing for every name it lists.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"path: [/var/log/*.log]\nformat: json\n",
		"inputs:\n  - name: app\n    files: [/a/*.log]\n    format: csv\n    csv-fields: [a, b]\n",
		`{"version":1,"mode":"sidecar","stdout":"wrap","container-images":"{\"app\":\"a:1\"}","inputs":[{"name":"default","files":["/var/loglet/c/app/0/*.log"],"format":"syslog"}]}`,
		"inputs: [{name: a, files: [/a/*.log], format: 'regex:^(?P<x>\\d+)'}, {name: b, files: [/b/*.log], multiline-start: '^\\['}]\n",
		"inputs: [{name: a, files: [/a/*.log], processors: [{drop: {match: x}}, {limit: {lines-per-second: 5}}]}]\nprocessors: [{redact: {builtin: [all], patterns: ['k=(\\S+)']}}, {set: {attributes: {t: {from-label: team}}}}]\n",
		"path: [/a]\nprocessors: [{keep: {min-severity: warn, field: level, match: x}}, {rename: {attributes: {a: b}}}, {remove: {attributes: [c]}}]\n",
		"inputs: [{name: a, files: [/a/*.log], encoding: gbk, invalid-utf8: replace}, {name: w, files: [/w/*.log], encoding: utf-16, container-format: auto}]\n",
		"path: [/a]\nencoding: windows-1252\ncontainer-format: cri\n",
		"version: 2\n", "inputs: 3\n", "inputs: [[]]\n", "- a\n", "{}", "",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, doc string) {
		path := filepath.Join(dir, "loglet.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
		AgentFlags(fs)
		if err := fs.Parse([]string{"--config", path}); err != nil {
			t.Fatal(err)
		}
		c, err := Load(fs, nil)
		if err != nil {
			return
		}
		if len(c.Inputs) == 0 {
			t.Fatal("accepted without an input")
		}
		for _, in := range c.Inputs {
			if in.Name == "" || in.Parse == nil {
				t.Fatalf("accepted input without a name or parsing: %+v", in)
			}
		}
	})
}
