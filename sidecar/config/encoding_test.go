package config

import (
	"strings"
	"testing"
)

// TestEncodingSetting: encoding and invalid-utf8 are per-input settings,
// as flags, variables and document keys; bad values and misspelt keys are
// refused with the fix.
func TestEncodingSetting(t *testing.T) {
	c, err := load(t, map[string]string{"LOGLET_ENCODING": "GBK"}, "--path", "/a/*.log", "--invalid-utf8", "replace")
	if err != nil {
		t.Fatal(err)
	}
	if in := c.Inputs[0]; in.ParseConfig.Encoding != "GBK" || in.ParseConfig.InvalidUTF8 != "replace" || in.Parse.Encoding().Name() != "gbk" {
		t.Errorf("flags: encoding %q, invalid-utf8 %q, compiled %q", in.ParseConfig.Encoding, in.ParseConfig.InvalidUTF8, in.Parse.Encoding().Name())
	}
	c, err = loadDocument(t, "inputs:\n  - name: win\n    files: [/w/*.log]\n    encoding: utf-16le\n  - name: app\n    files: [/a/*.log]\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Inputs[0].Parse.Encoding().Name() != "utf-16le" || !c.Inputs[1].Parse.Encoding().IsUTF8() || c.Inputs[1].ParseConfig.InvalidUTF8 != "keep" {
		t.Errorf("document: %q, %q, %q", c.Inputs[0].Parse.Encoding().Name(), c.Inputs[1].Parse.Encoding().Name(), c.Inputs[1].ParseConfig.InvalidUTF8)
	}
	checkLoadErrors(t, []loadError{
		{args: []string{"--path", "/a", "--encoding", "klingon"}, want: `encoding "klingon": unknown`},
		{args: []string{"--path", "/a", "--invalid-utf8", "drop"}, want: "invalid-utf8"},
		{args: []string{"--path", "/a", "--invalid-utf8", "kep"}, want: `did you mean "keep"?`},
		{args: []string{"--path", "/a", "--encoding", "utf-16", "--container-format", "cri"}, want: "container runtimes write their lines in UTF-8"},
		{doc: "inputs: [{name: a, files: [/a/*.log], encodng: gbk}]\n", want: `unknown key "encodng": did you mean "encoding"?`},
		{doc: "inputs: [{name: a, files: [/a/*.log], encoding: gbkk}]\n", want: `input a: encoding "gbkk": unknown`},
	})
}

// loadError is a document or flags the loader refuses, and what its
// error must say.
type loadError struct {
	doc  string
	args []string
	want string
}

func checkLoadErrors(t *testing.T, tests []loadError) {
	t.Helper()
	for _, tc := range tests {
		var err error
		if tc.doc != "" {
			_, err = loadDocument(t, tc.doc, nil)
		} else {
			_, err = load(t, nil, tc.args...)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %v: error %v, want one with %q", tc.doc, tc.args, err, tc.want)
		}
	}
}
