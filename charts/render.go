// Package charts renders and lints the Helm chart in charts/loglet with
// Helm's own Go packages, as `helm template` and `helm lint` do, so
// neither the tests nor `make manifests` need a Helm binary.
package charts

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
)

// The release `make manifests` renders.
const (
	ReleaseName      = "loglet"
	ReleaseNamespace = "loglet-system"
)

// Dir is the folder of the loglet chart.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "loglet")
}

// Rendered is what `helm install` would apply and print.
type Rendered struct {
	// CRDs are the chart's crds/ folder, which `helm install` applies
	// before the templates (and `helm template` leaves out unless asked
	// with --include-crds). Helm never upgrades nor deletes them.
	CRDs string
	// Manifests are the documents in Helm's install order.
	Manifests string
	// Notes is NOTES.txt, rendered.
	Notes string
}

// Render renders the chart in dir for a release named name in namespace,
// with --set style values ("webhook.replicas=3") over the chart's
// defaults. Values are checked against values.schema.json first.
func Render(dir, name, namespace string, set ...string) (Rendered, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return Rendered{}, fmt.Errorf("load chart %s: %w", dir, err)
	}
	vals, err := parseSet(set)
	if err != nil {
		return Rendered{}, err
	}
	top, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: name, Namespace: namespace, Revision: 1, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		return Rendered{}, err
	}
	files, err := engine.Render(ch, top)
	if err != nil {
		return Rendered{}, err
	}
	var out Rendered
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			out.Notes = content
			delete(files, name)
		}
	}
	_, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return Rendered{}, err
	}
	var b strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	out.Manifests = b.String()
	b.Reset()
	for _, crd := range ch.CRDObjects() {
		// controller-gen starts each file with a document separator.
		doc := strings.TrimPrefix(strings.TrimSpace(string(crd.File.Data)), "---\n")
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", crd.Filename, doc)
	}
	out.CRDs = b.String()
	return out, nil
}

// Lint runs `helm lint` on the chart with the --set values; warnings count
// as failures, information does not.
func Lint(dir string, set ...string) error {
	vals, err := parseSet(set)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range lint.All(dir, vals, ReleaseNamespace, false).Messages {
		if m.Severity >= support.WarningSev {
			errs = append(errs, m)
		}
	}
	return errors.Join(errs...)
}

func parseSet(set []string) (map[string]any, error) {
	vals := map[string]any{}
	for _, s := range set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("value %q: %w (want key=value, like webhook.replicas=3)", s, err)
		}
	}
	return vals, nil
}
