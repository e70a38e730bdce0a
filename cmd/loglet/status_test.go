//go:build !slim

package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/logconfig"
	"github.com/loglet/loglet/webhook"
)

// TestStatusCommand runs `loglet status` against a real kube-apiserver
// with the chart's CRDs, LogConfigs whose status the controller would
// have written, and pods of which some opted in without a sidecar.
func TestStatusCommand(t *testing.T) {
	env, restCfg := kubetest.Start(t, kubetest.CRDs())
	cl := kubetest.Client(t, restCfg)
	ctx := context.Background()
	kubetest.Namespaces(t, restCfg, "shop", "team", "loglet-system")

	accepted := func(ok bool, msg string, matched int32, gen int64) v1alpha1.LogConfigStatus {
		c := metav1.Condition{Type: logconfig.ConditionAccepted, Status: metav1.ConditionTrue, Reason: logconfig.ReasonValid, Message: msg,
			LastTransitionTime: metav1.Now(), ObservedGeneration: gen}
		if !ok {
			c.Status, c.Reason = metav1.ConditionFalse, logconfig.ReasonInvalid
		}
		return v1alpha1.LogConfigStatus{ObservedGeneration: gen, MatchedPods: matched, Conditions: []metav1.Condition{c}}
	}
	in := []v1alpha1.Input{{Name: "app", Files: []string{"/var/log/app/*.log"}}}
	web := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: v1alpha1.LogConfigSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Inputs: in}}
	bad := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "bad"},
		Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{{Name: "app", Files: in[0].Files, Format: "xml"}}}}
	fresh := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "fresh"},
		Spec: v1alpha1.LogConfigSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "none"}}, Inputs: in}}
	prod := &v1alpha1.ClusterLogConfig{ObjectMeta: metav1.ObjectMeta{Name: "prod"}, Spec: v1alpha1.ClusterLogConfigSpec{LogConfigSpec: v1alpha1.LogConfigSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "api"}}, Inputs: []v1alpha1.Input{{Name: "out", Stdout: true}}}}}
	for _, o := range []client.Object{web, bad, fresh, prod} {
		if err := cl.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	web.Status = accepted(true, "the inputs load", 2, web.Generation)
	bad.Status = accepted(false, `spec.inputs: input app: format "xml": want one of raw, json`, 0, bad.Generation)
	prod.Status = accepted(true, "the inputs load", 1, prod.Generation)
	for _, o := range []client.Object{web, bad, prod} {
		if err := cl.Status().Update(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	owned := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7f9", UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true)}}
	for _, p := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", Labels: map[string]string{"app": "web"}, OwnerReferences: owned}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-2", Labels: map[string]string{"app": "web"}, Annotations: map[string]string{webhook.AnnotationStatus: "injected"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "api", Labels: map[string]string{"tier": "api"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "loglet-system", Name: "own", Annotations: map[string]string{webhook.AnnotationInject: "true"}}},
	} {
		p.Spec.Containers = []corev1.Container{{Name: "app", Image: "ghcr.io/example/web:1"}}
		if err := cl.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, b, 0o600); err != nil {
		t.Fatal(err)
	}
	status := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(loglet, append([]string{"status"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	t.Run("table", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			env      []string
			args     []string
			want     []string // lines (fields separated by spaces) or parts of the output
			wantNot  []string
			wantFail string
		}{
			{name: "namespace from the flag", args: []string{"--kubeconfig", kc, "-n", "shop"},
				want: []string{"web True Valid 2 the inputs load", "bad False Invalid 0 spec.inputs: input app: format \"xml\"",
					"prod True Valid 1", "web-1 shop ReplicaSet/web-7f9 selected by LogConfig web", "1 pod(s) opted in", "rollout restart"},
				wantNot: []string{"fresh", "web-2", "db ", "team"}},
			{name: "kubeconfig from $KUBECONFIG, every namespace", env: []string{"KUBECONFIG=" + kc}, args: []string{"-A"},
				want: []string{"NAMESPACE LOGCONFIG", "team fresh Unknown - 0 no status yet", "shop web True Valid 2",
					"api team - selected by ClusterLogConfig prod", "web-1 shop ReplicaSet/web-7f9", "2 pod(s) opted in"},
				// The webhook's own namespace is never injected.
				wantNot: []string{"loglet-system"}},
			{name: "nothing to report", args: []string{"--kubeconfig", kc, "-n", "default"},
				want: []string{"No LogConfigs.", "No pods that opted in run without the loglet sidecar."}},
			{name: "-n and -A", args: []string{"--kubeconfig", kc, "-n", "shop", "-A"}, wantFail: "either -n NAMESPACE or -A"},
			{name: "bad output", args: []string{"--kubeconfig", kc, "-o", "yaml"}, wantFail: `output "yaml": want table or json`},
			{name: "missing namespace", args: []string{"--kubeconfig", kc, "-n", "nowhere"}, wantFail: "namespace nowhere"},
			{name: "no kubeconfig", args: []string{"--kubeconfig", filepath.Join(t.TempDir(), "none")}, wantFail: "kubeconfig"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out, err := status(tc.env, tc.args...)
				if tc.wantFail != "" {
					if err == nil || !strings.Contains(out, tc.wantFail) {
						t.Fatalf("err %v, output:\n%s\nwant a failure saying %q", err, out, tc.wantFail)
					}
					return
				}
				if err != nil {
					t.Fatalf("%v:\n%s", err, out)
				}
				squeezed := strings.Join(strings.Fields(strings.ReplaceAll(out, "\n", " \n ")), " ")
				for _, w := range tc.want {
					if !strings.Contains(squeezed, w) {
						t.Errorf("output does not hold %q:\n%s", w, out)
					}
				}
				for _, w := range tc.wantNot {
					if strings.Contains(out, w) {
						t.Errorf("output holds %q:\n%s", w, out)
					}
				}
			})
		}
	})

	t.Run("json", func(t *testing.T) {
		out, err := status([]string{"KUBECONFIG=" + kc}, "-A", "-o", "json")
		if err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		var r struct {
			LogConfigs []struct {
				Namespace, Name, Accepted, Reason, Message string
				MatchedPods                                int32
			}
			ClusterLogConfigs []struct {
				Name, Accepted string
				MatchedPods    int32
			}
			UninjectedPods []struct{ Namespace, Name, Owner, Why string }
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		var lcs []string
		for _, c := range r.LogConfigs {
			lcs = append(lcs, c.Namespace+"/"+c.Name+" "+c.Accepted+" "+c.Reason)
		}
		if want := "shop/bad False Invalid,shop/web True Valid,team/fresh Unknown "; strings.Join(lcs, ",") != want {
			t.Errorf("logConfigs %q; want %q", strings.Join(lcs, ","), want)
		}
		if len(r.ClusterLogConfigs) != 1 || r.ClusterLogConfigs[0].Name != "prod" || r.ClusterLogConfigs[0].MatchedPods != 1 {
			t.Errorf("clusterLogConfigs %+v; want prod matching 1", r.ClusterLogConfigs)
		}
		var pods []string
		for _, p := range r.UninjectedPods {
			pods = append(pods, p.Namespace+"/"+p.Name+" "+p.Owner+" "+p.Why)
		}
		if want := "shop/web-1 ReplicaSet/web-7f9 selected by LogConfig web,team/api  selected by ClusterLogConfig prod"; strings.Join(pods, ",") != want {
			t.Errorf("uninjectedPods %q; want %q", strings.Join(pods, ","), want)
		}
	})
}
