package webhook

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/loglet/loglet/internal/settings"
)

// ServerFlags declares the settings of `loglet webhook`; each is also a
// LOGLET_* variable and a key of the --config file.
func ServerFlags(fs *pflag.FlagSet) {
	d := DefaultConfig()
	fs.String("config", "", "YAML config file; its keys are the flag names")
	fs.String("image", d.Image, "the slim loglet image the sidecar runs")
	fs.String("image-pull-policy", string(d.PullPolicy), "sidecar image pull policy: Always, IfNotPresent, Never")
	fs.String("sink", d.Sink, "the hub every sidecar ships to")
	fs.String("hub-secret", "", "Secret (in each pod's namespace, optional) with the hub's credential files, mounted in the sidecar at "+HubSecretDir+"; refer to them in --sink, e.g. ?creds="+HubSecretDir+"/nats.creds")
	// An array, not a slice: a value may hold commas (LOGLET_X=a,b).
	fs.StringArray("agent-setting", nil, "further agent setting for every sidecar, LOGLET_NAME=value (repeatable); not one the webhook sets per pod or itself")
	fs.String("sidecar-cpu", "10m", "CPU request of a sidecar")
	fs.String("sidecar-memory", "32Mi", "memory request of a sidecar")
	fs.String("sidecar-memory-limit", "64Mi", "memory limit of a sidecar")
	fs.String("max-sidecar-cpu", "500m", "most CPU a pod's loglet.io/sidecar-cpu may ask for")
	fs.String("max-sidecar-memory", "256Mi", "most memory a pod's loglet.io/sidecar-memory may ask for")
	fs.String("native-sidecar", "auto", "auto (native sidecar when the API server is 1.29 or later), always, never")
	fs.String("sidecar-metrics-port", strconv.Itoa(int(d.MetricsPort)), "port of each sidecar's /metrics and /readyz (shared with the pod's containers: pick one they leave free)")
	fs.String("empty-dir-size-limit", "512Mi", "size limit of the shared log volume")
	fs.StringSlice("excluded-namespaces", nil, "namespaces never injected (besides kube-system, kube-public and the webhook's own)")
	fs.StringSlice("sidecar-rbac-namespaces", nil, "namespaces where sidecars may read pods and pods/log (the chart's rbac.sidecarNamespaces); a pod elsewhere whose sidecar reads stdout from the API (loglet.io/stdout: api, or auto for a container without a command) gets a warning")
	fs.String("namespace", "", "the webhook's own namespace (default: $POD_NAMESPACE)")
	fs.String("port", "9443", "HTTPS port of the webhook")
	fs.String("cert-mode", "self", "self: make, rotate and publish the serving certificate (kept in --cert-secret); files: read tls.crt and tls.key from --cert-dir (e.g. written by cert-manager), reloaded when they change")
	fs.String("cert-dir", "/tmp/k8s-webhook-server/serving-certs", "cert-mode files: folder with tls.crt and tls.key")
	fs.String("cert-secret", "loglet-webhook-certs", "cert-mode self: the Secret (in --namespace) holding the CA and serving certificate; the Lease electing the replica that writes it has the same name")
	fs.String("cert-lifetime", "90d", "cert-mode self: lifetime of the CA and the serving certificate, renewed with a third left (like 90d or 2160h)")
	fs.String("webhook-config-name", "loglet", "cert-mode self: the MutatingWebhookConfiguration whose caBundle is kept current")
	fs.String("service-name", "loglet-webhook", "cert-mode self: the Service in front of the webhook; its DNS names go into the certificate")
	fs.StringSlice("cert-hosts", nil, "cert-mode self: further DNS names or IP addresses for the certificate")
	fs.String("metrics-addr", ":8080", "serve Prometheus metrics here")
	fs.String("health-addr", ":8081", "serve /healthz and /readyz here")
	fs.Bool("logconfig-controller", true, "run the LogConfig controller (where the LogConfig CRDs are installed): render each namespace's LogConfigs into the ConfigMap its sidecars mount, keep their status, report pods without the sidecar")
	fs.String("validating-webhook-config-name", "", "cert-mode self: the ValidatingWebhookConfiguration (validating LogConfigs) whose caBundle is kept current too; empty: none")
	fs.String("reinject", "off", "pods that opted in but run without the sidecar (created while the webhook was down, or before a LogConfig selected them): off reports them (metric loglet_pods_uninjected, an Event each); evict also evicts those with an owner, through the Eviction API (PodDisruptionBudgets kept), so their owner creates them again injected")
}

