package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
)

// criStreams rebuilds the stdout and stderr byte streams from a CRI file.
func criStreams(t *testing.T, path string) (stdout, stderr []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			break
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		parts := bytes.SplitN(line, []byte(" "), 4)
		if len(parts) < 3 {
			t.Fatalf("not a CRI line: %q", line)
		}
		if _, err := time.Parse(time.RFC3339Nano, string(parts[0])); err != nil {
			t.Fatalf("CRI time %q: %v", parts[0], err)
		}
		var text []byte
		if len(parts) == 4 {
			text = parts[3]
		}
		if string(parts[2]) == "F" {
			text = append(text, '\n')
		}
		switch string(parts[1]) {
		case "stdout":
			stdout = append(stdout, text...)
		case "stderr":
			stderr = append(stderr, text...)
		default:
			t.Fatalf("stream %q", parts[1])
		}
	}
	return stdout, stderr
}

// TestExecPassesThroughAndCopies: loglet exec hands every byte of the
// command's stdout and stderr through unchanged, and the CRI copy holds
// the same bytes.
func TestExecPassesThroughAndCopies(t *testing.T) {
	dir := t.TempDir()
	script := `printf 'line one\npartial'; printf 'err line\n' >&2; printf '\000\377\376bin\n\001'; printf ' end'; head -c 300000 /dev/zero | tr '\0' 'x'`
	cmd := exec.Command(loglet, "exec", "--dir", dir, "--", "sh", "-c", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	want := "line one\npartial\000\377\376bin\n\001 end" + strings.Repeat("x", 300000)
	if stdout.String() != want || stderr.String() != "err line\n" {
		t.Fatalf("pass-through differs: stdout %d bytes (want %d), stderr %q", stdout.Len(), len(want), stderr.String())
	}
	gotOut, gotErr := criStreams(t, filepath.Join(dir, "stdout.log"))
	if string(gotOut) != want || string(gotErr) != "err line\n" {
		t.Fatalf("CRI copy differs: stdout %d bytes (want %d), stderr %q", len(gotOut), len(want), gotErr)
	}
}

func TestExecExitCodes(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 7", 7},
		{"kill -9 $$", 137},
		{"kill -TERM $$", 143},
	} {
		err := exec.Command(loglet, "exec", "--dir", t.TempDir(), "--", "sh", "-c", tc.script).Run()
		if code := exitCode(err); code != tc.want {
			t.Errorf("%q: exit %d, want %d", tc.script, code, tc.want)
		}
	}
	out, err := exec.Command(loglet, "exec", "--dir", t.TempDir(), "--", "/no/such/program").CombinedOutput()
	if code := exitCode(err); code != 127 || !strings.Contains(string(out), "/no/such/program") {
		t.Errorf("missing program: exit %d, %q", code, out)
	}
}

// TestExecForwardsSignals: TERM, INT and HUP reach the command, which
// decides how to exit.
func TestExecForwardsSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		name := strings.TrimPrefix(sig.String(), "SIG")
		script := fmt.Sprintf(`trap 'echo got-%d; exit 3' %d; echo ready; while :; do sleep 0.02; done`, int(sig), int(sig))
		cmd := exec.Command(loglet, "exec", "--dir", t.TempDir(), "--", "sh", "-c", script)
		out := &syncBuffer{}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 5*time.Second, "the command to start", func() bool { return strings.Contains(out.String(), "ready") })
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		if code := exitCode(err); code != 3 || !strings.Contains(out.String(), "got-"+strconv.Itoa(int(sig))) {
			t.Errorf("%s: exit %d, output %q; want the command's trap to run and exit 3", name, code, out.String())
		}
	}
}

// TestExecFullVolume: when the copy cannot be written (ENOSPC), output
// still passes through, the command is unharmed, and the loss is counted.
func TestExecFullVolume(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/dev/full", filepath.Join(dir, "stdout.log")); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd := exec.Command(loglet, "exec", "--dir", dir, "--", "sh", "-c", "echo still here; exit 5")
	cmd.Stdout = &stdout
	if code := exitCode(cmd.Run()); code != 5 || stdout.String() != "still here\n" {
		t.Fatalf("exit %d, stdout %q", code, stdout.String())
	}
	lost, err := os.ReadFile(filepath.Join(dir, "lost-bytes"))
	if n, _ := strconv.Atoi(strings.TrimSpace(string(lost))); err != nil || n == 0 {
		t.Fatalf("lost-bytes %q (%v), want the lost bytes counted", lost, err)
	}
}

// TestExecReapsOrphansAsPID1 runs loglet exec as PID 1 of a new PID
// namespace; an orphaned grandchild is reparented to it and must not stay a
// zombie.
func TestExecReapsOrphansAsPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a new PID namespace needs root; CI runs as root")
	}
	cmd := exec.Command(loglet, "exec", "--dir", t.TempDir(), "--", "sh", "-c", `sh -c 'sleep 0.1 > /dev/null &'; echo ready; exec sleep 30`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	out := &syncBuffer{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	poll.Until(t, 5*time.Second, "the orphan to be started", func() bool { return strings.Contains(out.String(), "ready") })
	// After the orphan's 0.1 s, loglet exec's only child must be the shell:
	// a zombie would stay listed.
	poll.Until(t, 20*time.Second, "loglet exec as PID 1 to have the shell as its only child, no zombie", func() bool {
		kids, zombies := children(t, cmd.Process.Pid)
		return zombies == 0 && kids == 1
	})
	cmd.Process.Signal(syscall.SIGTERM)
}

// children counts a process's children (of all its threads: an orphan is
// reparented to any of them) and how many are zombies.
func children(t *testing.T, pid int) (n, zombies int) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil || len(files) == 0 {
		t.Fatalf("no /proc/%d/task/*/children: %v", pid, err)
	}
	var all []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all = append(all, strings.Fields(string(b))...)
	}
	for _, c := range all {
		n++
		stat, _ := os.ReadFile("/proc/" + c + "/stat")
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			zombies++
		}
	}
	return n, zombies
}

func TestExecInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	if out, err := exec.Command(loglet, "exec", "--install", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, err := exec.Command(filepath.Join(dir, "loglet"), "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "loglet ") {
		t.Fatalf("the installed copy does not run: %v %q", err, out)
	}
}
