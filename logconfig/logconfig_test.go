package logconfig

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/loglet/loglet/api/v1alpha1"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   v1alpha1.Input
		want string // "" valid; else a part of the error
	}{
		{"files", v1alpha1.Input{Name: "app", Files: []string{"/var/log/app/*.log"}, Format: "json"}, ""},
		{"stdout only", v1alpha1.Input{Name: "out", Stdout: true, Format: "logfmt"}, ""},
		{"multiline preset", v1alpha1.Input{Name: "java", Files: []string{"/logs/*.log"}, Multiline: &v1alpha1.Multiline{Preset: "java"}}, ""},
		{"nothing", v1alpha1.Input{Name: "app"}, "spec.inputs[0] (app): reads nothing"},
		{"etc", v1alpha1.Input{Name: "app", Files: []string{"/etc/app/*.log"}}, `spec.inputs[0] (app): files: "/etc/app/*.log" is under /etc, which log paths may not reach`},
		{"relative", v1alpha1.Input{Name: "app", Files: []string{"logs/*.log"}}, "is not an absolute path"},
		{"bad regex", v1alpha1.Input{Name: "app", Files: []string{"/l/*.log"}, Format: "regex:(?P<msg>.*"}, "spec.inputs: input app: format regex:(?P<msg>.* does not compile"},
		{"unknown format", v1alpha1.Input{Name: "app", Files: []string{"/l/*.log"}, Format: "jsonn"}, `spec.inputs: input app: format "jsonn": want one of raw, json`},
		{"bad multiline", v1alpha1.Input{Name: "app", Files: []string{"/l/*.log"}, Multiline: &v1alpha1.Multiline{Start: "(["}}, "multiline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{tc.in}})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted; want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q; want it to hold %q", err, tc.want)
			}
		})
	}
}

func TestValidateSelectors(t *testing.T) {
	bad := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Like"}}}
	in := []v1alpha1.Input{{Name: "app", Stdout: true}}
	if err := Validate(v1alpha1.LogConfigSpec{Selector: bad, Inputs: in}); err == nil || !strings.HasPrefix(err.Error(), "spec.selector: ") {
		t.Errorf("a selector with operator Like: %v; want spec.selector refused", err)
	}
	if err := ValidateCluster(v1alpha1.ClusterLogConfigSpec{NamespaceSelector: bad, LogConfigSpec: v1alpha1.LogConfigSpec{Inputs: in}}); err == nil || !strings.HasPrefix(err.Error(), "spec.namespaceSelector: ") {
		t.Errorf("a namespace selector with operator Like: %v; want spec.namespaceSelector refused", err)
	}
	if err := ValidateCluster(v1alpha1.ClusterLogConfigSpec{LogConfigSpec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{{Name: "app"}}}}); err == nil {
		t.Error("a ClusterLogConfig whose input reads nothing was accepted")
	}
}

func TestPodInputs(t *testing.T) {
	entries := []Entry{
		{Kind: KindClusterLogConfig, Name: "all", Inputs: []v1alpha1.Input{{Name: "out", Stdout: true}}},
		{Kind: KindLogConfig, Name: "shop", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}},
			Containers: []string{"app"}, Inputs: []v1alpha1.Input{{Name: "access", Files: []string{"/var/log/nginx/*.log", "/data/*.log"}, Format: "nginx"}}},
		{Kind: KindLogConfig, Name: "other", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}},
			Inputs: []v1alpha1.Input{{Name: "x", Files: []string{"/x/*.log"}}}},
	}
	Sort(entries)
	if entries[0].Name != "other" || entries[1].Name != "shop" || entries[2].Name != "all" {
		t.Fatalf("order %s, %s, %s; want LogConfigs by name, then ClusterLogConfigs", entries[0].Name, entries[1].Name, entries[2].Name)
	}
	sel := ForPod(entries, map[string]string{"app": "shop"})
	if len(sel) != 2 {
		t.Fatalf("%d entries select app=shop; want shop and all", len(sel))
	}
	if got := Folders(sel, []string{"app", "side"}); len(got) != 1 || strings.Join(got["app"], ",") != "/data,/var/log/nginx" {
		t.Fatalf("folders %v; want app: /data, /var/log/nginx", got)
	}
	mounts := Mounts{"app": {"/var/log/nginx": "c/app/0"}}
	got := PodInputs(sel, []string{"app", "side"}, mounts, "/var/loglet")
	if len(got) != 2 {
		t.Fatalf("%d inputs; want 2", len(got))
	}
	if got[0].Name != "shop/access" || strings.Join(got[0].Input.Files, ",") != "/var/loglet/c/app/0/*.log" || got[0].Input.Name != "shop/access" {
		t.Errorf("first input %+v; want shop/access reading /var/loglet/c/app/0/*.log", got[0])
	}
	if strings.Join(got[0].Unshared, ",") != "app:/data/*.log" {
		t.Errorf("unshared %v; want app:/data/*.log (its folder was not mounted)", got[0].Unshared)
	}
	if got[1].Name != "cluster/all/out" || strings.Join(got[1].Stdout, ",") != "app,side" {
		t.Errorf("second input %+v; want cluster/all/out on the stdout of app and side", got[1])
	}
}

func TestParseVersion(t *testing.T) {
	if _, err := Parse([]byte(`{"version":2,"configs":[]}`)); err == nil || !strings.Contains(err.Error(), "upgrade the sidecar image") {
		t.Fatalf("version 2: %v; want a refusal that says to upgrade", err)
	}
	r, err := Parse([]byte(`{"version":1,"configs":[{"kind":"LogConfig","name":"a","inputs":[{"name":"x","files":["/l/*.log"]}]}]}`))
	if err != nil || len(r.Configs) != 1 || r.Configs[0].Inputs[0].Files[0] != "/l/*.log" {
		t.Fatalf("parse: %+v, %v", r, err)
	}
}
