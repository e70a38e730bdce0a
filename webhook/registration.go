package webhook

import (
	"strings"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Registration is the MutatingWebhookConfiguration that sends pod creations
// to the webhook's Path: reinvoked if later webhooks change the pod (the
// mutation is idempotent), no side effects, a short timeout.
func Registration(name string, failure admissionregv1.FailurePolicyType) *admissionregv1.MutatingWebhookConfiguration {
	return &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name:         "pods.loglet.io",
			ClientConfig: admissionregv1.WebhookClientConfig{Service: &admissionregv1.ServiceReference{Path: ptr.To(strings.TrimPrefix(Path, "/"))}},
			Rules: []admissionregv1.RuleWithOperations{{
				Operations: []admissionregv1.OperationType{admissionregv1.Create},
				Rule:       admissionregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			FailurePolicy:           ptr.To(failure),
			SideEffects:             ptr.To(admissionregv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr.To(admissionregv1.IfNeededReinvocationPolicy),
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
}
