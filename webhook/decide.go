package webhook

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/loglet/loglet/internal/settings"
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

// Decide applies the opt-in rules: the pod says inject "true", or its
// namespace is labelled loglet.io/inject=enabled and the pod does not say
// "false"; never in kube-system, kube-public, the webhook's own namespace or
// an excluded one; never twice.
func Decide(pod *corev1.Pod, namespace string, nsLabels map[string]string, cfg Config) Decision {
	switch {
	case namespace == "kube-system" || namespace == "kube-public" || namespace == cfg.Namespace:
		return Decision{false, "namespace " + namespace + " is never injected"}
	case slices.Contains(cfg.ExcludedNamespaces, namespace):
		return Decision{false, "namespace " + namespace + " is excluded"}
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
	return Decision{false, reasonNotOptedIn}
}

// The reasons of the decisions a pod's own annotations could have
// changed: the ones an opt-in typo warning is for.
const (
	reasonNamespace  = "the namespace opted in"
	reasonNotOptedIn = "not opted in"
)

// optInWarnings tells a pod that seems to have meant to opt in, or out,
// and did not: an inject value other than "true" or "false" ("True",
// "enabled"), or loglet annotations without inject. Pods that say nothing
// of loglet, or opt out, or are in a namespace never injected, get none.
func optInWarnings(pod *corev1.Pod, d Decision) []string {
	if d.Reason != reasonNamespace && d.Reason != reasonNotOptedIn {
		return nil
	}
	v, said := pod.Annotations[AnnotationInject]
	if said {
		hint := ""
		if strings.EqualFold(v, "enabled") {
			hint = ` ("enabled" is the value of the namespace label ` + NamespaceLabel + `, not of the pod's annotation)`
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

// Inject decides for a pod and, if it opted in, mutates it. The pod is
// returned unchanged when the decision is not to inject; an opted-in pod
// with invalid annotations gets an *InvalidError, and one whose sidecar
// could not start with the configuration they make a *StartError.
func Inject(pod *corev1.Pod, namespace string, nsLabels map[string]string, cfg Config) (out *corev1.Pod, d Decision, warnings []string, err error) {
	d = Decide(pod, namespace, nsLabels, cfg)
	warnings = optInWarnings(pod, d)
	if !d.Inject {
		return pod, d, warnings, nil
	}
	req, more, err := ReadRequest(pod)
	warnings = append(warnings, more...)
	if err != nil {
		return pod, Decision{}, warnings, err
	}
	out, more, err = Mutate(pod, req, cfg)
	if err != nil {
		return pod, Decision{}, warnings, err
	}
	warnings = append(warnings, more...)
	if err := checkSidecar(out, namespace, req); err != nil {
		return pod, Decision{}, warnings, err
	}
	return out, d, append(warnings, rbacWarnings(pod, namespace, req, cfg)...), nil
}

// needsNamespace reports whether the decision for pod depends on its
// namespace's label: unless the pod says inject "true" or "false" itself
// (Decide reads any other value, "True" too, as not said).
func needsNamespace(pod *corev1.Pod) bool {
	v := pod.Annotations[AnnotationInject]
	return v != "true" && v != "false"
}
