package parse_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loglet/loglet/sidecar/parse"
)

// The presets are tested on traces the runtimes really print: each test
// runs the runtime on a program in testdata/traces that writes ordinary
// lines and exceptions the ways applications do (a logger's exception, a
// chained cause, an uncaught one). make test installs the runtimes Debian
// packages (hack/runtimes.sh) and sets TRACE_RUNTIMES=required, so
// there a missing runtime fails the test instead of skipping it. .NET is
// not packaged by Debian: its trace (testdata/traces/dotnet.txt) follows
// the format .NET documents.

// traceCase is one runtime's program and the first lines of the records
// its output must give, in order.
type traceCase struct {
	preset string
	run    func(t *testing.T) string // the program's output (stdout and stderr as written)
	heads  []string
	// contains are lines some record must hold (a cause, a chained
	// exception), proving the trace was joined across them.
	contains []string
}

var traceCases = []traceCase{
	{preset: "java", run: func(t *testing.T) string { return runTrace(t, "java", "Traces.java") },
		heads: []string{"2026-12-01 10:00:00 INFO starting", "2026-12-01 10:00:01 ERROR request failed",
			"java.lang.IllegalStateException: outer", "java.lang.RuntimeException: with suppressed",
			"2026-12-01 10:00:02 INFO done", `Exception in thread "main" java.lang.IllegalStateException: outer`},
		contains: []string{"Caused by: java.lang.IllegalArgumentException: inner <bad>", "\tSuppressed: java.io.IOException: close failed"}},
	{preset: "python", run: func(t *testing.T) string { return runTrace(t, "python3", "-u", "traces.py") },
		heads: []string{"2026-12-01 10:00:00,000 WARNING starting", "2026-12-01 10:00:00,000 ERROR request failed",
			"Traceback (most recent call last):", "2026-12-01 10:00:00,000 ERROR second", "Traceback (most recent call last):",
			"2026-12-01 10:00:00,000 WARNING done", "Traceback (most recent call last):"},
		contains: []string{"During handling of the above exception, another exception occurred:", "ValueError: bad value",
			"The above exception was the direct cause of the following exception:", "RuntimeError: wrapped <b>"}},
	{preset: "go", run: runGoPanic,
		heads:    []string{"2026-12-01T10:00:00Z INFO starting", "panic: assignment to entry in nil map [recovered]"},
		contains: []string{"goroutine 1 [running]:", "main.main()", "created by main.main in goroutine 1"}},
	{preset: "ruby", run: func(t *testing.T) string { return runTrace(t, "ruby", "traces.rb") },
		heads: []string{"2026-12-01T10:00:00 INFO starting", "2026-12-01T10:00:00 ERROR outer (RuntimeError)",
			"traces.rb:13:in `rescue in <main>': outer (RuntimeError)", "2026-12-01T10:00:00 INFO done",
			"traces.rb:8:in `inner': inner (ArgumentError)"},
		contains: []string{"traces.rb:10:in `<main>'", "traces.rb:8:in `inner': inner (ArgumentError)", "\tfrom traces.rb:20:in `<main>'"}},
	{preset: "node", run: func(t *testing.T) string { return runTrace(t, "node", "traces.js") },
		heads: []string{"2026-12-01T10:00:00Z info starting", "Error: wrapped", "2026-12-01T10:00:01Z info next",
			"/traces.js:6"},
		contains: []string{"  [cause]: SyntaxError: Expected property name or '}' in JSON at position 1", "TypeError: boom"}},
	{preset: "dotnet", run: func(t *testing.T) string { return readTrace(t, "dotnet.txt") },
		heads: []string{"2026-12-01 10:00:00 info: App[0] starting", "Unhandled exception. System.InvalidOperationException: outer",
			"2026-12-01 10:00:01 fail: App[0] request failed", "System.Net.Http.HttpRequestException: Connection refused (localhost:80)",
			"2026-12-01 10:00:02 info: App[0] done"},
		contains: []string{"   --- End of inner exception stack trace ---", "--- End of stack trace from previous location ---"}},
}

