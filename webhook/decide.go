package webhook

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/loglet/loglet/internal/settings"
	"github.com/loglet/loglet/logconfig"
)

// NamespaceLabel opts a whole namespace in (enabled) or out (disabled).
const NamespaceLabel = "loglet.io/inject"

// SidecarName is the injected container's name.
const SidecarName = "loglet"

// Decision says whether a pod gets the sidecar, and why.
type Decision struct {
	Inject bool
	Reason string
}

// Decide applies the opt-in rules of pods without LogConfigs: DecideWith
// with none.
func Decide(pod *corev1.Pod, namespace string, nsLabels map[string]string, cfg Config) Decision {
	return DecideWith(pod, namespace, nsLabels, nil, cfg)
}

// DecideWith applies the opt-in rules: the pod says inject "true", or its
// namespace is labelled loglet.io/inject=enabled, or a LogConfig or
// ClusterLogConfig selects it (selected: logconfig.ForPod's entries that
// apply to one of its containers), and the pod does not say "false";
// never in kube-system, kube-public, the webhook's own namespace, an
// excluded one or one labelled loglet.io/inject=disabled; never twice.
func DecideWith(pod *corev1.Pod, namespace string, nsLabels map[string]string, selected []logconfig.Entry, cfg Config) Decision {
	switch {
	case namespace == "kube-system" || namespace == "kube-public" || namespace == cfg.Namespace:
		return Decision{false, "namespace " + namespace + " is never injected"}
	case slices.Contains(cfg.ExcludedNamespaces, namespace):
		return Decision{false, "namespace " + namespace + " is excluded"}
	case nsLabels[NamespaceLabel] == "disabled":
		// The webhook's registration leaves such namespaces out (its
		// namespaceSelector): the API server never asks about their pods.
		return Decision{false, "namespace " + namespace + " is labelled " + NamespaceLabel + "=disabled"}
	case pod.Annotations[AnnotationStatus] == "injected":
		return Decision{false, "already injected"}
	case hasContainer(pod, SidecarName):
		return Decision{false, "the pod already has a container named " + SidecarName}
	}
	switch pod.Annotations[AnnotationInject] {
	case "true":
		return Decision{true, "the pod opted in"}
	case "false":
		return Decision{false, "the pod opted out"}
	}
	if nsLabels[NamespaceLabel] == "enabled" {
		return Decision{true, reasonNamespace}
	}
	if len(selected) > 0 {
		return Decision{true, reasonSelected + configNames(selected)}
	}
	return Decision{false, reasonNotOptedIn}
}

// configNames names entries for a person: "LogConfig a, ClusterLogConfig b".
func configNames(entries []logconfig.Entry) string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Kind + " " + e.Name
	}
	return strings.Join(names, ", ")
}

