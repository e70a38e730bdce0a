// Package webhooktest starts a real kube-apiserver and etcd for tests of the
// webhook (envtest, with the binaries hack/control-plane.sh provides).
package webhooktest

import (
	"os"
	"testing"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Start starts kube-apiserver and etcd with hooks registered (envtest points
// them at its local serving port) and stops them when the test ends. Stop
// webhook servers before that, in a defer: they watch envtest's
// certificate files.
func Start(t *testing.T, hooks ...*admissionregv1.MutatingWebhookConfiguration) (*envtest.Environment, *rest.Config) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs kube-apiserver and etcd; runs in make test")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or export KUBEBUILDER_ASSETS=$(hack/control-plane.sh)")
	}
	env := &envtest.Environment{WebhookInstallOptions: envtest.WebhookInstallOptions{MutatingWebhooks: hooks}}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	return env, cfg
}
