package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/logconfig"
	logpod "github.com/loglet/loglet/sidecar/pod"
)

// sidecar builds the loglet container: the agent with the configuration
// document the pod's annotations make (document.go) in LOGLET_CONFIG, the
// pod's identity from the downward API, and the hardened security context
// of DESIGN.md.
//
// The document is an env value, not a file or a ConfigMap: it is part of
// the pod, so it is as immutable as the pod and as the settings the agent
// started with; `kubectl get pod -o yaml` shows it; it needs no extra
// object, no RBAC for one and no clean-up; and the agent reads it before
// any volume is mounted or readable.
func sidecar(pod *corev1.Pod, req Request, cfg Config, globs []string, dataVol, infoVol string, lc logConfigPart) (corev1.Container, []string, error) {
	res, warnings := resources(req, cfg)
	doc, more := sidecarDocument(pod, req, cfg, globs, lc)
	warnings = append(more, warnings...)
	// Indented, the document is a block of lines in the pod's YAML
	// rather than one long quoted line.
	docJSON, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return corev1.Container{}, nil, fmt.Errorf("the sidecar's configuration document: %w", err)
	}
	env := []corev1.EnvVar{{Name: ConfigEnv, Value: escapeForYAML(docJSON)}}
	if lc.sink != nil {
		// Not optional: a pod whose LogConfig names a sink it cannot read
		// must not ship elsewhere; the kubelet says what is missing.
		env = append(env, corev1.EnvVar{Name: SinkEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: lc.sink.SecretName}, Key: lc.sink.Key, Optional: ptr.To(false),
		}}})
	}
	for _, f := range []struct{ name, path string }{
		{"LOGLET_POD_NAME", "metadata.name"},
		{"LOGLET_POD_NAMESPACE", "metadata.namespace"},
		{"LOGLET_POD_UID", "metadata.uid"},
		{"LOGLET_NODE_NAME", "spec.nodeName"},
	} {
		env = append(env, corev1.EnvVar{Name: f.name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: f.path}}})
	}
	env = append(env, workloadEnv(pod)...)
	if _, limited := res.Limits[corev1.ResourceMemory]; limited {
		if _, set := doc.Settings["memory-limit"]; !set {
			// The agent splits its limit between the buffer and GOMEMLIMIT.
			// Only a limited container gets it: without a limit the
			// downward API gives the node's allocatable memory.
			env = append(env, corev1.EnvVar{Name: MemoryLimitEnv, ValueFrom: &corev1.EnvVarSource{
				ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: SidecarName, Resource: "limits.memory", Divisor: resource.MustParse("1")},
			}})
		}
	}

	ready := &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString(metricsPortName)}},
		PeriodSeconds: 10, FailureThreshold: 3,
	}
	c := corev1.Container{
		Name:            SidecarName,
		Image:           cfg.Image,
		ImagePullPolicy: cfg.PullPolicy,
		Args:            []string{"agent"},
		Env:             env,
		Ports:           []corev1.ContainerPort{{Name: metricsPortName, ContainerPort: cfg.MetricsPort}},
		Resources:       res,
		ReadinessProbe:  ready,
		VolumeMounts: []corev1.VolumeMount{
			{Name: dataVol, MountPath: sidecarRoot},
			{Name: infoVol, MountPath: podinfoDir, ReadOnly: true},
			{Name: lc.volume, MountPath: logconfig.MountDir, ReadOnly: true},
		},
		SecurityContext: hardened(),
	}
	if cfg.NativeSidecar {
		// The kubelet starts the app containers once a native sidecar's
		// startup probe passed: only after its sources are open, so no
		// early line is missed.
		start := ready.DeepCopy()
		start.PeriodSeconds, start.FailureThreshold = 1, 60
		c.StartupProbe = start
	}
	return c, warnings, nil
}