// LoadServerOptions reads the settings ServerFlags declared from fs
// (parsed), the environment (os.Environ-style) and the config file.
func LoadServerOptions(fs *pflag.FlagSet, environ []string) (ServerOptions, error) {
	r, _, err := settings.Open(fs, environ, nil, nil)
	if err != nil {
		return ServerOptions{}, err
	}
	quantity := func(key string) resource.Quantity {
		v := r.Str(key)
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			r.Fail(key, v, "a positive quantity like 50m, 64Mi or 1Gi")
		}
		return q
	}
	cfg := Config{
		Image:              r.Str("image"),
		PullPolicy:         corev1.PullPolicy(r.OneOf("image-pull-policy", "Always", "IfNotPresent", "Never")),
		Sink:               r.Str("sink"),
		HubSecret:          r.Str("hub-secret"),
		Agent:              map[string]string{},
		Requests:           corev1.ResourceList{corev1.ResourceCPU: quantity("sidecar-cpu"), corev1.ResourceMemory: quantity("sidecar-memory")},
		Limits:             corev1.ResourceList{corev1.ResourceMemory: quantity("sidecar-memory-limit")},
		Max:                corev1.ResourceList{corev1.ResourceCPU: quantity("max-sidecar-cpu"), corev1.ResourceMemory: quantity("max-sidecar-memory")},
		Namespace:          r.Str("namespace"),
		ExcludedNamespaces: r.List("excluded-namespaces"),

		SidecarRBACNamespaces: r.List("sidecar-rbac-namespaces"),
	}
	size := quantity("empty-dir-size-limit")
	cfg.SizeLimit = &size
	if cfg.Namespace == "" {
		cfg.Namespace = os.Getenv("POD_NAMESPACE")
	}
	for _, kv := range r.Strings("agent-setting") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "LOGLET_") {
			r.Fail("agent-setting", kv, "LOGLET_NAME=value, e.g. LOGLET_BATCH_BYTES=1MiB")
			continue
		}
		cfg.Agent[k] = v
	}
	o := ServerOptions{
		Config:        cfg,
		NativeSidecar: r.OneOf("native-sidecar", "auto", "always", "never"),
		CertMode:      r.OneOf("cert-mode", "self", "files"),
		CertDir:       r.Str("cert-dir"),
		CertSecret:    r.Str("cert-secret"),
		CertLifetime:  days(r, "cert-lifetime"),
		WebhookConfig: r.Str("webhook-config-name"),
		ServiceName:   r.Str("service-name"),
		CertHosts:     r.List("cert-hosts"),
		MetricsAddr:   r.Str("metrics-addr"),
		HealthAddr:    r.Str("health-addr"),
		Reinject:      r.OneOf("reinject", "off", "evict"),

		NoLogConfigController:   !r.Bool("logconfig-controller"),
		ValidatingWebhookConfig: r.Str("validating-webhook-config-name"),
	}
	o.Port = tcpPort(r, "port", "9443")
	o.Config.MetricsPort = int32(tcpPort(r, "sidecar-metrics-port", "9745"))
	if err := r.Err(); err != nil {
		return o, err
	}
	if err := CheckAgentSettings(o.Config.Agent); err != nil {
		return o, err
	}
	if err := trySidecar(o.Config); err != nil {
		return o, fmt.Errorf("agent-setting: a sidecar could not start with these settings: %w", err)
	}
	return o, nil
}

// trySidecar loads the configuration of the sidecar of a plain pod, as
// admission does: an agent setting no sidecar could start with (a value
// the agent refuses, a setting mode sidecar refuses) stops the webhook at
// start rather than every pod at admission.
func trySidecar(cfg Config) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Annotations: map[string]string{AnnotationPaths: "app:/var/log/app/*.log"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1", Command: []string{"/web"}}}},
	}
	req, _, err := ReadRequest(pod)
	if err != nil {
		return err
	}
	out, _, err := Mutate(pod, req, cfg)
	if err != nil {
		return err
	}
	args, environ, err := sidecarStart(out, pod.Namespace, sidecarContainer(out))
	if err != nil {
		return err
	}
	return loadAgent(args, environ)
}

// days reads a duration that may also be a number of days ("90d").
func days(r *settings.Reader, key string) time.Duration {
	v := r.Str(key)
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(v, "d"); ok {
		var k int
		k, err = strconv.Atoi(n)
		d = time.Duration(k) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < time.Second {
		r.Fail(key, v, "a duration of a second or more like 90d, 720h or 30s")
	}
	return d
}

// tcpPort reads a port setting; example shows the form in the error.
func tcpPort(r *settings.Reader, key, example string) int {
	v := r.Str(key)
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		r.Fail(key, v, "a TCP port like "+example)
	}
	return p
}

// serverOnly are the settings of `loglet webhook` that mean nothing to a
// preview of the mutation: serving, certificates, metrics.
var serverOnly = []string{"port", "cert-mode", "cert-dir", "cert-secret", "cert-lifetime", "webhook-config-name", "service-name", "cert-hosts", "metrics-addr", "health-addr", "reinject",
	"logconfig-controller", "validating-webhook-config-name"}

// InjectFlags declares the settings of `loglet inject`: those of the
// webhook, so its --config file works as it is, with the server's own
// hidden from --help.
func InjectFlags(fs *pflag.FlagSet) {
	ServerFlags(fs)
	for _, name := range serverOnly {
		if err := fs.MarkHidden(name); err != nil {
			panic(err) // a name ServerFlags no longer declares: a bug here
		}
	}
}
