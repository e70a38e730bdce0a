package node

import (
	"fmt"
	"slices"
	"strings"

	"github.com/loglet/loglet/sidecar/podapi"
	"k8s.io/apimachinery/pkg/labels"
)

// The pod annotations of DESIGN.md that node mode reads.
const (
	annotationExclude        = "loglet.io/exclude"
	annotationStatus         = "loglet.io/status"
	annotationFormat         = "loglet.io/format"
	annotationMultilineStart = "loglet.io/multiline-start"
	annotationMultiline      = "loglet.io/multiline"
)

// Selector picks the containers whose logs are collected: a source is
// read when it passes every include rule given (any value of a rule
// matches) and no exclude rule.
type Selector struct {
	IncludeNamespaces, ExcludeNamespaces []string
	// IncludePods and ExcludePods are label selectors; nil: no rule.
	IncludePods, ExcludePods labels.Selector
	// Annotations and env are KEY=VALUE, or KEY for any value.
	IncludeAnnotations, ExcludeAnnotations []string
	IncludeEnv, ExcludeEnv                 []string
}

// ParseSelector reads the rules as the flags give them.
func ParseSelector(includePods, excludePods string) (Selector, error) {
	var s Selector
	for _, r := range []struct {
		flag, val string
		sel       *labels.Selector
	}{{"include-pods", includePods, &s.IncludePods}, {"exclude-pods", excludePods, &s.ExcludePods}} {
		if r.val == "" {
			continue
		}
		sel, err := labels.Parse(r.val)
		if err != nil {
			return Selector{}, fmt.Errorf("%s %q: %w (a label selector like app=web,tier!=cache or 'app in (web,api)')", r.flag, r.val, err)
		}
		*r.sel = sel
	}
	return s, nil
}

// skip says whether the container's logs are left out, and why. pod is
// nil when the API did not tell the pod: then only the namespace rules
// apply, and the logs are read with what the path tells.
func (s *Selector) skip(src Source, pod *podapi.Pod) string {
	if len(s.IncludeNamespaces) > 0 && !slices.Contains(s.IncludeNamespaces, src.Namespace) {
		return "namespace not included"
	}
	if slices.Contains(s.ExcludeNamespaces, src.Namespace) {
		return "namespace excluded"
	}
	if pod == nil {
		return ""
	}
	switch {
	case pod.Annotations[annotationStatus] == "injected":
		return "the pod has a loglet sidecar"
	case pod.Annotations[annotationExclude] == "true":
		return annotationExclude + " is true"
	}
	set := labels.Set(pod.Labels)
	if s.IncludePods != nil && !s.IncludePods.Matches(set) {
		return "labels not included"
	}
	if s.ExcludePods != nil && s.ExcludePods.Matches(set) {
		return "labels excluded"
	}
	if len(s.IncludeAnnotations) > 0 && !anyMatch(s.IncludeAnnotations, pod.Annotations) {
		return "annotations not included"
	}
	if anyMatch(s.ExcludeAnnotations, pod.Annotations) {
		return "annotation excluded"
	}
	env := containerEnv(pod, src.Container)
	if len(s.IncludeEnv) > 0 && !anyMatch(s.IncludeEnv, env) {
		return "container env not included"
	}
	if anyMatch(s.ExcludeEnv, env) {
		return "container env excluded"
	}
	return ""
}

// anyMatch tells whether one of rules (KEY=VALUE or KEY) holds in m.
func anyMatch(rules []string, m map[string]string) bool {
	for _, r := range rules {
		k, v, hasValue := strings.Cut(r, "=")
		if got, ok := m[k]; ok && (!hasValue || got == v) {
			return true
		}
	}
	return false
}

func container(pod *podapi.Pod, name string) *podapi.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// containerEnv is a container's literal environment (values from
// references are not known to the API).
func containerEnv(pod *podapi.Pod, name string) map[string]string {
	env := map[string]string{}
	if c := container(pod, name); c != nil {
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
	}
	return env
}
