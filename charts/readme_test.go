package charts

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/loglet/loglet/webhook"
)

// helmShowReadme is what `helm show readme` prints for the chart at path,
// a folder or a packaged .tgz: Helm's loader reads the chart, and the first
// of its files named README.md, README.txt or README (in any case) is
// printed with a newline, as Helm's action.Show does. Like the other chart
// tests it needs no Helm binary; action.Show itself would link Helm's
// Kubernetes client and release storage into the module for this alone.
func helmShowReadme(path string) (string, error) {
	ch, err := loader.Load(path)
	if err != nil {
		return "", err
	}
	for _, f := range ch.Files {
		for _, name := range []string{"readme.md", "readme.txt", "readme"} {
			if strings.EqualFold(f.Name, name) {
				return fmt.Sprintf("%s\n", f.Data), nil
			}
		}
	}
	return "", fmt.Errorf("chart %s has no README", path)
}

// readmeSection is the text of the "## heading" section of a README, up to
// the next section of that level.
func readmeSection(readme, heading string) (string, bool) {
	_, after, ok := strings.Cut(readme, "\n## "+heading+"\n")
	if !ok {
		return "", false
	}
	if i := strings.Index(after, "\n## "); i >= 0 {
		after = after[:i]
	}
	return after, true
}

// TestHelmShowReadme: what `helm show readme` prints for the packaged
// chart (what a user reads before installing it) tells how a pod opts in
// and how its containers' stdout is read, with the names the webhook
// takes. A `helm` on the PATH must print the same.
func TestHelmShowReadme(t *testing.T) {
	ch, err := loader.Load(Dir())
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := chartutil.Save(ch, t.TempDir()) // as helm package and make chart do
	if err != nil {
		t.Fatal(err)
	}
	readme, err := helmShowReadme(tgz)
	if err != nil {
		t.Fatal(err)
	}
	if helm, err := exec.LookPath("helm"); err == nil {
		out, err := exec.Command(helm, "show", "readme", tgz).Output()
		if err != nil {
			t.Fatalf("helm show readme: %v", err)
		}
		if string(out) != readme {
			t.Errorf("helm show readme prints something else than the chart's README.md:\n%s", out)
		}
	} else {
		t.Log("no helm on the PATH: the README read with Helm's loader only")
	}

	for _, tc := range []struct {
		heading string
		want    []string
	}{
		{"Which pods get the sidecar", []string{
			webhook.AnnotationInject + `: "true"`,
			"template",
			webhook.NamespaceLabel + "=enabled",
			webhook.NamespaceLabel + "=disabled",
			webhook.AnnotationInject + `: "false"`,
			"LogConfig",
			"docs/logconfig.md",
			"README.md",
		}},
		{"Containers' stdout", []string{
			webhook.AnnotationStdout,
			"`wrap`", "`api`", "`auto`", "`off`",
			"`command`",
			"pods/log",
			"rbac.sidecarNamespaces",
			"README.md",
		}},
	} {
		section, ok := readmeSection(readme, tc.heading)
		if !ok {
			t.Errorf("helm show readme has no section %q", "## "+tc.heading)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(section, w) {
				t.Errorf("section %q of helm show readme does not say %q", tc.heading, w)
			}
		}
	}

	// The chart is published on its own: a relative link there leads
	// nowhere, so the README names the repository's files instead.
	for _, m := range regexp.MustCompile(`\]\(([^)]*)\)`).FindAllStringSubmatch(readme, -1) {
		if target := m[1]; !strings.HasPrefix(target, "#") && !strings.HasPrefix(target, "https://") {
			t.Errorf("helm show readme links to %q, which leads nowhere outside the repository: name the file instead", target)
		}
	}
}
