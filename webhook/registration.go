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

// ValidatingRegistration is the ValidatingWebhookConfiguration that sends
// creations and updates of LogConfigs and ClusterLogConfigs to the
// webhook's ValidatePath, which refuses those whose inputs would not
// load.
func ValidatingRegistration(name string, failure admissionregv1.FailurePolicyType) *admissionregv1.ValidatingWebhookConfiguration {
	return &admissionregv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregv1.ValidatingWebhook{{
			Name:         "logconfigs.loglet.io",
			ClientConfig: admissionregv1.WebhookClientConfig{Service: &admissionregv1.ServiceReference{Path: ptr.To(strings.TrimPrefix(ValidatePath, "/"))}},
			Rules: []admissionregv1.RuleWithOperations{{
				Operations: []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update},
				Rule: admissionregv1.Rule{APIGroups: []string{"loglet.io"}, APIVersions: []string{"v1alpha1"},
					Resources: []string{"logconfigs", "clusterlogconfigs"}},
			}},
			FailurePolicy:           ptr.To(failure),
			SideEffects:             ptr.To(admissionregv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
}