// selecting are the entries of configs (of the pod's namespace, in
// logconfig.Sort order) that select pod and apply to one of its
// containers at least: those that opt it in and configure its sidecar.
func selecting(configs []logconfig.Entry, pod *corev1.Pod) []logconfig.Entry {
	var out []logconfig.Entry
	names := appContainers(pod)
	for _, e := range logconfig.ForPod(configs, pod.Labels) {
		if len(e.ContainersOf(names)) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// appContainers are the names of the pod's containers, in order (init
// containers never: a LogConfig reads what runs).
func appContainers(pod *corev1.Pod) []string {
	names := make([]string, len(pod.Spec.Containers))
	for i, c := range pod.Spec.Containers {
		names[i] = c.Name
	}
	return names
}

// The reasons of the decisions a pod's own annotations could have
// changed: the ones an opt-in typo warning is for.
const (
	reasonNamespace  = "the namespace opted in"
	reasonNotOptedIn = "not opted in"
	// reasonSelected starts the reason of a pod LogConfigs opted in; the
	// configs' names follow.
	reasonSelected = "selected by "
)

// optInWarnings tells a pod that seems to have meant to opt in, or out,
// and did not: an inject value other than "true" or "false" ("True",
// "enabled"), or loglet annotations without inject. Pods that say nothing
// of loglet, or opt out, or are in a namespace never injected, get none.
func optInWarnings(pod *corev1.Pod, d Decision) []string {
	bySelection := strings.HasPrefix(d.Reason, reasonSelected)
	if d.Reason != reasonNamespace && d.Reason != reasonNotOptedIn && !bySelection {
		return nil
	}
	v, said := pod.Annotations[AnnotationInject]
	if said {
		hint := ""
		if strings.EqualFold(v, "enabled") {
			hint = ` ("enabled" is the value of the namespace label ` + NamespaceLabel + `, not of the pod's annotation)`
		}
		if bySelection {
			return []string{fmt.Sprintf(`annotation %s=%q is neither "true" nor "false" and is ignored: the pod is injected because it is %s; write %s: "false" to opt it out%s`,
				AnnotationInject, v, d.Reason, AnnotationInject, hint)}
		}
		if d.Inject {
			return []string{fmt.Sprintf(`annotation %s=%q is neither "true" nor "false" and is ignored: the pod is injected because its namespace is labelled %s=enabled; write %s: "false" to opt it out%s`,
				AnnotationInject, v, NamespaceLabel, AnnotationInject, hint)}
		}
		return []string{fmt.Sprintf(`annotation %s=%q is neither "true" nor "false", so the pod is not injected; write %s: "true" (lower case, quoted) to opt it in%s`,
			AnnotationInject, v, AnnotationInject, hint)}
	}
	if d.Inject {
		return nil
	}
	var names []string
	for _, k := range sortedKeys(pod.Annotations) {
		if !strings.HasPrefix(k, Prefix) || k == AnnotationStatus {
			continue
		}
		if !known[k] {
			if near := settings.Suggest(k, knownAnnotations()); near != "" {
				k += " (unknown; did you mean " + near + "?)"
			} else {
				k += " (unknown)"
			}
		}
		names = append(names, k)
	}
	if len(names) == 0 {
		return nil
	}
	return []string{fmt.Sprintf(`the pod sets %s but not %s: "true", so it is not injected; add that annotation (or label its namespace %s=enabled) to opt it in`,
		strings.Join(names, ", "), AnnotationInject, NamespaceLabel)}
}

// rbacWarnings tells a pod whose sidecar will read its containers'
// stdout from the Kubernetes API (stdout api, or auto for a container
// without a command) in a namespace where the chart did not bind the
// loglet-sidecar role: without it the sidecar is refused pods/log.
func rbacWarnings(pod *corev1.Pod, namespace string, req Request, cfg Config) []string {
	mode, err := stdoutMode(pod, req)
	if err != nil || mode != "api" || slices.Contains(cfg.SidecarRBACNamespaces, namespace) {
		return nil
	}
	why := AnnotationStdout + ": api"
	if req.Stdout == "auto" {
		for _, c := range pod.Spec.Containers {
			if len(c.Command) == 0 {
				why = fmt.Sprintf("%s: auto picks api: container %s has no command, so it cannot be wrapped", AnnotationStdout, c.Name)
				break
			}
		}
	}
	return []string{fmt.Sprintf("the loglet sidecar reads the containers' stdout from the Kubernetes API (%s), which needs get on pods and pods/log for the pod's service account; "+
		"namespace %s is not among the chart's rbac.sidecarNamespaces, so unless the loglet-sidecar ClusterRole is bound there otherwise (SECURITY.md) the sidecar is refused and captures no stdout. "+
		"Add the namespace to rbac.sidecarNamespaces, give every container a command (auto then wraps it), or set %s: off",
		why, namespace, AnnotationStdout)}
}

func hasContainer(pod *corev1.Pod, name string) bool {
	named := func(c corev1.Container) bool { return c.Name == name }
	return slices.ContainsFunc(pod.Spec.Containers, named) || slices.ContainsFunc(pod.Spec.InitContainers, named)
}

// Inject decides for a pod without LogConfigs and, if it opted in,
// mutates it: InjectWith with none.
func Inject(pod *corev1.Pod, namespace string, nsLabels map[string]string, cfg Config) (out *corev1.Pod, d Decision, warnings []string, err error) {
	return InjectWith(pod, namespace, nsLabels, nil, cfg)
}

// InjectWith decides for a pod and, if it opted in, mutates it. configs
// are the LogConfigs of the namespace and the ClusterLogConfigs that
// select it, those whose inputs load (logconfig.Validate), in
// logconfig.Sort order: the ones selecting the pod opt it in and add
// their inputs. The pod is returned unchanged when the decision is not to
// inject; an opted-in pod with invalid annotations gets an
// *InvalidError, and one whose sidecar could not start with the
// configuration they make a *StartError.
func InjectWith(pod *corev1.Pod, namespace string, nsLabels map[string]string, configs []logconfig.Entry, cfg Config) (out *corev1.Pod, d Decision, warnings []string, err error) {
	return injectWith(pod, namespace, nsLabels, configs, cfg, nil)
}

// injectWith is InjectWith with the sidecar starts already accepted
// (nil: none), as the handler keeps them.
func injectWith(pod *corev1.Pod, namespace string, nsLabels map[string]string, configs []logconfig.Entry, cfg Config, loaded *startCache) (out *corev1.Pod, d Decision, warnings []string, err error) {
	selected := selecting(configs, pod)
	d = DecideWith(pod, namespace, nsLabels, selected, cfg)
	warnings = optInWarnings(pod, d)
	if !d.Inject {
		return pod, d, warnings, nil
	}
	req, more, err := ReadRequest(pod)
	warnings = append(warnings, more...)
	if err != nil {
		return pod, Decision{}, warnings, err
	}
	warnings = append(warnings, withLogConfigs(pod, &req, selected, d)...)
	if len(req.LogConfigs) == 0 && len(req.Paths) == 0 && len(req.Inputs) == 0 && req.Stdout == "off" {
		return pod, Decision{}, warnings, nothingToRead(nil)
	}
	out, more, err = Mutate(pod, req, cfg)
	if err != nil {
		return pod, Decision{}, warnings, err
	}
	warnings = append(warnings, more...)
	if err := checkSidecar(out, namespace, req, loaded); err != nil {
		return pod, Decision{}, warnings, err
	}
	return out, d, append(warnings, rbacWarnings(pod, namespace, req, cfg)...), nil
}

// withLogConfigs adds the selected configs to req. A pod only LogConfigs
// opted in, whose annotations ask for nothing to read (neither
// loglet.io/paths nor loglet.io/stdout), has no input of its own: the
// configs say what is collected, and its stdout is captured only when one
// of their inputs reads it. A selected input reading stdout turns the
// capture on even where the pod says off, as auto would pick it.
func withLogConfigs(pod *corev1.Pod, req *Request, selected []logconfig.Entry, d Decision) []string {
	req.LogConfigs = selected
	_, paths := pod.Annotations[AnnotationPaths]
	stdout, saidStdout := pod.Annotations[AnnotationStdout]
	if strings.HasPrefix(d.Reason, reasonSelected) && !paths && (!saidStdout || stdout == "off") {
		req.NoDefaultInput = true
		req.Stdout = "off"
	}
	reader := stdoutReader(selected, appContainers(pod))
	if reader == "" || req.Stdout != "off" {
		return nil
	}
	req.Stdout = "auto"
	if saidStdout {
		return []string{fmt.Sprintf("annotation %s=off is overridden: %s reads the containers' stdout, so the loglet sidecar captures it as %s: auto does",
			AnnotationStdout, reader, AnnotationStdout)}
	}
	return nil
}

// stdoutReader names the first input of entries that reads the stdout of
// one of containers ("LogConfig web input access"), or "".
func stdoutReader(entries []logconfig.Entry, containers []string) string {
	for _, e := range entries {
		if len(e.ContainersOf(containers)) == 0 {
			continue
		}
		for _, in := range e.Inputs {
			if in.Stdout {
				return fmt.Sprintf("%s %s input %s", e.Kind, e.Name, in.Name)
			}
		}
	}
	return ""
}

// needsNamespace reports whether the decision for pod depends on its
// namespace's label: unless the pod says inject "true" or "false" itself
// (Decide reads any other value, "True" too, as not said).
func needsNamespace(pod *corev1.Pod) bool {
	v := pod.Annotations[AnnotationInject]
	return v != "true" && v != "false"
}
