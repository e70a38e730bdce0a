package webhook

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/logconfig"
)

// offlineConfigs are what `loglet inject` knows of the cluster: the
// LogConfigs, ClusterLogConfigs and Namespaces in its input.
//
// The offline rule for a ClusterLogConfig's namespaceSelector: a
// namespace the input holds is judged by its labels, as the webhook does;
// one it does not hold has labels no one knows, so a ClusterLogConfig with
// a namespaceSelector is not applied there and inject warns, once per
// config and namespace (without a selector it applies everywhere).
type offlineConfigs struct {
	logConfigs map[string][]logconfig.Entry // namespace → its LogConfigs
	clusters   []*v1alpha1.ClusterLogConfig
	namespaces map[string]map[string]string // namespace → labels
	warned     map[string]bool
}

// forNamespace are the configs that apply to the pods of ns, in order,
// the namespace's labels if known, and warnings not said before.
func (o *offlineConfigs) forNamespace(ns string) ([]logconfig.Entry, map[string]string, []string, error) {
	if o == nil {
		return nil, nil, nil, nil
	}
	labels, known := o.namespaces[ns]
	var warnings []string
	var clusters []*v1alpha1.ClusterLogConfig
	for _, c := range o.clusters {
		if c.Spec.NamespaceSelector != nil && !known {
			if key := c.Name + "\x00" + ns; !o.warned[key] {
				o.warned[key] = true
				warnings = append(warnings, fmt.Sprintf("ClusterLogConfig %s has a namespaceSelector and the input holds no Namespace %s, whose labels are not known offline: it is not applied to the pods of %s (add the Namespace to the input to apply it)", c.Name, ns, ns))
			}
			continue
		}
		clusters = append(clusters, c)
	}
	configs, err := configsFor(o.logConfigs[ns], clusters, func() (map[string]string, error) { return labels, nil })
	return configs, labels, warnings, err
}

// collectConfigs reads the LogConfigs, ClusterLogConfigs and Namespaces
// of srcs (also inside Lists), refusing a config the validating webhook
// would refuse, with its message.
func collectConfigs(srcs []Source) (*offlineConfigs, error) {
	o := &offlineConfigs{logConfigs: map[string][]logconfig.Entry{}, namespaces: map[string]map[string]string{}, warned: map[string]bool{}}
	for _, src := range srcs {
		name := src.Name
		if name == "-" {
			name = "standard input"
		}
		for i, c := range split(src.Data) {
			var doc yaml.Node
			if err := yaml.Unmarshal(c.body, &doc); err != nil || doc.Kind == 0 || len(doc.Content) == 0 {
				continue // said when the document is written
			}
			if err := o.add(doc.Content[0]); err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", name, i+1, err)
			}
		}
	}
	for ns := range o.logConfigs {
		logconfig.Sort(o.logConfigs[ns])
	}
	return o, nil
}

// add takes obj's configs and namespaces (a List's items' too).
func (o *offlineConfigs) add(obj *yaml.Node) error {
	if obj.Kind != yaml.MappingNode {
		return nil
	}
	kind := scalar(get(obj, "kind"))
	if items := get(obj, "items"); strings.HasSuffix(kind, "List") && items != nil && items.Kind == yaml.SequenceNode {
		for i, item := range items.Content {
			if err := o.add(item); err != nil {
				return fmt.Errorf("%s: items[%d]: %w", kind, i, err)
			}
		}
		return nil
	}
	group, _, _ := strings.Cut(scalar(get(obj, "apiVersion")), "/")
	switch {
	case kind == "Namespace" && group == "v1":
		text, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		var ns struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := sigsyaml.Unmarshal(text, &ns); err != nil {
			return fmt.Errorf("kind Namespace: %w", err)
		}
		o.namespaces[ns.Metadata.Name] = ns.Metadata.Labels
	case group != v1alpha1.GroupVersion.Group:
	case kind == logconfig.KindLogConfig:
		var lc v1alpha1.LogConfig
		if err := decodeNode(obj, &lc); err != nil {
			return err
		}
		if err := logconfig.Validate(lc.Spec); err != nil {
			return fmt.Errorf("%s %s: %w", kind, lc.Name, err)
		}
		ns := lc.Namespace
		if ns == "" {
			ns = "default" // as for the pods: kubectl's default namespace
		}
		o.logConfigs[ns] = append(o.logConfigs[ns], logconfig.FromLogConfig(&lc))
	case kind == logconfig.KindClusterLogConfig:
		var c v1alpha1.ClusterLogConfig
		if err := decodeNode(obj, &c); err != nil {
			return err
		}
		if err := logconfig.ValidateCluster(c.Spec); err != nil {
			return fmt.Errorf("%s %s: %w", kind, c.Name, err)
		}
		o.clusters = append(o.clusters, &c)
	}
	return nil
}

// decodeNode decodes a YAML object as kubectl would send it.
func decodeNode(obj *yaml.Node, into any) error {
	text, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	if err := sigsyaml.UnmarshalStrict(text, into); err != nil {
		return fmt.Errorf("%s: %w", scalar(get(obj, "kind")), err)
	}
	return nil
}
