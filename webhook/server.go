package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	corev1 "k8s.io/api/core/v1"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/webhook/certs"
	"github.com/loglet/loglet/webhook/logconfigctl"
)

// ServerOptions configure `loglet webhook`.
type ServerOptions struct {
	Config Config
	// NativeSidecar is auto, always or never; auto asks the API server's
	// version once at start (native sidecars need 1.29).
	NativeSidecar string
	Port          int
	// CertMode is self (the webhook makes and rotates its certificate) or
	// files (CertDir holds tls.crt and tls.key).
	CertMode string
	CertDir  string
	// CertSecret, CertLifetime, WebhookConfig, ServiceName and CertHosts
	// configure self mode (see certs.Options).
	CertSecret    string
	CertLifetime  time.Duration
	WebhookConfig string
	ServiceName   string
	CertHosts     []string
	MetricsAddr   string
	HealthAddr    string
	// Reinject is what the LogConfig controller does with pods that opted
	// in and run without the sidecar: off (report) or evict.
	Reinject string
	// NoLogConfigController keeps the controller off where the CRDs are
	// served (the chart's logConfig.controller.enabled: false).
	NoLogConfigController bool
	// ValidatingWebhookConfig (self mode) gets the CA bundle too.
	ValidatingWebhookConfig string
}

// Serve runs the webhook server until ctx ends.
func Serve(ctx context.Context, restCfg *rest.Config, o ServerOptions) error {
	native, err := NativeSidecars(restCfg, o.NativeSidecar)
	if err != nil {
		return err
	}
	o.Config.NativeSidecar = native
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	// The LogConfig controller runs where the chart installed the CRDs,
	// on the replica holding its own Lease (the webhook runs on all).
	logConfigs := false
	if !o.NoLogConfigController {
		if logConfigs, err = logconfigctl.Served(restCfg); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
	}
	if logConfigs && o.Config.Namespace == "" {
		return fmt.Errorf("webhook: the LogConfig controller's Lease needs the webhook's namespace: set --namespace or $POD_NAMESPACE")
	}
	serverOpts := crwebhook.Options{Port: o.Port, CertDir: o.CertDir}
	// The certificate served, from the rotator or from the files, is also
	// what loglet_webhook_certificate_expiry_timestamp_seconds reads.
	var rotator *certs.Rotator
	var files *certwatcher.CertWatcher
	var serving certs.Serving
	if o.CertMode == "self" {
		if rotator, err = selfSigned(restCfg, o); err != nil {
			return err
		}
		serving = rotator.GetCertificate
	} else {
		if files, err = certs.WatchFiles(o.CertDir); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		serving = files.GetCertificate
	}
	serverOpts.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.GetCertificate = serving }}
	if err := certs.RegisterExpiry(crmetrics.Registry, serving); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	mgr, err := manager.New(restCfg, manager.Options{
		Scheme:                 scheme,
		WebhookServer:          crwebhook.NewServer(serverOpts),
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.HealthAddr,

		// The LogConfig controller's: its cache, and its own Lease.
		Cache:                         logconfigctl.CacheOptions(),
		LeaderElection:                logConfigs,
		LeaderElectionID:              logconfigctl.LeaseName,
		LeaderElectionNamespace:       o.Config.Namespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	// Namespaces are read straight from the API server: a cache would
	// need list and watch on every namespace, more than the webhook's
	// RBAC grants. LogConfigs come from the manager's informer cache, so
	// an admission costs no call for them; asking for the informers now
	// starts them with the manager, not at the first admission.
	configs, err := logConfigSource(ctx, mgr)
	if err != nil {
		return err
	}
	handler := NewHandler(o.Config, NamespaceLabelsFrom(mgr.GetAPIReader()), configs, crmetrics.Registry)
	// GetWebhookServer also adds the server to what the manager runs.
	srv := mgr.GetWebhookServer()
	srv.Register(Path, &admission.Webhook{Handler: handler})
	srv.Register(ValidatePath, &admission.Webhook{Handler: Validator{}})
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return err
	}
	if logConfigs {
		decide := func(pod *corev1.Pod, ns string, labels map[string]string) (bool, string) {
			d := Decide(pod, ns, labels, o.Config)
			return d.Inject, d.Reason
		}
		if err := logconfigctl.Setup(mgr, logconfigctl.Options{Decide: decide, Reinject: o.Reinject, Registry: crmetrics.Registry}); err != nil {
			return err
		}
		// The Lease is made before the election does, owned by the
		// Deployment, so that deleting the webhook leaves none behind.
		cs, err := kubernetes.NewForConfig(restCfg)
		if err != nil {
			return err
		}
		log := ctrllog.Log.WithName("logconfig")
		certs.OwnLease(ctx, cs, o.Config.Namespace, logconfigctl.LeaseName, certs.FindOwner(ctx, cs, o.Config.Namespace, identity(), log), log)
	} else if !o.NoLogConfigController {
		ctrllog.Log.WithName("logconfig").Info("the API server does not serve loglet.io/v1alpha1 LogConfigs (CRDs not installed): the LogConfig controller does not run")
	}
	if files != nil {
		// Reloads on every replica: the watcher needs no leader election.
		if err := mgr.Add(files); err != nil {
			return err
		}
	}
	if rotator != nil {
		if err := mgr.Add(rotator); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("certificate", rotator.Ready); err != nil {
			return err
		}
	}
	return mgr.Start(ctx)
}