func TestMultilinePresets(t *testing.T) {
	outputs := make([]string, len(traceCases))
	for i, tc := range traceCases {
		t.Run(tc.preset, func(t *testing.T) {
			out := tc.run(t)
			outputs[i] = out
			checkTrace(t, out, parse.Config{MultilinePreset: tc.preset}, tc.heads, tc.contains)
		})
	}
	// auto, on every runtime's output one after another, separated by
	// ordinary lines: each trace recognised, nothing unrelated joined.
	t.Run("auto", func(t *testing.T) {
		var all strings.Builder
		var heads, contains []string
		for i, tc := range traceCases {
			if outputs[i] == "" {
				t.Fatalf("no output of %s to mix", tc.preset)
			}
			line := "2026-12-01T10:00:09Z INFO next runtime: " + tc.preset
			all.WriteString(line + "\n" + outputs[i])
			heads = append(append(heads, line), tc.heads...)
			contains = append(contains, tc.contains...)
		}
		checkTrace(t, all.String(), parse.Config{MultilinePreset: "auto"}, heads, contains)
	})
}

// checkTrace reads out with cfg and checks the records begin with heads
// (a head starting with "/" is matched as a suffix of the first line: a
// path), that some record holds each of contains, and that the records
// joined by newlines give out back: nothing lost, nothing doubled.
func checkTrace(t *testing.T, out string, cfg parse.Config, heads, contains []string) {
	t.Helper()
	for _, batch := range []int{1 << 20, 512} {
		got := readRecords(t, out, cfg, batch)
		var firsts, bodies []string
		for _, r := range got {
			first, _, _ := strings.Cut(r.Body, "\n")
			firsts, bodies = append(firsts, first), append(bodies, r.Body)
		}
		ok := len(firsts) == len(heads)
		for i := 0; ok && i < len(heads); i++ {
			if strings.HasPrefix(heads[i], "/") {
				ok = strings.HasSuffix(firsts[i], heads[i])
			} else {
				ok = firsts[i] == heads[i]
			}
		}
		if !ok {
			t.Fatalf("batch %d: records begin with\n  %q\nwant\n  %q\nrecords:\n%s", batch, firsts, heads, dump(got))
		}
		for _, c := range contains {
			found := false
			for _, b := range bodies {
				for _, l := range strings.Split(b, "\n") {
					found = found || l == c
				}
			}
			if !found {
				t.Errorf("batch %d: no record holds the line %q:\n%s", batch, c, dump(got))
			}
		}
		if joined := strings.Join(bodies, "\n"); joined != strings.TrimSuffix(out, "\n") {
			t.Errorf("batch %d: the records joined are not the output (%d bytes, want %d)", batch, len(joined), len(out)-1)
		}
	}
}

// runTrace runs a runtime on a program in testdata/traces, from there,
// with stdout and stderr into one file as a container runtime writes them.
func runTrace(t *testing.T, runtime string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath(runtime)
	if err != nil {
		if os.Getenv("TRACE_RUNTIMES") == "required" {
			t.Fatalf("%s not found: hack/runtimes.sh installs it", runtime)
		}
		t.Skipf("%s not found (make test installs it with hack/runtimes.sh)", runtime)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Join("testdata", "traces")
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all", "NO_COLOR=1", "NODE_DISABLE_COLORS=1")
	return outputOf(t, cmd)
}

// runGoPanic builds and runs testdata/traces/gopanic.
func runGoPanic(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "gopanic")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/traces/gopanic").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	return outputOf(t, cmd)
}

// outputOf runs cmd, which is expected to die of its last exception, and
// returns what it wrote to stdout and stderr, in the order written.
func outputOf(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err == nil {
		t.Fatalf("%s exited 0; want it to die of an uncaught exception", cmd.Path)
	} else if _, ok := err.(*exec.ExitError); !ok {
		t.Fatal(err)
	}
	out, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func readTrace(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "traces", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Lines that look like a trace's inside only join while that trace is
// open: auto must not join them to ordinary lines.
func TestPresetAutoLeavesOrdinaryLines(t *testing.T) {
	lines := []string{
		"2026-12-01 10:00:00 INFO config:",
		"  indented: true", // indented, but no frame
		"}",
		"main.main()", // a Go function line, outside a panic
		"",
		"ValueError: outside a traceback",
		"During handling of the above exception, another exception occurred:",
		"2026-12-01 10:00:01 INFO exit status 2",
		"/app/server.js:12",
		"const x = 1;",
		"2026-12-01 10:00:02 INFO after a Node location: an ordinary line ends it",
	}
	content := strings.Join(lines, "\n") + "\n"
	got := readRecords(t, content, parse.Config{MultilinePreset: "auto"}, 1<<20)
	var bodies []string
	for _, r := range got {
		bodies = append(bodies, r.Body)
	}
	want := append(lines[:8:8], "/app/server.js:12\nconst x = 1;", lines[10])
	if strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Errorf("records\n  %q\nwant\n  %q", bodies, want)
	}
}
