// Package kubetest starts a real kube-apiserver and etcd for tests
// (envtest, with the binaries hack/control-plane.sh provides).
package kubetest

import (
	"context"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/go-logr/logr"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/loglet/loglet/api/v1alpha1"
)

// Option changes the environment before it starts.
type Option func(*envtest.Environment)

// Webhooks registers hooks; envtest points them at its local serving port.
func Webhooks(hooks ...*admissionregv1.MutatingWebhookConfiguration) Option {
	return func(env *envtest.Environment) {
		env.WebhookInstallOptions.MutatingWebhooks = append(env.WebhookInstallOptions.MutatingWebhooks, hooks...)
	}
}

// ValidatingWebhooks registers validating hooks, pointed like Webhooks'.
func ValidatingWebhooks(hooks ...*admissionregv1.ValidatingWebhookConfiguration) Option {
	return func(env *envtest.Environment) {
		env.WebhookInstallOptions.ValidatingWebhooks = append(env.WebhookInstallOptions.ValidatingWebhooks, hooks...)
	}
}

// CRDs installs the chart's CustomResourceDefinitions (charts/loglet/crds:
// LogConfig and ClusterLogConfig) before the tests start.
func CRDs() Option {
	_, file, _, _ := goruntime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "charts", "loglet", "crds")
	return func(env *envtest.Environment) {
		env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, dir)
		env.ErrorIfCRDPathMissing = true
	}
}

// APIServerFlags sets kube-apiserver flags (name without dashes: value).
func APIServerFlags(flags map[string]string) Option {
	return func(env *envtest.Environment) {
		args := env.ControlPlane.GetAPIServer().Configure()
		for name, value := range flags {
			args.Set(name, value)
		}
	}
}

// Start starts kube-apiserver and etcd and stops them when the test ends.
// Stop webhook servers before that, in a defer: they watch envtest's
// certificate files.
func Start(t testing.TB, opts ...Option) (*envtest.Environment, *rest.Config) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs kube-apiserver and etcd; runs in make test")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or export KUBEBUILDER_ASSETS=$(hack/control-plane.sh)")
	}
	// envtest logs through controller-runtime's logger; unset, it prints a
	// stack trace after 30 s that reads like a failure in the test output.
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{}
	for _, o := range opts {
		o(env)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	return env, cfg
}

// Scheme holds the built-in kinds and loglet's (LogConfig,
// ClusterLogConfig).
func Scheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Client is a client of cfg's API server that knows Scheme's kinds.
func Client(t testing.TB, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: Scheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TokenFiles writes what a pod's service-account token mount holds (token,
// ca.crt) for the account ns/name, and returns the folder.
func TokenFiles(t testing.TB, cfg *rest.Config, ns, name string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	dir := t.TempDir()
	for file, b := range map[string][]byte{"token": []byte(tok.Status.Token), "ca.crt": cfg.CAData} {
		if err := os.WriteFile(filepath.Join(dir, file), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Namespaces creates the namespaces.
func Namespaces(t testing.TB, cfg *rest.Config, names ...string) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("namespace %s: %v", n, err)
		}
	}
}
