// Package logconfigctl is the LogConfig controller of `loglet webhook`:
// it renders the LogConfigs and ClusterLogConfigs that apply to each
// namespace into the namespace's ConfigMap (which injected sidecars
// mount), keeps the configs' status (Accepted, matchedPods) current, and
// finds the pods that opted in but run without the sidecar (a metric, an
// Event each and, when asked to, an eviction so their owner re-creates
// them injected). `loglet status` reports with the same functions.
//
// This file holds what the controller and `loglet status` share: which
// configs are valid, which apply to a namespace and a pod, and which pods
// miss their sidecar. It takes the webhook's decision as a function so
// the webhook package (which registers the controller) is not imported.
package logconfigctl

import (
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/logconfig"
)

// The pod annotations of the pod contract the controller reads (the
// webhook's AnnotationInject and AnnotationStatus; a test keeps them
// equal).
const (
	AnnotationInject = "loglet.io/inject"
	AnnotationStatus = "loglet.io/status"
)

// Decider is the webhook's decision (webhook.Decide with its Config):
// whether it injects pod, created in namespace (labelled nsLabels), from
// the pod's annotations and the namespace alone, and why.
type Decider func(pod *corev1.Pod, namespace string, nsLabels map[string]string) (inject bool, reason string)

// NeverInjected reports whether the webhook never injects pods of the
// namespace (kube-system, its own, excluded ones): a pod asking for the
// sidecar itself is refused there.
func NeverInjected(decide Decider, namespace string, nsLabels map[string]string) bool {
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Annotations: map[string]string{AnnotationInject: "true"}}}
	ok, _ := decide(probe, namespace, nsLabels)
	return !ok
}

// Configs are the LogConfigs and ClusterLogConfigs of a cluster (or of a
// namespace and the cluster) with the verdict of logconfig.Validate and
// logconfig.ValidateCluster on each, so a config is checked once per pass.
type Configs struct {
	LogConfigs        []v1alpha1.LogConfig
	ClusterLogConfigs []v1alpha1.ClusterLogConfig
	// Invalid holds the error of each config that cannot be applied, by
	// Key.
	Invalid map[string]error
}

// Key names a config in Configs.Invalid: kind/namespace/name.
func Key(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// NewConfigs checks each config.
func NewConfigs(lcs []v1alpha1.LogConfig, clcs []v1alpha1.ClusterLogConfig) Configs {
	c := Configs{LogConfigs: lcs, ClusterLogConfigs: clcs, Invalid: map[string]error{}}
	for i := range lcs {
		if err := logconfig.Validate(lcs[i].Spec); err != nil {
			c.Invalid[Key(logconfig.KindLogConfig, lcs[i].Namespace, lcs[i].Name)] = err
		}
	}
	for i := range clcs {
		if err := logconfig.ValidateCluster(clcs[i].Spec); err != nil {
			c.Invalid[Key(logconfig.KindClusterLogConfig, "", clcs[i].Name)] = err
		}
	}
	return c
}

// Entries are the configs that apply to the namespace (labelled
// nsLabels), in the order they apply (logconfig.Sort): its valid
// LogConfigs and the valid ClusterLogConfigs whose namespace selector
// selects it. A namespace the webhook never injects gets none.
func (c Configs) Entries(decide Decider, namespace string, nsLabels map[string]string) []logconfig.Entry {
	if NeverInjected(decide, namespace, nsLabels) {
		return nil
	}
	var out []logconfig.Entry
	for i := range c.LogConfigs {
		lc := &c.LogConfigs[i]
		if lc.Namespace == namespace && c.Invalid[Key(logconfig.KindLogConfig, lc.Namespace, lc.Name)] == nil {
			out = append(out, logconfig.FromLogConfig(lc))
		}
	}
	for i := range c.ClusterLogConfigs {
		clc := &c.ClusterLogConfigs[i]
		if c.Invalid[Key(logconfig.KindClusterLogConfig, "", clc.Name)] != nil {
			continue
		}
		if ok, err := logconfig.SelectsNamespace(clc, nsLabels); ok && err == nil {
			out = append(out, logconfig.FromClusterLogConfig(clc))
		}
	}
	logconfig.Sort(out)
	return out
}

// Selector is a config's entry with its pod selector parsed once, for
// the many pods of a pass.
type Selector struct {
	Entry logconfig.Entry
	// sel is nil when the selector does not parse: it selects nothing.
	sel labels.Selector
}

// NewSelector parses e's pod selector.
func NewSelector(e logconfig.Entry) Selector {
	s := Selector{Entry: e, sel: labels.Everything()}
	if e.Selector != nil {
		var err error
		if s.sel, err = metav1.LabelSelectorAsSelector(e.Selector); err != nil {
			s.sel = nil
		}
	}
	return s
}

// NewSelectors parses each entry's pod selector, in order.
func NewSelectors(entries []logconfig.Entry) []Selector {
	out := make([]Selector, len(entries))
	for i, e := range entries {
		out[i] = NewSelector(e)
	}
	return out
}

// Applies reports whether the config collects from pod: its selector
// selects the pod and its container filter leaves at least one of the
// pod's containers (logconfig.Entry.ContainersOf).
func (s Selector) Applies(pod *corev1.Pod) bool {
	if s.sel == nil || !s.sel.Matches(labels.Set(pod.Labels)) {
		return false
	}
	if len(s.Entry.Containers) == 0 {
		return len(pod.Spec.Containers) > 0
	}
	for _, c := range pod.Spec.Containers {
		if slices.Contains(s.Entry.Containers, c.Name) {
			return true
		}
	}
	return false
}

// Running reports whether pod has not ended (neither Succeeded nor
// Failed): what matchedPods counts.
func Running(pod *corev1.Pod) bool {
	return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

// Matched reports whether the config counts pod in its matchedPods: the pod
// runs, has not opted out (loglet.io/inject: "false" always wins), and
// the config applies to it.
func (s Selector) Matched(pod *corev1.Pod) bool {
	return Running(pod) && pod.Annotations[AnnotationInject] != "false" && s.Applies(pod)
}

// Uninjected says why pod should run with the loglet sidecar and does
// not ("" when it should not, or has it): it opted in (Decide: its
// annotation, its namespace's label) or a config of sels (those of
// its namespace) applies to it, it does not opt out, the webhook could
// inject it, and it has no loglet.io/status: injected. Pods that ended or
// are being deleted, and static pods (their mirror in the API cannot be
// changed), are left out.
func Uninjected(pod *corev1.Pod, nsLabels map[string]string, sels []Selector, decide Decider) string {
	if !Running(pod) || pod.DeletionTimestamp != nil || pod.Annotations[AnnotationStatus] == "injected" {
		return ""
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return ""
	}
	if ok, why := decide(pod, pod.Namespace, nsLabels); ok {
		return why
	}
	if pod.Annotations[AnnotationInject] == "false" {
		return ""
	}
	var by []string
	for _, s := range sels {
		if s.Applies(pod) {
			by = append(by, s.Entry.Kind+" "+s.Entry.Name)
		}
	}
	if len(by) == 0 {
		return ""
	}
	// Would the webhook inject it at all, selected? Not a pod with a
	// container named like the sidecar (nor one in a namespace it never
	// injects, which has no entries).
	probe := *pod // shallow: only the annotations change
	probe.Annotations = maps.Clone(pod.Annotations)
	if probe.Annotations == nil {
		probe.Annotations = map[string]string{}
	}
	probe.Annotations[AnnotationInject] = "true"
	if ok, _ := decide(&probe, pod.Namespace, nsLabels); !ok {
		return ""
	}
	return "selected by " + strings.Join(by, ", ")
}