// workloadEnv hands the sidecar what only admission sees of the pod and
// the downward API cannot give: its workload (the owner attributes of the
// OpenTelemetry semantic conventions, from its ownerReferences; a pod a
// ReplicaSet creates has them at admission) and the service.name derived
// from it, in the OpenTelemetry SDKs' own variables, as the OpenTelemetry
// operator does (logpod.Workload, logpod.ServiceName). The sidecar asks
// the API for none of it. With no service.name here (a bare pod whose
// name is generated), the sidecar uses each record's container name.
func workloadEnv(pod *corev1.Pod) []corev1.EnvVar {
	created := pod.CreationTimestamp.Time
	if created.IsZero() {
		created = time.Now() // at admission: being created now
	}
	workload := logpod.Workload(pod.OwnerReferences, pod.Labels, created)
	var env []corev1.EnvVar
	if len(workload) > 0 {
		env = append(env, corev1.EnvVar{Name: logpod.ResourceEnv, Value: logpod.FormatResourceEnv(workload)})
	}
	switch service := logpod.ServiceName(pod.Annotations, pod.Labels, workload, ""); {
	case service != "":
		env = append(env, corev1.EnvVar{Name: logpod.ServiceNameEnv, Value: service})
	case pod.Name != "" && pod.GenerateName == "":
		// The pod's given name: from the downward API, so two pods of
		// one spec get the same sidecar (a generated name, empty at
		// admission, is no service's).
		env = append(env, corev1.EnvVar{Name: logpod.ServiceNameEnv,
			ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}})
	}
	return env
}

// escapeForYAML writes the characters JSON leaves raw but a YAML stream
// may not hold (DEL, the C1 controls, the byte-order mark, U+FFFE and
// U+FFFF) as \u escapes: the agent reads LOGLET_CONFIG with a YAML
// reader, of which JSON is a part, and an annotation value holding one
// must still arrive whole. js is valid UTF-8, as json.Marshal writes it;
// outside strings it is ASCII, so only strings change.
func escapeForYAML(js []byte) string {
	var b strings.Builder
	b.Grow(len(js))
	for _, r := range string(js) {
		if r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0xfeff || r == 0xfffe || r == 0xffff {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ConfigEnv holds the sidecar's configuration document (JSON).
const ConfigEnv = "LOGLET_CONFIG"

// SinkEnv holds the sink URL of a LogConfig's spec.sink, from its Secret.
const SinkEnv = "LOGLET_SINK"

// MemoryLimitEnv hands the sidecar its own memory limit (in bytes, from
// the downward API), from which it plans its buffer and GOMEMLIMIT.
const MemoryLimitEnv = "LOGLET_MEMORY_LIMIT"

// metricsPortName names the sidecar's port for /metrics and /readyz.
const metricsPortName = "loglet-metrics"

// drainTimeout leaves the sidecar the pod's grace period minus 5 s to
// deliver the last lines on shutdown, and warns when that is short.
func drainTimeout(pod *corev1.Pod) (string, string) {
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	drain := max(grace-5, 1)
	if grace < 10 {
		return fmt.Sprintf("%ds", drain), fmt.Sprintf("terminationGracePeriodSeconds=%d leaves the loglet sidecar %ds to deliver the last lines on shutdown; 30 or more is safer", grace, drain)
	}
	return fmt.Sprintf("%ds", drain), ""
}

// hardened is the security context of every container loglet adds.
func hardened() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To[int64](65532),
		RunAsGroup:               ptr.To[int64](65532),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// resources are the defaults with the annotations' overrides, clamped to
// the cluster's maxima (with a warning).
func resources(req Request, cfg Config) (corev1.ResourceRequirements, []string) {
	r := corev1.ResourceRequirements{Requests: cfg.Requests.DeepCopy(), Limits: cfg.Limits.DeepCopy()}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	if r.Limits == nil {
		r.Limits = corev1.ResourceList{}
	}
	var warnings []string
	for _, o := range []struct {
		name corev1.ResourceName
		q    *resource.Quantity
		ann  string
	}{{corev1.ResourceCPU, req.CPU, AnnotationSidecarCPU}, {corev1.ResourceMemory, req.Memory, AnnotationSidecarMemory}} {
		if o.q == nil {
			continue
		}
		q := o.q.DeepCopy()
		if max, ok := cfg.Max[o.name]; ok && q.Cmp(max) > 0 {
			warnings = append(warnings, fmt.Sprintf("%s=%s is above the cluster maximum %s; the sidecar gets %s", o.ann, q.String(), max.String(), max.String()))
			q = max.DeepCopy()
		}
		r.Requests[o.name] = q
		if l, ok := r.Limits[o.name]; ok && l.Cmp(q) < 0 {
			r.Limits[o.name] = q
		}
	}
	return r, warnings
}
