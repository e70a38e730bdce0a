package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
)

// TestNodeMode runs the agent in node mode over a folder shaped like a
// node's /var/log/pods: every container's lines arrive with the pod and
// container their path names, a pod that appears while it runs is picked
// up, a container restart (0.log, then 1.log) continues, and a Docker
// json-file log linked from the folder is read as such.
func TestNodeMode(t *testing.T) {
	pods := t.TempDir()
	write := func(dir, file string, lines ...string) {
		t.Helper()
		p := filepath.Join(pods, dir, file)
		os.MkdirAll(filepath.Dir(p), 0o755)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for i, l := range lines {
			fmt.Fprintf(f, "2026-11-25T12:00:%02d.000000000Z stdout F %s\n", i, l)
		}
	}
	write("shop_web-1_u1/app", "0.log", "web one", "web two", "web three")
	write("team_api-1_u2/api", "0.log", "api one", "api two")
	// A node with Docker: the kubelet's file is a link to Docker's json-file
	// log, whose format is recognised from its first line. Docker's folder
	// is here, not /var/lib/docker/containers: --link-roots allows it.
	dockerRoot := filepath.Join(t.TempDir(), "containers")
	docker := filepath.Join(dockerRoot, "abc123", "abc123-json.log")
	os.MkdirAll(filepath.Dir(docker), 0o755)
	os.WriteFile(docker, []byte(`{"log":"docker line\n","stream":"stderr","time":"2026-11-25T12:00:00.000000000Z"}`+"\n"), 0o644)
	os.MkdirAll(filepath.Join(pods, "legacy_old-1_u4", "app"), 0o755)
	if err := os.Symlink(docker, filepath.Join(pods, "legacy_old-1_u4", "app", "0.log")); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "out.ndjson")
	a := startAgentWithEnv(t, []string{"LOGLET_NODE_NAME=node-1"}, "--mode=node", "--pod-metadata=false", "--pods-dir", pods,
		"--link-roots", dockerRoot, "--state-dir", t.TempDir(), "--sink", "file://"+out, "--batch-wait", "100ms")
	count := func() int {
		if _, err := os.Stat(out); err != nil {
			return 0
		}
		return len(readSinkFile(t, out))
	}
	poll.Until(t, 10*time.Second, "the first pods' 6 lines", func() bool { return count() >= 6 })

	write("team_new-1_u3/worker", "0.log", "new pod")
	write("shop_web-1_u1/app", "1.log", "web after restart")
	poll.Until(t, 10*time.Second, "the new pod's and the restarted container's lines", func() bool { return count() >= 8 })
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d", code)
	}

	want := map[string][4]string{ // body → namespace, pod, container, restart
		"web one": {"shop", "web-1", "app", "0"}, "web two": {"shop", "web-1", "app", "0"}, "web three": {"shop", "web-1", "app", "0"},
		"api one": {"team", "api-1", "api", "0"}, "api two": {"team", "api-1", "api", "0"},
		"new pod":           {"team", "new-1", "worker", "0"},
		"web after restart": {"shop", "web-1", "app", "1"},
		"docker line":       {"legacy", "old-1", "app", "0"},
	}
	recs := readSinkFile(t, out)
	if len(recs) != len(want) {
		t.Errorf("%d records, want %d", len(recs), len(want))
	}
	for _, r := range recs {
		w, ok := want[r.Body]
		res := r.Resource
		got := [4]string{res["k8s.namespace.name"], res["k8s.pod.name"], res["k8s.container.name"], res["k8s.container.restart_count"]}
		if !ok || got != w || res["k8s.node.name"] != "node-1" || res["k8s.pod.uid"] == "" || r.Time == "" {
			t.Errorf("record %q (time %q): resource %v; want %v on node-1", r.Body, r.Time, res, w)
		}
		delete(want, r.Body)
	}
	if len(want) > 0 {
		t.Errorf("not delivered: %v", want)
	}
}
