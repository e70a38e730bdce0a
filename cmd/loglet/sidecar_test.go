package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSidecarMode lays out a pod's shared volume as the webhook does (a
// container's log folder under c/, its stdout copied by loglet exec under
// stdout/) and runs the agent in sidecar mode over it with the environment
// the webhook sets: every record names its container, image and the pod's
// labels (from the downward-API volume), stdout lines keep their stream,
// and the format applies to both.
func TestSidecarMode(t *testing.T) {
	vol := t.TempDir()
	// The downward-API volume the webhook adds: the pod's labels.
	os.MkdirAll(filepath.Join(vol, "podinfo"), 0o755)
	os.WriteFile(filepath.Join(vol, "podinfo", "labels"), []byte("app=\"web\"\ntier=\"front end\"\n"), 0o644)
	appLogs := filepath.Join(vol, "c", "app", "0")
	os.MkdirAll(appLogs, 0o755)
	os.WriteFile(filepath.Join(appLogs, "access.log"), []byte(`{"level":"warn","msg":"from a file"}`+"\n"), 0o644)
	run := exec.Command(loglet, "exec", "--dir", filepath.Join(vol, "stdout", "app"), "--",
		"sh", "-c", `echo '{"level":"info","msg":"from stdout"}'; echo 'plain on stderr' >&2`)
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("loglet exec: %v: %s", err, out)
	}
	out := filepath.Join(t.TempDir(), "out.ndjson")
	agent := commandWithEnv([]string{
		"LOGLET_PATH=" + appLogs + "/*.log",
		"LOGLET_STDOUT=wrap",
		"LOGLET_POD_VOLUME=" + vol,
		"LOGLET_STATE_DIR=" + filepath.Join(vol, "state"),
		"LOGLET_FORMAT=json",
		"LOGLET_POD_NAME=web-1",
		"LOGLET_POD_NAMESPACE=shop",
		`LOGLET_CONTAINER_IMAGES={"app":"ghcr.io/example/web:1.4.2"}`,
		"LOGLET_SINK=file://" + out,
	}, loglet, "agent", "--mode=sidecar", "--once")
	if msg, err := agent.CombinedOutput(); err != nil {
		t.Fatalf("agent: %v: %s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bodies := map[string]map[string]any{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		res := rec["resource"].(map[string]any)
		if res["k8s.container.name"] != "app" || res["container.image.name"] != "ghcr.io/example/web" || res["container.image.tag"] != "1.4.2" ||
			res["k8s.pod.name"] != "web-1" || res["k8s.namespace.name"] != "shop" ||
			res["k8s.pod.label.app"] != "web" || res["k8s.pod.label.tier"] != "front end" {
			t.Errorf("record %q: resource %v", rec["body"], res)
		}
		bodies[rec["body"].(string)] = rec
	}
	attr := func(body, key string) any { return bodies[body]["attributes"].(map[string]any)[key] }
	if len(bodies) != 3 || bodies["from a file"]["severity"] != "WARN" || bodies["from stdout"]["severity"] != "INFO" ||
		attr("from stdout", "log.iostream") != "stdout" || attr("plain on stderr", "log.iostream") != "stderr" ||
		attr("plain on stderr", "loglet.parse_error") == nil {
		t.Fatalf("records %v", bodies)
	}
}

// TestSidecarExitsWhenContainersEnd: a sidecar that is a plain container
// (older clusters) drains and exits 0 once every container has ended, so
// a Job completes; nothing the containers printed is lost.
func TestSidecarExitsWhenContainersEnd(t *testing.T) {
	vol := t.TempDir()
	out := filepath.Join(t.TempDir(), "out.ndjson")
	a := startAgentWithEnv(t, []string{
		"LOGLET_STDOUT=wrap",
		"LOGLET_EXIT_WHEN_DONE=true",
		"LOGLET_POD_VOLUME=" + vol,
		"LOGLET_STATE_DIR=" + filepath.Join(vol, "state"),
		`LOGLET_CONTAINER_IMAGES={"app":"app:1","worker":"worker:1"}`,
		"LOGLET_SINK=file://" + out,
		"LOGLET_SCAN_INTERVAL=100ms",
	}, "--mode=sidecar")
	for _, c := range []string{"app", "worker"} {
		run := exec.Command(loglet, "exec", "--dir", filepath.Join(vol, "stdout", c), "--",
			"sh", "-c", `i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); done`)
		if out, err := run.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", c, err, out)
		}
	}
	ended := time.Now()
	if code := a.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("sidecar exited %d after the containers ended:\n%s", code, lastLines(a.stderr.String(), 10))
	}
	t.Logf("the sidecar exited %s after the last container ended", time.Since(ended).Round(time.Millisecond))
	if n := len(readSinkFile(t, out)); n != 1000 {
		t.Fatalf("%d records delivered, want 1000", n)
	}
}

