package webhook

import (
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/loglet/loglet/sidecar/config"
)

// ServerFlags declares the settings of `loglet webhook`; each is also a
// LOGLET_* variable and a key of the --config file.
func ServerFlags(fs *pflag.FlagSet) {
	d := DefaultConfig()
	fs.String("config", "", "YAML config file; its keys are the flag names")
	fs.String("image", d.Image, "the slim loglet image the sidecar runs")
	fs.String("image-pull-policy", string(d.PullPolicy), "sidecar image pull policy: Always, IfNotPresent, Never")
	fs.String("sink", d.Sink, "the hub every sidecar ships to")
	fs.StringSlice("agent-setting", nil, "further agent setting for every sidecar, LOGLET_NAME=value (repeatable)")
	fs.String("sidecar-cpu", "10m", "CPU request of a sidecar")
	fs.String("sidecar-memory", "32Mi", "memory request of a sidecar")
	fs.String("sidecar-memory-limit", "64Mi", "memory limit of a sidecar")
	fs.String("max-sidecar-cpu", "500m", "most CPU a pod's loglet.io/sidecar-cpu may ask for")
	fs.String("max-sidecar-memory", "256Mi", "most memory a pod's loglet.io/sidecar-memory may ask for")
	fs.String("native-sidecar", "auto", "auto (native sidecar when the API server is 1.29 or later), always, never")
	fs.String("sidecar-metrics-port", strconv.Itoa(int(d.MetricsPort)), "port of each sidecar's /metrics and /readyz (shared with the pod's containers: pick one they leave free)")
	fs.String("empty-dir-size-limit", "512Mi", "size limit of the shared log volume")
	fs.StringSlice("excluded-namespaces", nil, "namespaces never injected (besides kube-system, kube-public and the webhook's own)")
	fs.String("namespace", "", "the webhook's own namespace (default: $POD_NAMESPACE)")
	fs.String("port", "9443", "HTTPS port of the webhook")
	fs.String("cert-dir", "/tmp/k8s-webhook-server/serving-certs", "folder with tls.crt and tls.key")
	fs.String("metrics-addr", ":8080", "serve Prometheus metrics here")
	fs.String("health-addr", ":8081", "serve /healthz and /readyz here")
}

// LoadServerOptions reads the settings ServerFlags declared.
func LoadServerOptions(fs *pflag.FlagSet) (ServerOptions, error) {
	r, err := config.Open(fs)
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
		Agent:              map[string]string{},
		Requests:           corev1.ResourceList{corev1.ResourceCPU: quantity("sidecar-cpu"), corev1.ResourceMemory: quantity("sidecar-memory")},
		Limits:             corev1.ResourceList{corev1.ResourceMemory: quantity("sidecar-memory-limit")},
		Max:                corev1.ResourceList{corev1.ResourceCPU: quantity("max-sidecar-cpu"), corev1.ResourceMemory: quantity("max-sidecar-memory")},
		Namespace:          r.Str("namespace"),
		ExcludedNamespaces: r.List("excluded-namespaces"),
	}
	size := quantity("empty-dir-size-limit")
	cfg.SizeLimit = &size
	if cfg.Namespace == "" {
		cfg.Namespace = os.Getenv("POD_NAMESPACE")
	}
	for _, kv := range r.List("agent-setting") {
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
		CertDir:       r.Str("cert-dir"),
		MetricsAddr:   r.Str("metrics-addr"),
		HealthAddr:    r.Str("health-addr"),
	}
	o.Port = tcpPort(r, "port", "9443")
	o.Config.MetricsPort = int32(tcpPort(r, "sidecar-metrics-port", "9745"))
	return o, r.Err()
}

// tcpPort reads a port setting; example shows the form in the error.
func tcpPort(r *config.Reader, key, example string) int {
	v := r.Str(key)
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		r.Fail(key, v, "a TCP port like "+example)
	}
	return p
}
