package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
)

func TestMalformedConfigNamesTheKey(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"bad size", "path: [/var/log/*.log]\nbatch-bytes: lots\n", []string{"batch-bytes", `"lots"`, "512KiB"}},
		{"bad duration", "path: [/var/log/*.log]\nbatch-wait: soon\n", []string{"batch-wait", "500ms"}},
		{"unknown key", "path: [/var/log/*.log]\nbach-bytes: 1024\n", []string{`unknown key "bach-bytes"`, `did you mean "batch-bytes"?`}},
		{"unknown key of an input", "inputs:\n  - name: app\n    files: [/var/log/*.log]\n    fromat: json\n", []string{`inputs[0] (app): unknown key "fromat"`, `did you mean "format"?`}},
		{"inputs and per-input keys", "format: json\ninputs:\n  - name: app\n    files: [/var/log/*.log]\n", []string{"format: given outside inputs", "set format in each input"}},
		{"two inputs of one name", "inputs:\n  - {name: app, files: [/a/*.log]}\n  - {name: app, files: [/b/*.log]}\n", []string{`inputs[1] (app): name: "app" names two inputs`}},
		{"input without a name", "inputs:\n  - files: [/a/*.log]\n", []string{"inputs[0]: name: missing"}},
		{"csv input without fields", "inputs:\n  - {name: app, files: [/a/*.log], format: csv}\n", []string{"input app", "csv"}},
		{"newer document", "version: 2\npath: [/var/log/*.log]\n", []string{"version 2", "reads version 1"}},
		{"bad choice", "path: [/var/log/*.log]\nstart-at: middle\n", []string{"start-at", "beginning, end"}},
		{"not YAML", "path: [/var/log/*.log\n", []string{"config file", "yaml"}},
		{"relative path", "path: [logs/*.log]\n", []string{`path "logs/*.log"`, "absolute"}},
		{"no path", "sink: null://\n", []string{"--path"}},
		{"regex that does not compile", "path: [/var/log/*.log]\nformat: 'regex:^(?P<ip>\\S+'\n", []string{"format regex:", "does not compile", "missing closing )"}},
		{"multiline-start that does not compile", "path: [/var/log/*.log]\nmultiline-start: '^[0-9'\n", []string{"multiline-start", "does not compile"}},
		{"unknown format", "path: [/var/log/*.log]\nformat: xml\n", []string{`format "xml"`, "logfmt"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "loglet.yaml")
			if err := os.WriteFile(cfg, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(loglet, "agent", "--config", cfg, "--state-dir", t.TempDir()).CombinedOutput()
			if code := exitCode(err); code != 1 {
				t.Fatalf("exit code %d, want 1; output:\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("error does not mention %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestUnknownVariableNamesTheNearest: a misspelled LOGLET_* variable
// stops the agent with the one that was meant, rather than being ignored.
func TestUnknownVariableNamesTheNearest(t *testing.T) {
	cmd := exec.Command(loglet, "agent", "--path", "/var/log/*.log", "--state-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "LOGLET_BATCH_BYTE=1MiB")
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit code %d, want 1; output:\n%s", code, out)
	}
	for _, w := range []string{`"LOGLET_BATCH_BYTE"`, `did you mean "LOGLET_BATCH_BYTES"?`} {
		if !strings.Contains(string(out), w) {
			t.Errorf("error does not mention %q:\n%s", w, out)
		}
	}
}

// TestDocumentInEnvironment: LOGLET_CONFIG may hold the whole document as
// JSON, as the webhook hands it to a sidecar.
func TestDocumentInEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.log"), []byte(`{"level":"error","msg":"boom"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.ndjson")
	cmd := exec.Command(loglet, "agent", "--state-dir", t.TempDir())
	cmd.Env = append(os.Environ(), `LOGLET_CONFIG={"version":1,"once":"true","sink":"file://`+out+`","inputs":[{"name":"app","files":["`+dir+`/*.log"],"format":"json"}]}`)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	recs := readSinkFile(t, out)
	if len(recs) != 1 || recs[0].Body != "boom" || recs[0].Severity != "ERROR" {
		t.Errorf("records %+v, want the one line parsed as JSON", recs)
	}
}

func TestFlagsWinOverEnvWinsOverFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.log"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "loglet.yaml")
	os.WriteFile(cfg, []byte("path: "+dir+"/*.log\nsink: file://"+dir+"/from-file.ndjson\nonce: true\n"), 0o644)
	run := func(env []string, args ...string) {
		cmd := exec.Command(loglet, append([]string{"agent", "--config", cfg, "--state-dir", t.TempDir()}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	run(nil)
	run([]string{"LOGLET_SINK=file://" + dir + "/from-env.ndjson"})
	run([]string{"LOGLET_SINK=file://" + dir + "/from-env2.ndjson"}, "--sink", "file://"+dir+"/from-flag.ndjson")
	for _, name := range []string{"from-file", "from-env", "from-flag"} {
		if recs := readSinkFile(t, filepath.Join(dir, name+".ndjson")); len(recs) != 1 {
			t.Errorf("%s: %d records, want 1", name, len(recs))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "from-env2.ndjson")); err == nil {
		t.Errorf("the environment won over a flag")
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// asUnprivileged runs cmd as nobody when the tests run as root (CI does),
// so that file permissions mean something; dirs are made reachable.
func asUnprivileged(t *testing.T, cmd *exec.Cmd, dirs ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	for _, d := range append(dirs, filepath.Dir(loglet)) {
		for p := d; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
			os.Chmod(p, 0o755)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
}

func chownNobody(t *testing.T, paths ...string) {
	if os.Geteuid() != 0 {
		return
	}
	for _, p := range paths {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStateDirNotWritable(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o555)
	cmd := exec.Command(loglet, "agent", "--path", dir+"/*.log", "--state-dir", state, "--sink", "null://")
	asUnprivileged(t, cmd, dir)
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit code %d, want 1:\n%s", code, out)
	}
	for _, w := range []string{state, "--state-dir", "permission denied"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("error does not mention %q:\n%s", w, out)
		}
	}
}

func TestUnreadableFileIsReportedAndSkipped(t *testing.T) {
	dir := t.TempDir()
	logs, state := filepath.Join(dir, "logs"), filepath.Join(dir, "state")
	os.Mkdir(logs, 0o755)
	os.Mkdir(state, 0o755)
	chownNobody(t, state, dir)
	os.WriteFile(filepath.Join(logs, "good.log"), []byte("readable line\n"), 0o644)
	secret := filepath.Join(logs, "secret.log")
	os.WriteFile(secret, []byte("nobody may read this\n"), 0o600)
	if os.Geteuid() != 0 {
		os.Chmod(secret, 0)
	}
	out := filepath.Join(dir, "out.ndjson")
	a := &agent{cmd: exec.Command(loglet, "agent", "--log-format", "json", "--path", logs+"/*.log", "--state-dir", state,
		"--sink", "file://"+out, "--scan-interval", "50ms"), stderr: &syncBuffer{}, done: make(chan struct{})}
	asUnprivileged(t, a.cmd, logs, state)
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	defer func() { a.cmd.Process.Kill(); <-a.done }()
	poll.Until(t, 10*time.Second, "the readable file delivered", func() bool {
		recs, _, _ := sinktest.ReadFile(out)
		return len(recs) == 1 && recs[0].Body == "readable line"
	})
	poll.Until(t, 10*time.Second, "an error naming the unreadable file", func() bool {
		s := a.stderr.String()
		return strings.Contains(s, secret) && strings.Contains(s, "permission denied") && strings.Contains(s, "--exclude")
	})
	if n := strings.Count(a.stderr.String(), "cannot open log file"); n != 1 {
		t.Errorf("the unreadable file was reported %d times, want once", n)
	}
}

// TestSIGTERMDrains: on SIGTERM the agent reads every file to its end,
// delivers, checkpoints and exits 0.
func TestSIGTERMDrains(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeLines(t, path, 10000, func(i int) string { return fmt.Sprintf("before %d", i) })
	out := filepath.Join(dir, "out.ndjson")
	state := filepath.Join(dir, "state")
	a := startAgent(t, "--path", dir+"/*.log", "--state-dir", state, "--sink", "file://"+out, "--batch-wait", "10s")
	poll.Until(t, 10*time.Second, "the agent to start reading", func() bool { return strings.Contains(a.stderr.String(), `"msg":"reading"`) })
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	for i := range 10000 {
		fmt.Fprintf(f, "after %d\n", i)
	}
	f.Close()
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(t, 25*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if recs := readSinkFile(t, out); len(recs) != 20000 {
		t.Errorf("%d records delivered by the drain, want 20000", len(recs))
	}
	cps := checkpointtest.Load(t, state)
	if len(cps) != 1 || cps[0].Offset != fileSize(path) {
		t.Errorf("checkpoints after drain: %+v, want one at offset %d", cps, fileSize(path))
	}
}

// TestSecondSignalExitsAtOnce: with the hub hanging, the drain cannot
// finish; a second signal ends the agent at once, checkpoints intact.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	release := make(chan struct{})
	srv := newHangingHub(t, release)
	dir := t.TempDir()
	writeLines(t, filepath.Join(dir, "app.log"), 100, func(i int) string { return fmt.Sprint(i) })
	state := filepath.Join(dir, "state")
	a := startAgent(t, "--path", dir+"/*.log", "--state-dir", state, "--sink", srv, "--batch-wait", "10ms")
	poll.Until(t, 10*time.Second, "a checkpoint", func() bool { return len(checkpointtest.Load(t, state)) == 1 })
	a.cmd.Process.Signal(syscall.SIGTERM)
	poll.Until(t, 10*time.Second, "the drain to start", func() bool { return strings.Contains(a.stderr.String(), "draining") })
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(t, 5*time.Second); code != 130 {
		t.Errorf("exit code %d after a second signal, want 130", code)
	}
	close(release)
	if cps := checkpointtest.Load(t, state); len(cps) != 1 || cps[0].Offset != 0 {
		t.Errorf("checkpoints %+v, want the one written before, at offset 0 (nothing was acknowledged)", cps)
	}
}

// TestDrainTimeout: a hub that does not answer cannot hold the agent past
// --drain-timeout; it exits 1 saying what will happen to the unsent lines.
func TestDrainTimeout(t *testing.T) {
	_, srv := newHub(t, func(int, []sinkRecord) (int, string) { return http.StatusServiceUnavailable, "" })
	dir := t.TempDir()
	writeLines(t, filepath.Join(dir, "app.log"), 100, func(i int) string { return fmt.Sprint(i) })
	a := startAgent(t, "--path", dir+"/*.log", "--state-dir", filepath.Join(dir, "state"), "--sink", srv.URL, "--drain-timeout", "1s")
	poll.Until(t, 10*time.Second, "a failed send", func() bool { return strings.Contains(a.stderr.String(), "retrying") })
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(t, 10*time.Second); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if s := a.stderr.String(); !strings.Contains(s, "drain did not finish within 1s") || !strings.Contains(s, "sent again on the next start") {
		t.Errorf("stderr does not explain the timeout:\n%s", lastLines(s, 5))
	}
}
