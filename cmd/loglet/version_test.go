//go:build !slim

package main

import (
	"encoding/json"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: loglet --version and loglet version print the same line,
// and version -o json a document tools can read.
func TestVersion(t *testing.T) {
	plain, err := exec.Command(loglet, "version").Output()
	if err != nil {
		t.Fatalf("loglet version: %v", err)
	}
	flag, err := exec.Command(loglet, "--version").CombinedOutput()
	if err != nil || string(flag) != string(plain) || !strings.HasPrefix(string(plain), "loglet ") {
		t.Errorf("loglet --version: %v, %q; want what loglet version prints, %q", err, flag, plain)
	}
	out, err := exec.Command(loglet, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("loglet version -o json: %v", err)
	}
	var v struct {
		Version   string `json:"version"`
		GoVersion string `json:"goVersion"`
		Platform  string `json:"platform"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("version -o json printed no JSON: %v\n%s", err, out)
	}
	if "loglet "+v.Version+"\n" != string(plain) || v.GoVersion != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version -o json: %+v; want version as in %q, %s, %s/%s", v, plain, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	out, err = exec.Command(loglet, "version", "-o", "xml").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "json") {
		t.Errorf("version -o xml: %v, %s; want a refusal naming json", err, out)
	}
}

// TestHelpFlags: help shows flags as a user writes them: a boolean as
// --once (not --once[=true|false]), a size as 512KiB (not 524288).
func TestHelpFlags(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"agent", "--help"}, {"inject", "--help"}, {"webhook", "--help"}, {"hub", "--help"}, {"logs", "tail", "--help"}, {"version", "--help"}} {
		out, err := exec.Command(loglet, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("loglet %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if strings.Contains(string(out), "[=true|false]") {
			t.Errorf("loglet %s shows [=true|false]:\n%s", strings.Join(args, " "), out)
		}
		if !strings.Contains(string(out), "-h, --help ") {
			t.Errorf("loglet %s does not list -h, --help:\n%s", strings.Join(args, " "), out)
		}
	}
	out, _ := exec.Command(loglet, "agent", "--help").CombinedOutput()
	for _, want := range []string{`--batch-bytes string`, `(default "512KiB")`, `(default "256KiB")`, `(default "64MiB")`, "--once ", "--pod-metadata ",
		"stdout://", "file:///", "null://", "http(s)://", "otlp+http(s)://", "kafka://", "nats://"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("agent --help lacks %s", want)
		}
	}
	for _, bad := range []string{`"524288"`, `"262144"`} {
		if strings.Contains(string(out), bad) {
			t.Errorf("agent --help shows the size %s in bytes", bad)
		}
	}
}

// TestHelpSuggestsFlag: an unknown flag is refused with the nearest flag
// of that command.
func TestHelpSuggestsFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--batch-byte", "1MiB"}, "unknown flag: --batch-byte; did you mean --batch-bytes?"},
		{[]string{"agent", "--batch-byte=1MiB"}, "unknown flag: --batch-byte; did you mean --batch-bytes?"},
		{[]string{"inject", "-f", "-", "--dif"}, "unknown flag: --dif; did you mean --diff?"},
		{[]string{"--verison"}, "unknown flag: --verison; did you mean --version?"},
		{[]string{"agent", "--zzzzzzzz"}, "unknown flag: --zzzzzzzz; loglet agent --help lists the flags"},
	} {
		out, err := exec.Command(loglet, tc.args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("loglet %s: %v\n%s\nwant a failure saying %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}
}