// logConfigSource watches LogConfigs and ClusterLogConfigs through the
// manager's cache. Where their CRDs are not installed (the chart's crds/
// do it), the webhook still injects by annotation and namespace label,
// and says so: it does not stop every pod of the cluster for want of an
// optional feature.
func logConfigSource(ctx context.Context, mgr manager.Manager) (LogConfigs, error) {
	gvk := v1alpha1.GroupVersion.WithKind("LogConfig")
	if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
		if meta.IsNoMatchError(err) {
			ctrllog.Log.WithName("logconfig").Error(err, "the LogConfig CRDs are not installed: pods are injected by their annotations and namespace labels only; install the chart's CRDs and restart the webhook")
			return nil, nil
		}
		return nil, fmt.Errorf("webhook: LogConfigs: %w", err)
	}
	for _, obj := range []client.Object{&v1alpha1.LogConfig{}, &v1alpha1.ClusterLogConfig{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return nil, fmt.Errorf("webhook: watch %T: %w", obj, err)
		}
	}
	return LogConfigsFrom(mgr.GetCache()), nil
}

// selfSigned sets up self mode: the names the API server calls the Service
// by, and this replica's identity for the Lease.
func selfSigned(restCfg *rest.Config, o ServerOptions) (*certs.Rotator, error) {
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	ns := o.Config.Namespace
	svc := o.ServiceName
	hosts := append([]string{svc + "." + ns + ".svc", svc, svc + "." + ns, svc + "." + ns + ".svc.cluster.local"}, o.CertHosts...)
	return certs.NewRotator(cs, certs.Options{
		Namespace:               ns,
		Secret:                  o.CertSecret,
		WebhookConfig:           o.WebhookConfig,
		ValidatingWebhookConfig: o.ValidatingWebhookConfig,
		Identity:                identity(),
		Policy:                  certs.Policy{Name: svc, Hosts: hosts, Lifetime: o.CertLifetime},
		Log:                     ctrllog.Log.WithName("certs"),
	})
}

// identity names this replica in Leases: its pod (POD_NAME, from the
// downward API), else the host and process.
func identity() string {
	if id := os.Getenv("POD_NAME"); id != "" {
		return id
	}
	host, _ := os.Hostname()
	return host + "-" + strconv.Itoa(os.Getpid())
}

// NativeSidecars resolves --native-sidecar: always, never, or auto (the
// API server's version is 1.29 or later).
func NativeSidecars(restCfg *rest.Config, mode string) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
	default:
		return false, fmt.Errorf("native-sidecar %q: want auto, always or never", mode)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(restCfg)
	if err != nil {
		return false, err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return false, fmt.Errorf("native-sidecar auto: read the API server's version: %w (or set --native-sidecar always|never)", err)
	}
	major, _ := strconv.Atoi(strings.TrimRight(v.Major, "+"))
	minor, _ := strconv.Atoi(strings.TrimRight(v.Minor, "+"))
	return major > 1 || major == 1 && minor >= 29, nil
}

// NamespaceLabelsFrom looks namespaces up with r.
func NamespaceLabelsFrom(r client.Reader) NamespaceLabels {
	return func(ctx context.Context, name string) (map[string]string, error) {
		var ns corev1.Namespace
		if err := r.Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
			return nil, err
		}
		return ns.Labels, nil
	}
}
