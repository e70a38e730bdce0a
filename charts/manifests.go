package charts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Manifest is a plain YAML file in manifests/, rendered from the chart for
// users without Helm.
type Manifest struct {
	// Path of the file.
	Path string
	// Set are the values it is rendered with, over the defaults.
	Set []string
}

// Manifests are the files `make manifests` writes. Their hub has one
// member: a cluster's route password is made at install, which plain YAML
// cannot do (the chart makes it with Helm).
func Manifests() []Manifest {
	root := filepath.Join(Dir(), "..", "..", "manifests")
	return []Manifest{
		{Path: filepath.Join(root, "loglet.yaml"), Set: []string{"hub.replicas=1"}},
		{Path: filepath.Join(root, "loglet-node.yaml"), Set: []string{"hub.replicas=1", "nodeMode.enabled=true"}},
	}
}

// Render is the file's content.
func (m Manifest) Render() ([]byte, error) {
	r, err := Render(Dir(), ReleaseName, ReleaseNamespace, m.Set...)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# loglet, rendered from charts/loglet by `make manifests` (release %q, values %q).\n", ReleaseName, m.Set)
	fmt.Fprintf(&b, "# Do not edit: change the chart. Install: kubectl create namespace %s && kubectl apply -f %s\n", ReleaseNamespace, filepath.Base(m.Path))
	// The CRDs first, as helm install applies them. kubectl delete -f
	// deletes them, and every LogConfig with them, where helm uninstall
	// leaves them.
	fmt.Fprintf(&b, "# The CustomResourceDefinitions come first (the chart's crds/): `kubectl delete -f %s` deletes them and every\n# LogConfig and ClusterLogConfig with them, where helm uninstall leaves them.\n", filepath.Base(m.Path))
	b.WriteString(r.CRDs)
	b.WriteString(r.Manifests)
	return b.Bytes(), nil
}

// Write renders the file.
func (m Manifest) Write() error {
	b, err := m.Render()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(m.Path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(m.Path, b, 0o644)
}
