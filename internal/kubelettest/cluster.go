package kubelettest

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/loglet/loglet/internal/kubetest"
)

// SidecarRules is what a sidecar with stdout: api may do in its namespace:
// read pods (its own status) and their logs.
var SidecarRules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get"}}}

// Namespace creates ns and its default service account, bound to a Role
// with exactly SidecarRules, and returns a config of cfg that acts as that
// account (impersonation), so tests run with the sidecar's rights.
func Namespace(t testing.TB, admin kubernetes.Interface, cfg *rest.Config, ns string) *rest.Config {
	t.Helper()
	ctx := context.Background()
	check := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	check(admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}))
	check(admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "loglet-sidecar"}, Rules: SidecarRules}, metav1.CreateOptions{}))
	check(admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "loglet-sidecar"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "loglet-sidecar"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: ns}}}, metav1.CreateOptions{}))
	sa := rest.CopyConfig(cfg)
	sa.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":default"}
	return sa
}

// Pod creates a pod bound to the node with the containers (image
// example.com/<name>:1) and runs them.
func (k *Kubelet) Pod(t testing.TB, ns, name string, policy corev1.RestartPolicy, containers ...string) {
	t.Helper()
	spec := corev1.PodSpec{NodeName: k.Node, RestartPolicy: policy}
	for _, n := range containers {
		spec.Containers = append(spec.Containers, corev1.Container{Name: n, Image: "example.com/" + n + ":1"})
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if _, err := k.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range containers {
		k.Run(ns, name, n)
	}
}

// Cluster is a real kube-apiserver (envtest) with one node whose kubelet
// API is the fixture, and a namespace prepared by Namespace.
type Cluster struct {
	Config    *rest.Config // cluster admin
	Admin     kubernetes.Interface
	Sidecar   *rest.Config // the namespace's default service account
	Kubelet   *Kubelet
	Namespace string
}

// StartCluster starts it; everything stops when the test ends.
func StartCluster(t testing.TB, ns string) *Cluster {
	t.Helper()
	certs := NewCerts(t)
	_, cfg := kubetest.Start(t, kubetest.APIServerFlags(certs.APIServerFlags()))
	admin := kubernetes.NewForConfigOrDie(cfg)
	c := &Cluster{Config: cfg, Admin: admin, Kubelet: Start(t, admin, certs, "virtual-1"), Namespace: ns}
	c.Sidecar = Namespace(t, admin, cfg, ns)
	return c
}

// TokenFiles writes what a pod's service-account token mount holds for
// the namespace's default account (token, ca.crt) and returns the folder.
func (c *Cluster) TokenFiles(t testing.TB) string {
	return kubetest.TokenFiles(t, c.Config, c.Namespace, "default")
}