// TestSidecarReportsLostStdout: what loglet exec could not copy shows in
// the sidecar's metrics.
func TestSidecarReportsLostStdout(t *testing.T) {
	vol := t.TempDir()
	dir := filepath.Join(vol, "stdout", "app")
	os.MkdirAll(dir, 0o755)
	os.Symlink("/dev/full", filepath.Join(dir, "stdout.log"))
	if out, err := exec.Command(loglet, "exec", "--dir", dir, "--", "echo", "lost line").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	a := startAgentWithEnv(t, []string{"LOGLET_STDOUT=wrap", "LOGLET_POD_VOLUME=" + vol, "LOGLET_STATE_DIR=" + filepath.Join(vol, "state"),
		"LOGLET_SINK=null://", "LOGLET_METRICS_ADDR=127.0.0.1:0"}, "--mode=sidecar")
	addr := a.metricsAddr(t)
	if n, ok := metric(t, addr, "loglet_stdout_lost_bytes"); !ok || n == 0 {
		t.Fatalf("loglet_stdout_lost_bytes = %v (present %v), want the lost bytes", n, ok)
	}
}

// TestSidecarRefusesLinks: an app container can plant links on the shared
// volume. The sidecar must not ship what they lead to — its own service
// account token, its state, another container's folder — only the files
// beneath the folder the pod's glob names; the refusals are logged.
func TestSidecarRefusesLinks(t *testing.T) {
	vol, secrets := t.TempDir(), t.TempDir()
	token := filepath.Join(secrets, "token")
	os.WriteFile(token, []byte("eyJhbGciOi.service-account-token\n"), 0o600)
	app, other := filepath.Join(vol, "c", "app", "0"), filepath.Join(vol, "c", "db", "0")
	os.MkdirAll(app, 0o755)
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(app, "app.log"), []byte("app line\n"), 0o644)
	os.WriteFile(filepath.Join(other, "db.log"), []byte("db line\n"), 0o644)
	state := filepath.Join(vol, "state")
	os.MkdirAll(filepath.Join(state, "rejected"), 0o755)
	os.WriteFile(filepath.Join(state, "rejected", "x-1.ndjson"), []byte(`{"body":"a rejected record"}`+"\n"), 0o644)
	for link, target := range map[string]string{
		"token.log": token,
		"state.log": filepath.Join(state, "rejected", "x-1.ndjson"),
		"db.log":    filepath.Join(other, "db.log"),
	} {
		if err := os.Symlink(target, filepath.Join(app, link)); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "out.ndjson")
	agent := commandWithEnv([]string{
		"LOGLET_PATH=" + app + "/*.log," + other + "/*.log",
		"LOGLET_STDOUT=off",
		"LOGLET_POD_VOLUME=" + vol,
		"LOGLET_STATE_DIR=" + state,
		"LOGLET_SINK=file://" + out,
	}, loglet, "agent", "--mode=sidecar", "--once", "--log-format", "json")
	msg, err := agent.CombinedOutput()
	if err != nil {
		t.Fatalf("agent: %v: %s", err, msg)
	}
	var bodies []string
	for _, r := range readSinkFile(t, out) {
		bodies = append(bodies, r.Body)
	}
	slices.Sort(bodies)
	if strings.Join(bodies, "|") != "app line|db line" {
		t.Errorf("shipped %q, want only the two log files' lines", bodies)
	}
	if n := strings.Count(string(msg), `"reason":"outside-root"`); n != 3 {
		t.Errorf("%d refusals logged, want 3 (token, state, the other container's file):\n%s", n, msg)
	}
}
