package pipeline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loglet/loglet/sidecar/source"
)

// TestLinksStayInside: links an app plants in a watched folder must not
// make the agent read what lies outside the folders it was given. A link
// to a file in the same folder is read; a link to a secret elsewhere, to
// a file in another glob's folder (strict: a sidecar's other container)
// is refused and counted.
func TestLinksStayInside(t *testing.T) {
	for _, tc := range []struct {
		mode    source.LinkMode
		want    []string // bodies read
		refused float64
	}{
		// A file reached by two names (b.log and the link to it) is one
		// source, read once; a loop is no file, so never matched.
		{source.LinksStrict, []string{"app line", "rotated line", "b line"}, 3},
		{source.LinksGlobRoots, []string{"app line", "rotated line", "b line"}, 2},
		{source.LinksAny, []string{"app line", "rotated line", "b line", "secret line"}, 0},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			vol, outside := t.TempDir(), t.TempDir()
			a, b := filepath.Join(vol, "c", "a"), filepath.Join(vol, "c", "b")
			secret := filepath.Join(outside, "token")
			writeLog(t, secret, "secret line")
			writeLog(t, filepath.Join(a, "app-1.log"), "app line")
			writeLog(t, filepath.Join(a, "old.txt"), "rotated line")
			writeLog(t, filepath.Join(b, "b.log"), "b line")
			os.MkdirAll(filepath.Join(outside, "dir"), 0o755)
			for link, target := range map[string]string{
				"same-folder.log": "old.txt",                  // inside: read
				"evil.log":        secret,                     // outside every root
				"shadow.log":      "../../../../../" + secret, // relative, climbing out
				"neighbour.log":   filepath.Join(b, "b.log"),  // another glob's folder
				"loop.log":        "loop.log",
				"fifo-dir":        outside, // a linked folder
			} {
				if err := os.Symlink(target, filepath.Join(a, link)); err != nil {
					t.Fatal(err)
				}
			}
			cfg := testConfig(a+"/*.log", b+"/*.log")
			cfg.Links = source.LinkPolicy{Mode: tc.mode}
			cfg.Once = true
			out := filepath.Join(t.TempDir(), "out.ndjson")
			ag, sk := newAgent(t, cfg, t.TempDir(), "file://"+out)
			if err := ag.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			sk.Close()
			got := bodiesOf(readOut(t, out))
			if strings.Join(sorted(got), "|") != strings.Join(sorted(tc.want), "|") {
				t.Errorf("read %q, want %q", got, tc.want)
			}
			if refused := counter(t, ag, "loglet_files_refused_total"); refused != tc.refused {
				t.Errorf("loglet_files_refused_total = %v, want %v", refused, tc.refused)
			}
		})
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// counter sums a metric of the agent over its labels (0 when it has
// none).
func counter(t *testing.T, a *Agent, name string) float64 {
	t.Helper()
	v, _ := metricValue(t, a, name)
	return v
}
