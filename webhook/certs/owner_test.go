package certs

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
)

// TestSecretAndLeaseOwnedByDeployment: on a real API server, the Secret
// with the CA key and the Lease a replica writes name the webhook's
// Deployment as their owner, so deleting it (helm uninstall) has the
// garbage collector delete them; a webhook not run by a Deployment still
// writes both, without an owner. Before, both stayed after an uninstall.
func TestSecretAndLeaseOwnedByDeployment(t *testing.T) {
	_, cfg := kubetest.Start(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	labels := map[string]string{"app": "webhook"}
	for _, tc := range []struct {
		name       string
		deployment bool
	}{
		{"run by a Deployment", true},
		{"a bare pod", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := map[bool]string{true: "deployed", false: "bare"}[tc.deployment]
			if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "loglet-webhook-7d9-abcde", Namespace: ns, Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "webhook", Image: "loglet"}}}}
			var d *appsv1.Deployment
			if tc.deployment {
				// What the Deployment controller makes, made by hand: this
				// API server runs no controllers.
				spec := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod.Spec}
				d, err = cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "loglet-webhook", Namespace: ns},
					Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: spec}}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "loglet-webhook-7d9", Namespace: ns,
					OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
					Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: spec}}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}
			}
			if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			config := "loglet-" + ns
			if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregv1.MutatingWebhookConfiguration{
				ObjectMeta: metav1.ObjectMeta{Name: config},
				Webhooks: []admissionregv1.MutatingWebhook{{Name: "pods.loglet.io", SideEffects: ptr.To(admissionregv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
					ClientConfig: admissionregv1.WebhookClientConfig{Service: &admissionregv1.ServiceReference{Namespace: ns, Name: "loglet-webhook"}}}},
			}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}

			r, err := NewRotator(cs, Options{Namespace: ns, Secret: "loglet-webhook-certs", WebhookConfig: config, Identity: pod.Name,
				Policy: Policy{Name: "loglet", Hosts: []string{"loglet-webhook." + ns + ".svc"}, Lifetime: time.Hour}, Log: logr.Discard()})
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { r.Start(rctx); close(done) }()
			defer func() { cancel(); <-done }()

			var secret *corev1.Secret
			poll.Until(t, 30*time.Second, "the Secret written and the CA published", func() bool {
				secret, err = cs.CoreV1().Secrets(ns).Get(ctx, "loglet-webhook-certs", metav1.GetOptions{})
				return err == nil && r.Ready(nil) == nil
			})
			lease, err := cs.CoordinationV1().Leases(ns).Get(ctx, "loglet-webhook-certs", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != pod.Name {
				t.Errorf("Lease held by %v, want %s", lease.Spec.HolderIdentity, pod.Name)
			}
			for what, refs := range map[string][]metav1.OwnerReference{"Secret": secret.OwnerReferences, "Lease": lease.OwnerReferences} {
				switch {
				case !tc.deployment && len(refs) != 0:
					t.Errorf("%s owned by %+v; want no owner", what, refs)
				case tc.deployment && (len(refs) != 1 || refs[0].Kind != "Deployment" || refs[0].APIVersion != "apps/v1" || refs[0].Name != d.Name || refs[0].UID != d.UID):
					t.Errorf("%s owned by %+v; want the Deployment %s (uid %s)", what, refs, d.Name, d.UID)
				}
			}
		})
	}
}
