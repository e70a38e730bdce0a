// Package logconfig is what the webhook, its controller, the sidecar and
// the node agent agree on about LogConfigs (api/v1alpha1): which pods and
// containers a config selects, the document the controller renders into
// each namespace's ConfigMap, how an input's files in a container become
// paths on the sidecar's volume, and the checks every part applies with
// the same messages.
package logconfig

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/loglet/loglet/api/v1alpha1"
)

// The rendered configuration's place: one ConfigMap per namespace, which
// every injected sidecar of the namespace mounts (optional, read-only).
const (
	ConfigMapName = "loglet-logconfig"
	ConfigMapKey  = "logconfigs.json"
	// MountDir is where the sidecar mounts the ConfigMap; the kubelet
	// swaps its ..data symlink when the ConfigMap changes.
	MountDir = "/etc/loglet/logconfig"
	// File is the rendered document inside the sidecar.
	File = MountDir + "/" + ConfigMapKey
)

// ConditionAccepted is the status condition saying whether a config's
// inputs load; its reason is ReasonValid or ReasonInvalid.
const (
	ConditionAccepted = "Accepted"
	ReasonValid       = "Valid"
	ReasonInvalid     = "Invalid"
)

// Kinds of Entry.
const (
	KindLogConfig        = "LogConfig"
	KindClusterLogConfig = "ClusterLogConfig"
)

// Version is the rendered document's format: a sidecar refuses (and
// reports) a newer one rather than misread it.
const Version = 1

// Rendered is the ConfigMap's document: the configs that apply to the
// namespace, in the order they apply (Sort).
type Rendered struct {
	Version int     `json:"version"`
	Configs []Entry `json:"configs"`
}

// Entry is one LogConfig or ClusterLogConfig as it applies to a
// namespace.
type Entry struct {
	Kind       string                `json:"kind"`
	Name       string                `json:"name"`
	Generation int64                 `json:"generation,omitempty"`
	Selector   *metav1.LabelSelector `json:"selector,omitempty"`
	Containers []string              `json:"containers,omitempty"`
	Inputs     []v1alpha1.Input      `json:"inputs"`
	Sink       *v1alpha1.SinkRef     `json:"sink,omitempty"`
}

// FromLogConfig is lc's entry.
func FromLogConfig(lc *v1alpha1.LogConfig) Entry {
	return entry(KindLogConfig, lc.Name, lc.Generation, lc.Spec)
}

// FromClusterLogConfig is c's entry, for a namespace its namespace
// selector selects (Namespaces tells which).
func FromClusterLogConfig(c *v1alpha1.ClusterLogConfig) Entry {
	return entry(KindClusterLogConfig, c.Name, c.Generation, c.Spec.LogConfigSpec)
}

func entry(kind, name string, gen int64, s v1alpha1.LogConfigSpec) Entry {
	return Entry{Kind: kind, Name: name, Generation: gen, Selector: s.Selector, Containers: s.Containers, Inputs: s.Inputs, Sink: s.Sink}
}

// SelectsNamespace reports whether c applies to a namespace with these
// labels.
func SelectsNamespace(c *v1alpha1.ClusterLogConfig, nsLabels map[string]string) (bool, error) {
	return selects(c.Spec.NamespaceSelector, nsLabels)
}

// Selects reports whether e selects a pod with these labels.
func (e Entry) Selects(podLabels map[string]string) (bool, error) {
	return selects(e.Selector, podLabels)
}

func selects(s *metav1.LabelSelector, l map[string]string) (bool, error) {
	if s == nil {
		return true, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return false, fmt.Errorf("selector: %w", err)
	}
	return sel.Matches(labels.Set(l)), nil
}

// ContainersOf are the containers of all (the pod's, in order) that e
// applies to.
func (e Entry) ContainersOf(all []string) []string {
	if len(e.Containers) == 0 {
		return slices.Clone(all)
	}
	var out []string
	for _, c := range all {
		if slices.Contains(e.Containers, c) {
			out = append(out, c)
		}
	}
	return out
}

// InputName is what records of e's input carry as loglet.input:
// <name>/<input> for a LogConfig, cluster/<name>/<input> for a
// ClusterLogConfig (whose names may equal a LogConfig's).
func (e Entry) InputName(input string) string {
	if e.Kind == KindClusterLogConfig {
		return "cluster/" + e.Name + "/" + input
	}
	return e.Name + "/" + input
}

// Sort orders entries as they apply: LogConfigs before ClusterLogConfigs
// (the namespace's own word first), each by name. A file two inputs match
// is read by the first.
func Sort(entries []Entry) {
	slices.SortFunc(entries, func(a, b Entry) int {
		if a.Kind != b.Kind {
			if a.Kind == KindLogConfig {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// ForPod are the entries that select a pod with these labels, in order.
// An entry whose selector does not parse selects nothing (the controller
// reports it).
func ForPod(entries []Entry, podLabels map[string]string) []Entry {
	var out []Entry
	for _, e := range entries {
		if ok, err := e.Selects(podLabels); ok && err == nil {
			out = append(out, e)
		}
	}
	return out
}

// Parse reads a rendered document.
func Parse(data []byte) (Rendered, error) {
	var r Rendered
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s: %w", ConfigMapKey, err)
	}
	if r.Version != Version {
		return r, fmt.Errorf("%s: version %d: this loglet reads version %d; upgrade the sidecar image", ConfigMapKey, r.Version, Version)
	}
	return r, nil
}

// forbidden are folders log paths may not reach into: the node's and the
// pod's secrets and system views.
func forbidden() []string { return []string{"/proc", "/sys", "/dev", "/etc", "/var/run/secrets"} }

// CheckPath splits a log file glob as a container sees it into the folder
// the sidecar's volume is mounted at and the file name pattern, refusing
// what may not be shared. The pod annotation loglet.io/paths and a
// LogConfig's files get the same messages.
func CheckPath(glob string) (dir, pattern string, err error) {
	switch {
	case !strings.HasPrefix(glob, "/"):
		return "", "", fmt.Errorf("%q is not an absolute path", glob)
	case strings.Contains(glob, ".."):
		return "", "", fmt.Errorf("%q contains \"..\" (a parent folder)", glob)
	}
	dir, pattern = path.Dir(glob), path.Base(glob)
	if dir == "/" || glob == "/" {
		return "", "", fmt.Errorf("%q would mount the log volume over /", glob)
	}
	if strings.ContainsAny(dir, "*?[") {
		return "", "", fmt.Errorf("the folder of %q holds a wildcard; the folder must be plain, only the file name may be a glob", glob)
	}
	for _, f := range forbidden() {
		if dir == f || strings.HasPrefix(dir, f+"/") {
			return "", "", fmt.Errorf("%q is under %s, which log paths may not reach", glob, f)
		}
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return "", "", fmt.Errorf("%q: bad glob %q", glob, pattern)
	}
	return dir, pattern, nil
}
