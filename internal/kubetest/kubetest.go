// Package kubetest starts a real kube-apiserver and etcd for tests
// (envtest, with the binaries hack/control-plane.sh provides).
package kubetest

import (
	"os"
	"testing"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Option changes the environment before it starts.
type Option func(*envtest.Environment)

// Webhooks registers hooks; envtest points them at its local serving port.
func Webhooks(hooks ...*admissionregv1.MutatingWebhookConfiguration) Option {
	return func(env *envtest.Environment) {
		env.WebhookInstallOptions.MutatingWebhooks = append(env.WebhookInstallOptions.MutatingWebhooks, hooks...)
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
