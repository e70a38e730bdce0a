package logconfigctl_test

import (
	"context"
	"strings"
	"testing"

	authv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/webhook/logconfigctl"
)

// TestLeastPrivilege runs the controller (reinject evict) as a
// ServiceAccount granted only ClusterRules and NamespaceRules: it renders,
// updates and deletes a ConfigMap, writes status, records Events, evicts
// and holds its Lease — and cannot read a ConfigMap of another name.
func TestLeastPrivilege(t *testing.T) {
	_, restCfg := kubetest.Start(t, kubetest.CRDs())
	cs := kubernetes.NewForConfigOrDie(restCfg)
	ctx := context.Background()
	const ns, sa = "loglet-system", "loglet-webhook"
	kubetest.Namespaces(t, restCfg, ns, "shop")
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}
	steps := []error{
		func() error {
			_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
			return err
		}(),
		func() error {
			_, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: logconfigctl.ClusterRules(true)}, metav1.CreateOptions{})
			return err
		}(),
		func() error {
			_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa}, Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: sa}}, metav1.CreateOptions{})
			return err
		}(),
		func() error {
			_, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: logconfigctl.NamespaceRules()}, metav1.CreateOptions{})
			return err
		}(),
		func() error {
			_, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa}, Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: sa}}, metav1.CreateOptions{})
			return err
		}(),
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	as := rest.AnonymousClientConfig(restCfg)
	as.BearerToken = tok.Status.Token

	// Another ConfigMap is not the controller's to read.
	if _, err := kubernetes.NewForConfigOrDie(as).CoreV1().ConfigMaps("shop").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("get another ConfigMap as the controller: %v; want forbidden", err)
	}

	cl, _ := startControllerAs(t, restCfg, as, logconfigctl.ReinjectEvict)
	lc := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: v1alpha1.LogConfigSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Inputs:   []v1alpha1.Input{input("app", "/var/log/app/*.log")},
	}}
	if err := cl.Create(ctx, lc); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, wait, "the ConfigMap to be created and the status written", func() bool {
		names, _ := rendered(t, cl, "shop")
		return len(names) == 1 && logConfigStatus(t, cl, "shop", "web").status == "True"
	})
	createPod(t, cl, podSpec{ns: "shop", name: "web-1", labels: map[string]string{"app": "web"}, owner: true, phase: corev1.PodRunning})
	poll.Until(t, wait, "the pod to be evicted, with Events", func() bool {
		err := cl.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web-1"}, &corev1.Pod{})
		ev := eventsOf(t, cl, "shop", "web-1")
		return apierrors.IsNotFound(err) && len(ev[logconfigctl.ReasonNotInjected]) == 1 && len(ev[logconfigctl.ReasonEvicted]) == 1
	})
	if err := cl.Get(ctx, client.ObjectKeyFromObject(lc), lc); err != nil {
		t.Fatal(err)
	}
	lc.Spec.Inputs = append(lc.Spec.Inputs, input("more", "/var/log/more/*.log"))
	if err := cl.Update(ctx, lc); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, wait, "the ConfigMap to be updated", func() bool {
		_, cm := rendered(t, cl, "shop")
		return cm != nil && strings.Contains(cm.Data["logconfigs.json"], `"more"`)
	})
	if err := cl.Delete(ctx, lc); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, wait, "the ConfigMap to be deleted", func() bool {
		_, cm := rendered(t, cl, "shop")
		return cm == nil
	})
	var lease coordinationv1.Lease
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: logconfigctl.LeaseName}, &lease); err != nil || lease.Spec.HolderIdentity == nil {
		t.Errorf("Lease: %v, %+v", err, lease.Spec)
	}
}
