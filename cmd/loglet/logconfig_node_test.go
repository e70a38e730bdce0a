//go:build !slim

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
)

// nodeLogConfigRules are what a node agent applying LogConfigs may do
// beside reading pods: list and watch LogConfigs, ClusterLogConfigs and
// namespaces (for the namespace selectors). Nothing else.
var nodeLogConfigRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods", "namespaces"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"loglet.io"}, Resources: []string{"logconfigs", "clusterlogconfigs"}, Verbs: []string{"get", "list", "watch"}},
}

// TestNodeModeAppliesClusterLogConfig: a node agent (real kube-apiserver,
// the CRDs installed, a service account with nodeLogConfigRules only)
// reads a pod's container logs as the agent's default (raw) until a
// ClusterLogConfig selecting the pod's namespace, the pod and its app
// container is created; from then on app's lines are parsed as its stdout
// input says (JSON), carry its name and go to its route, without a
// restart; the other container is untouched. Each line arrives once.
func TestNodeModeAppliesClusterLogConfig(t *testing.T) {
	_, restCfg := kubetest.Start(t, kubetest.CRDs())
	ctx := context.Background()
	admin := kubernetes.NewForConfigOrDie(restCfg)
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "a"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubetest.Namespaces(t, restCfg, "loglet")
	if _, err := admin.CoreV1().ServiceAccounts("loglet").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "node"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "loglet-node"}, Rules: nodeLogConfigRules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "loglet-node"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "loglet-node"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "loglet", Name: "node"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secrets := kubetest.TokenFiles(t, restCfg, "loglet", "node")
	pod, err := admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{
			{Name: "app", Image: "example.com/web:1"}, {Name: "side", Image: "example.com/side:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	pods, state := t.TempDir(), t.TempDir()
	out := filepath.Join(t.TempDir(), "out.ndjson")
	dir := filepath.Join(pods, "shop_web-1_"+string(pod.UID))
	metricsAddr := freeport.Addr(t)
	a := startAgentWithEnv(t, []string{"LOGLET_NODE_NAME=node-1"}, "--mode=node", "--logconfigs", "--pods-dir", pods,
		"--api-server", restCfg.Host, "--api-token-file", filepath.Join(secrets, "token"), "--api-ca-file", filepath.Join(secrets, "ca.crt"),
		"--state-dir", state, "--sink", "file://"+out, "--batch-wait", "50ms", "--scan-interval", "50ms", "--metrics-addr", metricsAddr)
	poll.OK(t, 20*time.Second, "the node agent to be ready", "http://"+metricsAddr+"/readyz")

	for _, c := range []string{"app", "side"} {
		if err := os.MkdirAll(filepath.Join(dir, c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	app := startWriter(filepath.Join(dir, "app", "0.log"), `2026-12-02T06:00:00.000000000Z stdout F {"level":"warn","msg":"app %06d"}`, 0)
	side := startWriter(filepath.Join(dir, "side", "0.log"), `2026-12-02T06:00:00.000000000Z stdout F {"level":"warn","msg":"side %06d"}`, 0)
	records := func() map[string][]sinktest.Full { return byBody(t, out) }
	poll.Until(t, 10*time.Second, "app's lines read raw", func() bool {
		return len(records()[`{"level":"warn","msg":"app 000100"}`]) > 0
	})

	kc := kubetest.Client(t, restCfg)
	clc := &v1alpha1.ClusterLogConfig{ObjectMeta: metav1.ObjectMeta{Name: "web-json"}, Spec: v1alpha1.ClusterLogConfigSpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
		LogConfigSpec: v1alpha1.LogConfigSpec{
			Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Containers: []string{"app"},
			Inputs:     []v1alpha1.Input{{Name: "out", Stdout: true, Format: "json", Route: "web"}},
		}}}
	if err := kc.Create(ctx, clc); err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	t.Logf("ClusterLogConfig created at %s", created.UTC().Format(time.RFC3339Nano))
	poll.Until(t, 10*time.Second, "app's lines parsed by the ClusterLogConfig's input", func() bool {
		for _, rs := range records() {
			if rs[0].Attributes["loglet.input"] == "cluster/web-json/out" {
				return true
			}
		}
		return false
	})
	t.Logf("the ClusterLogConfig took effect in %s: its creation to the first parsed record's observed_time (seen by the test %s after)",
		firstObserved(t, out, "app ").Sub(created), time.Since(created))
	appLines, sideLines := app.halt(t), side.halt(t)
	poll.Until(t, 10*time.Second, "every line", func() bool {
		by := records()
		return len(by[fmt.Sprintf("app %06d", appLines-1)]) > 0 && len(by[fmt.Sprintf(`{"level":"warn","msg":"side %06d"}`, sideLines-1)]) > 0
	})
	a.cmd.Process.Signal(os.Interrupt)
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d", code)
	}
	by := records()
	parsed := 0
	for i := range appLines {
		raw, js := by[fmt.Sprintf(`{"level":"warn","msg":"app %06d"}`, i)], by[fmt.Sprintf("app %06d", i)]
		if len(raw)+len(js) != 1 {
			t.Fatalf("app line %d arrived %d times raw, %d parsed; want once", i, len(raw), len(js))
		}
		if len(js) == 1 {
			parsed++
			if r := js[0]; r.Severity != "WARN" || r.Attributes["loglet.input"] != "cluster/web-json/out" || r.Resource["k8s.pod.label.app"] != "web" {
				t.Fatalf("app line %d: %+v", i, r)
			}
		} else if parsed > 0 {
			t.Fatalf("app line %d arrived raw after lines parsed by the ClusterLogConfig", i)
		}
	}
	for i := range sideLines {
		if rs := by[fmt.Sprintf(`{"level":"warn","msg":"side %06d"}`, i)]; len(rs) != 1 || rs[0].Attributes["loglet.input"] == "cluster/web-json/out" {
			t.Fatalf("side line %d: %d records %+v; want once, raw (the config names only app)", i, len(rs), rs)
		}
	}
	t.Logf("app: %d lines, %d parsed by the ClusterLogConfig; side: %d lines, raw", appLines, parsed, sideLines)
}
