package webhook

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Config is the cluster-wide injection setting (Helm values, flags).
type Config struct {
	// Image is the slim loglet image the sidecar runs.
	Image      string
	PullPolicy corev1.PullPolicy
	// Sink is the hub URL every sidecar ships to.
	Sink string
	// HubSecret names a Secret in the pod's namespace with the hub's
	// credential files, mounted at HubSecretDir; empty: none.
	HubSecret string
	// Agent holds further LOGLET_* settings handed to every sidecar.
	Agent map[string]string
	// Requests are the sidecar's default requests; Limits its limits;
	// annotation overrides are clamped to Max.
	Requests, Limits, Max corev1.ResourceList
	// NativeSidecar puts the sidecar among the init containers with
	// restartPolicy Always (Kubernetes 1.29 and later).
	NativeSidecar bool
	// MetricsPort is where each sidecar serves /metrics and /readyz; the
	// pod's containers share it, so it must be free in every pod.
	MetricsPort int32
	// SizeLimit bounds the shared emptyDir.
	SizeLimit *resource.Quantity
	// Namespace is the webhook's own; it and ExcludedNamespaces are never
	// injected (nor kube-system and kube-public).
	Namespace          string
	ExcludedNamespaces []string
	// SidecarRBACNamespaces are those where the sidecars' service accounts
	// may read pods and pods/log (the chart's rbac.sidecarNamespaces), as
	// loglet.io/stdout: api needs; elsewhere such a pod gets a warning.
	SidecarRBACNamespaces []string
}

// ChartAppVersion is the appVersion of the chart in this tree
// (charts/loglet/Chart.yaml; TestDefaultImageIsTheChart keeps them
// equal): the tag of the images helm install runs by default, so the
// default image here is the one the chart injects, and loglet inject
// without --image previews what a fresh install does. Not the binary's
// version: a development build's (a commit) names no published image.
const ChartAppVersion = "0.1.0"

// DefaultImage is the slim image the chart injects by default.
const DefaultImage = "ghcr.io/loglet/loglet-slim:" + ChartAppVersion

// DefaultConfig is what a cluster gets without settings.
func DefaultConfig() Config {
	size := resource.MustParse("512Mi")
	return Config{
		Image:         DefaultImage,
		PullPolicy:    corev1.PullIfNotPresent,
		Sink:          "nats://loglet-hub.loglet.svc:4222/LOGLET",
		Requests:      corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:        corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		Max:           corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		NativeSidecar: true,
		MetricsPort:   9745,
		SizeLimit:     &size,
		Namespace:     "loglet-system",
	}
}
