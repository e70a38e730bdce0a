package config

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMultilineSetting: multiline is a block per input (and at the top of
// a document without inputs), a preset's name is a shorthand for it, the
// older keys and the flags still read, and mistakes are refused with the
// fix.
func TestMultilineSetting(t *testing.T) {
	c, err := loadDocument(t, `inputs:
  - name: java
    files: [/j/*.log]
    multiline: {preset: java, max-lines: 200, max-bytes: 64KiB, timeout: 3s}
  - name: py
    files: [/p/*.log]
    multiline: python
  - name: old
    files: [/o/*.log]
    multiline-start: '^\d{4}-'
    multiline-timeout: 2s
  - name: xml
    files: [/x/*.log]
    multiline: {start: '^<event>', end: '^</event>'}
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := func(i int) string {
		p := c.Inputs[i].ParseConfig
		return strings.Join([]string{p.MultilinePreset, p.MultilineStart, p.MultilineEnd, p.MultilineContinue,
			itoa(p.MultilineMaxLines), itoa(p.MultilineMaxBytes), p.MultilineTimeout.String()}, "|")
	}
	for i, want := range []string{"java||||200|65536|3s", "python||||500|0|1s", `|^\d{4}-|||500|0|2s`, "|^<event>|^</event>||500|0|1s"} {
		if got(i) != want || !c.Inputs[i].Parse.Multiline() {
			t.Errorf("input %s: %s, want %s", c.Inputs[i].Name, got(i), want)
		}
	}
	c, err = loadDocument(t, "path: [/a/*.log]\nmultiline: {preset: auto}\n", nil)
	if err != nil || c.Inputs[0].ParseConfig.MultilinePreset != "auto" {
		t.Errorf("top-level block: %v, %+v", err, c.Inputs)
	}
	c, err = load(t, nil, "--path", "/a", "--multiline-preset", "go", "--multiline-timeout", "5s")
	if err != nil || c.Inputs[0].ParseConfig.MultilinePreset != "go" || c.Inputs[0].ParseConfig.MultilineTimeout != 5*time.Second {
		t.Errorf("flags: %v, %+v", err, c.Inputs)
	}
	checkLoadErrors(t, []loadError{
		{doc: "inputs: [{name: a, files: [/a], multiline: {preset: jav}}]\n", want: `multiline-preset "jav": want one of java, python, go, ruby, node, dotnet, auto (did you mean java?)`},
		{doc: "inputs: [{name: a, files: [/a], multiline: {strat: '^x'}}]\n", want: `unknown key "strat": did you mean "start"?`},
		{doc: "inputs: [{name: a, files: [/a], multiline: {start: '^x'}, multiline-start: '^y'}]\n", want: "multiline.start and multiline-start both given"},
		{doc: "inputs: [{name: a, files: [/a], multiline: [java]}]\n", want: "multiline: want a map like {preset: java}"},
		{doc: "inputs: [{name: a, files: [/a], multiline: {preset: java, start: '^x'}}]\n", want: "give a preset or patterns, not both"},
		{doc: "inputs: [{name: a, files: [/a], multiline: {end: '(x'}}]\n", want: `multiline-end "(x" does not compile`},
		{doc: "inputs: [{name: a, files: [/a], multiline: {preset: go, max-lines: 0}}]\n", want: "multiline-max-lines"},
		{args: []string{"--path", "/a", "--multiline-continue", "[a"}, want: `multiline-continue "[a" does not compile`},
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
