package certs

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
)

// TestCABundlePublishedToValidatingConfig: on a real API server, in self
// mode the CA bundle goes into the ValidatingWebhookConfiguration that
// validates LogConfigs as well as into the MutatingWebhookConfiguration,
// and goes back there when something empties it (a re-applied manifest);
// a ValidatingWebhookConfiguration that is missing (an older chart) keeps
// neither the mutating one's bundle nor the replica's readiness waiting.
func TestCABundlePublishedToValidatingConfig(t *testing.T) {
	_, cfg := kubetest.Start(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		validating bool // the ValidatingWebhookConfiguration exists
	}{
		{"validating configuration installed", true},
		{"validating configuration missing", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := map[bool]string{true: "with-validating", false: "without-validating"}[tc.validating]
			if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			service := &admissionregv1.ServiceReference{Namespace: ns, Name: "loglet-webhook"}
			name := "loglet-" + ns
			if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregv1.MutatingWebhookConfiguration{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Webhooks: []admissionregv1.MutatingWebhook{{Name: "pods.loglet.io", SideEffects: ptr.To(admissionregv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
					ClientConfig: admissionregv1.WebhookClientConfig{Service: service}}},
			}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if tc.validating {
				if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregv1.ValidatingWebhookConfiguration{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Webhooks: []admissionregv1.ValidatingWebhook{
						{Name: "logconfigs.loglet.io", SideEffects: ptr.To(admissionregv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
							ClientConfig: admissionregv1.WebhookClientConfig{Service: service}},
						{Name: "clusterlogconfigs.loglet.io", SideEffects: ptr.To(admissionregv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
							ClientConfig: admissionregv1.WebhookClientConfig{Service: service}},
					},
				}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			r, err := NewRotator(cs, Options{Namespace: ns, Secret: "loglet-webhook-certs", WebhookConfig: name, ValidatingWebhookConfig: name, Identity: "webhook-a",
				Policy: Policy{Name: "loglet", Hosts: []string{"loglet-webhook." + ns + ".svc"}, Lifetime: time.Hour}, Log: logr.Discard()})
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { r.Start(rctx); close(done) }()
			defer func() { cancel(); <-done }()

			var bundle []byte
			poll.Until(t, 30*time.Second, "the Secret written, the CA published in the MutatingWebhookConfiguration and the replica ready", func() bool {
				s, err := cs.CoreV1().Secrets(ns).Get(ctx, "loglet-webhook-certs", metav1.GetOptions{})
				if err != nil || r.Ready(nil) != nil {
					return false
				}
				bundle = s.Data[keyBundle]
				return len(bundle) > 0
			})
			if !tc.validating {
				return
			}
			validatingHas := func(want []byte) func() bool {
				return func() bool {
					v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
					if err != nil {
						return false
					}
					for _, w := range v.Webhooks {
						if !bytes.Equal(w.ClientConfig.CABundle, want) {
							return false
						}
					}
					return true
				}
			}
			poll.Until(t, 30*time.Second, "the Secret's CA bundle in every webhook of the ValidatingWebhookConfiguration", validatingHas(bundle))
			// Emptied, as `kubectl apply` of a manifest without it does: put back.
			patch := []byte(`{"webhooks":[{"name":"logconfigs.loglet.io","clientConfig":{"caBundle":null}}]}`)
			if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			poll.Until(t, 30*time.Second, "the CA bundle published again after it was emptied", validatingHas(bundle))
		})
	}
}
