package logconfig

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/sidecar/config"
)

// MountsSetting is the sidecar's setting (in its configuration document)
// holding Mounts as JSON: the webhook writes it when it injects.
const MountsSetting = "container-mounts"

// Mounts are the folders of each container shared with the sidecar:
// container → folder as the container sees it → the folder on the
// sidecar's volume, relative to its root (the webhook's subPath).
type Mounts map[string]map[string]string

// PodInput is one LogConfig input as a selected pod's sidecar reads it.
type PodInput struct {
	// Name is the input's name in the agent (Entry.InputName).
	Name string
	// Input is the LogConfig's, its files as globs on the sidecar's volume
	// (absolute, under the root given to PodInputs).
	Input v1alpha1.Input
	// Stdout are the containers whose stdout the input reads.
	Stdout []string
	// Unshared are the files (container:glob) whose folder was not shared
	// with the sidecar when the pod was created: read once the pod is
	// created again.
	Unshared []string
}

// PodInputs are the inputs entries (those selecting the pod, in order)
// give a pod with these containers, whose folders mounts shares with the
// sidecar mounted at root.
func PodInputs(entries []Entry, containers []string, mounts Mounts, root string) []PodInput {
	var out []PodInput
	for _, e := range entries {
		cs := e.ContainersOf(containers)
		if len(cs) == 0 {
			continue
		}
		for _, in := range e.Inputs {
			pi := PodInput{Name: e.InputName(in.Name), Input: in}
			pi.Input.Name = pi.Name
			pi.Input.Files = nil
			pi.Input.Stdout = false
			if in.Stdout {
				pi.Stdout = cs
			}
			for _, c := range cs {
				for _, f := range in.Files {
					dir, pattern, err := CheckPath(f)
					if err != nil {
						continue // refused when applied: the controller says why
					}
					sub, ok := mounts[c][dir]
					if !ok {
						pi.Unshared = append(pi.Unshared, c+":"+f)
						continue
					}
					pi.Input.Files = append(pi.Input.Files, path.Join(root, sub, pattern))
				}
			}
			out = append(out, pi)
		}
	}
	return out
}

// Folders are the folders of each container that entries' files need
// shared (container → folders, sorted): what the webhook mounts.
func Folders(entries []Entry, containers []string) map[string][]string {
	out := map[string][]string{}
	for _, e := range entries {
		for _, c := range e.ContainersOf(containers) {
			for _, in := range e.Inputs {
				for _, f := range in.Files {
					if dir, _, err := CheckPath(f); err == nil && !slices.Contains(out[c], dir) {
						out[c] = append(out[c], dir)
					}
				}
			}
		}
	}
	for c := range out {
		slices.Sort(out[c])
	}
	return out
}

// Document is in as an entry of the configuration document's inputs
// (what config.LoadInputs reads): the LogConfig keys that are not the
// document's (stdout) left out.
func Document(in v1alpha1.Input) (map[string]any, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "stdout")
	return m, nil
}

// Validate is why a config cannot be applied, or nil: its selector does
// not parse, or its inputs do not load as a sidecar will load them (with
// the agent's own loader, after checking each file as the pod annotation
// loglet.io/paths is checked). The error names the field, the input and
// the key. The validating webhook, the controller's Accepted condition
// and loglet inject all check with it.
func Validate(s v1alpha1.LogConfigSpec) error {
	if s.Selector != nil {
		if _, err := metav1.LabelSelectorAsSelector(s.Selector); err != nil {
			return fmt.Errorf("spec.selector: %w", err)
		}
	}
	var list []any
	for i, in := range s.Inputs {
		where := fmt.Sprintf("spec.inputs[%d] (%s)", i, in.Name)
		if len(in.Files) == 0 && !in.Stdout {
			return fmt.Errorf("%s: reads nothing; give files: [/var/log/app/*.log] or stdout: true", where)
		}
		for _, f := range in.Files {
			if _, _, err := CheckPath(f); err != nil {
				return fmt.Errorf("%s: files: %w", where, err)
			}
		}
		m, err := Document(in)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		list = append(list, m)
	}
	if _, err := config.LoadInputs(list, config.InputOptions{}); err != nil {
		return fmt.Errorf("spec.inputs: %w", err)
	}
	return nil
}

// ValidateCluster is Validate for a ClusterLogConfig, with its namespace
// selector.
func ValidateCluster(s v1alpha1.ClusterLogConfigSpec) error {
	if s.NamespaceSelector != nil {
		if _, err := metav1.LabelSelectorAsSelector(s.NamespaceSelector); err != nil {
			return fmt.Errorf("spec.namespaceSelector: %w", err)
		}
	}
	return Validate(s.LogConfigSpec)
}
