package webhook

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
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
		return Decision{true, "the namespace opted in"}
	}
	return Decision{false, "not opted in"}
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
	if d = Decide(pod, namespace, nsLabels, cfg); !d.Inject {
		return pod, d, nil, nil
	}
	req, warnings, err := ReadRequest(pod)
	if err != nil {
		return pod, Decision{}, warnings, err
	}
	out, more, err := Mutate(pod, req, cfg)
	if err != nil {
		return pod, Decision{}, warnings, err
	}
	warnings = append(warnings, more...)
	if err := checkSidecar(out, namespace, req); err != nil {
		return pod, Decision{}, warnings, err
	}
	return out, d, warnings, nil
}

// needsNamespace reports whether the decision for pod depends on its
// namespace's label: unless the pod says inject "true" or "false" itself
// (Decide reads any other value, "True" too, as not said).
func needsNamespace(pod *corev1.Pod) bool {
	v := pod.Annotations[AnnotationInject]
	return v != "true" && v != "false"
}
