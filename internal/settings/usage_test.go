package settings

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestFlagUsages(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.Bool("once", false, "read once")
	fs.Bool("pod-metadata", true, "read pods")
	fs.String("batch-bytes", "524288", "package size")
	fs.String("max-bytes", "10GiB", "stream size")
	fs.String("odd-bytes", "1000", "not a binary multiple")
	fs.String("sink", "stdout://", "where records go")
	fs.String("empty", "", "no default")
	fs.StringSlice("path", nil, "globs")
	fs.Duration("wait", 0, "no wait")
	fs.Duration("tick", time.Second, "a tick")
	fs.Int("n", 0, "count")
	fs.StringP("output", "o", "text", "the `form`")
	fs.String("secret", "", "hidden")
	if err := fs.MarkHidden("secret"); err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(FlagUsages(fs), "\n"), "\n") {
		f := strings.Fields(l)
		name := f[0]
		if name == "-o," {
			name = f[1]
		}
		lines[name] = l
	}
	for _, tc := range []struct{ flag, want, not string }{
		{"--once", "--once ", "[=true|false]"},
		{"--once", "read once", "(default"},
		{"--pod-metadata", "read pods (default true)", "[="},
		{"--batch-bytes", `--batch-bytes string`, "524288"},
		{"--batch-bytes", `(default "512KiB")`, ""},
		{"--max-bytes", `(default "10GiB")`, ""},
		{"--odd-bytes", `(default "1000")`, "KiB"},
		{"--sink", `where records go (default "stdout://")`, ""},
		{"--empty", "no default", "(default"},
		{"--path", "--path strings", "(default"},
		{"--wait", "no wait", "(default"},
		{"--tick", "a tick (default 1s)", ""},
		{"--n", "count", "(default"},
		{"--output", "-o, --output form", ""},
	} {
		l, ok := lines[tc.flag]
		if !ok {
			t.Errorf("%s not listed:\n%s", tc.flag, FlagUsages(fs))
			continue
		}
		if !strings.Contains(l, tc.want) || (tc.not != "" && strings.Contains(l, tc.not)) {
			t.Errorf("%s: %q; want %q and not %q", tc.flag, l, tc.want, tc.not)
		}
	}
	if _, ok := lines["--secret"]; ok {
		t.Errorf("the hidden flag is listed")
	}
	// One column: every usage starts where the longest head ends.
	col := strings.Index(lines["--once"], "read once")
	for name, l := range lines {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("%s: usage not in the column at %d: %q", name, col, l)
		}
	}
}
