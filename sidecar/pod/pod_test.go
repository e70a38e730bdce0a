package pod

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
)

func TestSplitImage(t *testing.T) {
	for in, want := range map[string][2]string{
		"nginx":                          {"nginx", ""},
		"nginx:1.27":                     {"nginx", "1.27"},
		"ghcr.io/example/web:1.4.2":      {"ghcr.io/example/web", "1.4.2"},
		"registry:5000/team/app":         {"registry:5000/team/app", ""},
		"registry:5000/team/app:v2":      {"registry:5000/team/app", "v2"},
		"app:v1@sha256:0123456789abcdef": {"app", "v1"},
		"app@sha256:0123456789abcdef":    {"app", ""},
	} {
		if name, tag := SplitImage(in); name != want[0] || tag != want[1] {
			t.Errorf("SplitImage(%q) = %q, %q; want %q, %q", in, name, tag, want[0], want[1])
		}
	}
}

func TestSelect(t *testing.T) {
	files, _ := parse.Compile(parse.Config{Format: "json", MaxLineBytes: 1024})
	stdout, _ := parse.Compile(parse.Config{Container: "cri", MaxLineBytes: 1024})
	l := Layout{Root: "/var/loglet", Base: []record.KeyValue{{Key: "k8s.pod.name", Value: "web-1"}},
		Images: map[string]string{"app": "ghcr.io/example/web:1.4.2"}, Files: files, Stdout: stdout}
	tests := []struct {
		path      string
		spec      *parse.Spec
		container string
		attrs     int
	}{
		{"/var/loglet/c/app/0/access.log", files, "app", 5},
		{"/var/loglet/stdout/app/stdout.log", stdout, "app", 5},
		{"/var/loglet/stdout/sidecar-less/stdout.log", stdout, "sidecar-less", 3},
		{"/elsewhere/x.log", files, "", 1},
	}
	for _, tc := range tests {
		c := l.Select(tc.path)
		spec, res := c.Parse, c.Resource
		got := map[string]string{}
		for _, kv := range res {
			got[kv.Key] = kv.Value
		}
		if spec != tc.spec || got["k8s.container.name"] != tc.container || len(res) != tc.attrs || got["k8s.pod.name"] != "web-1" {
			t.Errorf("%s: spec %p (want %p), attributes %v", tc.path, spec, tc.spec, got)
		}
	}
}

func TestLostBytes(t *testing.T) {
	root := t.TempDir()
	l := Layout{Root: root}
	if got := l.LostBytes(); got != 0 {
		t.Fatalf("no markers: %v", got)
	}
	for c, n := range map[string]string{"app": "120\n", "worker": "30\n"} {
		os.MkdirAll(filepath.Join(root, "stdout", c), 0o755)
		os.WriteFile(filepath.Join(root, "stdout", c, "lost-bytes"), []byte(n), 0o644)
	}
	if got := l.LostBytes(); got != 150 {
		t.Fatalf("LostBytes = %v, want 150", got)
	}
}

// TestSelectOneContainerName: an agent-wide k8s.container.name
// (--container-name) gives way to the container a source's path names:
// the resource names one container, not two; and a source of no
// container keeps it. service.name, when the webhook derived none, is the
// container's name (the OpenTelemetry operator's last choice).
func TestSelectOneContainerName(t *testing.T) {
	for _, tc := range []struct {
		name string
		base []record.KeyValue
		path string
		want []record.KeyValue
	}{
		{"container-name given", []record.KeyValue{{Key: "k8s.pod.name", Value: "web-1"}, {Key: "k8s.container.name", Value: "loglet"}},
			"/var/loglet/c/app/0/access.log",
			[]record.KeyValue{{Key: "k8s.pod.name", Value: "web-1"}, {Key: "k8s.container.name", Value: "app"},
				{Key: "container.image.name", Value: "web"}, {Key: "container.image.tag", Value: "1"}, {Key: "service.name", Value: "app"}}},
		{"derived service.name kept", []record.KeyValue{{Key: "service.name", Value: "checkout"}, {Key: "k8s.container.name", Value: "loglet"}},
			"/var/loglet/stdout/app/stdout.log",
			[]record.KeyValue{{Key: "service.name", Value: "checkout"}, {Key: "k8s.container.name", Value: "app"},
				{Key: "container.image.name", Value: "web"}, {Key: "container.image.tag", Value: "1"}}},
		{"no container", []record.KeyValue{{Key: "k8s.container.name", Value: "loglet"}},
			"/var/loglet/state/inbox/otlp/1.seg",
			[]record.KeyValue{{Key: "k8s.container.name", Value: "loglet"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := Layout{Root: "/var/loglet", Base: tc.base, Images: map[string]string{"app": "web:1"}}
			before := slices.Clone(tc.base)
			if got := l.Select(tc.path).Resource; !slices.Equal(got, tc.want) {
				t.Errorf("resource %v, want %v", got, tc.want)
			}
			if !slices.Equal(l.Base, before) {
				t.Errorf("Select changed the base to %v", l.Base)
			}
		})
	}
}
