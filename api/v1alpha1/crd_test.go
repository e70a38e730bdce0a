package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/internal/kubetest"
)

// TestCRDsInstall installs the chart's CRDs, as generated from these
// types, into a real kube-apiserver, and checks that the schema and its
// CEL rules take a valid config and refuse the mistakes they are there
// for, with their messages.
func TestCRDsInstall(t *testing.T) {
	_, cfg := kubetest.Start(t, kubetest.CRDs())
	c := kubetest.Client(t, cfg)
	ctx := context.Background()
	valid := v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{{Name: "app", Files: []string{"/var/log/app/*.log"}, Format: "json",
		Processors: []runtime.RawExtension{{Raw: []byte(`{"drop":{"match":"GET /healthz"}}`)}}}}}
	for _, tc := range []struct {
		name string
		obj  client.Object
		want string // "" accepted; else a part of the refusal
	}{
		{"valid", &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "default"}, Spec: valid}, ""},
		{"valid cluster", &v1alpha1.ClusterLogConfig{ObjectMeta: metav1.ObjectMeta{Name: "all"},
			Spec: v1alpha1.ClusterLogConfigSpec{LogConfigSpec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{{Name: "out", Stdout: true}}}}}, ""},
		{"dotted name", &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "shop.v2", Namespace: "default"}, Spec: valid}, "a LogConfig's name is a DNS label"},
		{"under /etc", &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "etc", Namespace: "default"},
			Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{{Name: "app", Files: []string{"/etc/app/*.log"}}}}}, "/etc and /var/run/secrets are never read"},
		{"relative", &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "rel", Namespace: "default"},
			Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{{Name: "app", Files: []string{"logs/*.log"}}}}}, "absolute, like /var/log/app/*.log"},
		{"reads nothing", &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "none", Namespace: "default"},
			Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{{Name: "app", Format: "json"}}}}, "an input reads files, the containers' stdout"},
		{"bad container format", &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "cf", Namespace: "default"},
			Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{{Name: "app", Stdout: true, ContainerFormat: "crio"}}}}, `Unsupported value: "crio"`},
		{"no inputs", &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "default"}}, "spec.inputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Create(ctx, tc.obj)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted; want a refusal with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("refusal %q; want it to hold %q", err, tc.want)
			}
		})
	}
	var got v1alpha1.LogConfig
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "shop"}, &got); err != nil {
		t.Fatal(err)
	}
	if p := got.Spec.Inputs[0].Processors; len(p) != 1 || !strings.Contains(string(p[0].Raw), "healthz") {
		t.Errorf("processors came back as %v; the schema must keep them whole", p)
	}
}
