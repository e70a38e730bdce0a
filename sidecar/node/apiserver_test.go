package node

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/loglet/loglet/charts"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/podapi"
	"github.com/loglet/loglet/sidecar/record"
)

// TestChooseWithTheAPI creates pods in a real kube-apiserver, bound to
// node-1 (and one to node-2), and reads them as the chart's node-mode
// ServiceAccount would (its RBAC applied from the rendered chart,
// impersonated): records carry labels and image from the API, each
// selection rule picks exactly its pods, injected and excluded pods are
// skipped, and the route comes from the route label.
func TestChooseWithTheAPI(t *testing.T) {
	_, cfg := kubetest.Start(t)
	admin := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	kubetest.Namespaces(t, cfg, "shop", "team")
	if err := charts.Apply(ctx, cfg, "nodeMode.enabled=true"); err != nil {
		t.Fatal(err)
	}

	type podSpec struct {
		ns, name, node     string
		labels, annotation map[string]string
		env                map[string]string
	}
	uids := map[string]string{}
	for _, p := range []podSpec{
		{"shop", "web", "node-1", map[string]string{"app": "web", "log_type": "nginx_access_log"}, nil, map[string]string{"LOG": "yes"}},
		{"shop", "db", "node-1", map[string]string{"app": "db"}, map[string]string{"loglet.io/exclude": "true"}, nil},
		{"shop", "injected", "node-1", map[string]string{"app": "web"}, map[string]string{"loglet.io/status": "injected"}, nil},
		{"shop", "json", "node-1", map[string]string{"app": "json"}, map[string]string{"loglet.io/format": "json", "loglet.io/multiline": "java"}, nil},
		{"team", "api", "node-1", map[string]string{"app": "api"}, map[string]string{"team.io/logs": "keep"}, map[string]string{"DEBUG": "1"}},
		{"kube-system", "dns", "node-1", map[string]string{"app": "dns"}, nil, nil},
		{"shop", "elsewhere", "node-2", map[string]string{"app": "web"}, nil, nil},
	} {
		c := corev1.Container{Name: "app", Image: "ghcr.io/example/" + p.name + ":1.4.2"}
		for k, v := range p.env {
			c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: v})
		}
		pod, err := admin.CoreV1().Pods(p.ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Labels: p.labels, Annotations: p.annotation},
			Spec:       corev1.PodSpec{NodeName: p.node, Containers: []corev1.Container{c}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids[p.name] = string(pod.UID)
	}

	sa := rest.CopyConfig(cfg)
	sa.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + charts.ReleaseNamespace + ":loglet-node"}
	rc, err := podapi.NewClient(sa)
	if err != nil {
		t.Fatal(err)
	}
	pods := NewPods(rc, "node-1", time.Hour)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go pods.Run(runCtx)
	poll.Until(t, 10*time.Second, "the informer to list node-1's pods", pods.Synced)

	root := "/var/log/pods"
	path := func(ns, name string) string {
		return filepath.Join(root, ns+"_"+name+"_"+uids[name], "app", "0.log")
	}
	all := [][2]string{{"shop", "web"}, {"shop", "db"}, {"shop", "injected"}, {"shop", "json"}, {"team", "api"}, {"kube-system", "dns"}}
	pc := parse.Config{Container: "auto", Format: "raw", MaxLineBytes: 256 << 10, MultilineTimeout: time.Second}
	read := func(sel Selector) []string {
		d := &Dir{Root: root, Parse: pc, Pods: pods, Select: sel, RouteLabel: "log_type"}
		var out []string
		for _, p := range all {
			if !d.Choose(path(p[0], p[1])).Skip {
				out = append(out, p[1])
			}
		}
		return out
	}
	podSel := func(include, exclude string) Selector {
		s, err := ParseSelector(include, exclude)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		sel  Selector
		want []string
	}{
		{"no rules: all but excluded and injected", Selector{}, []string{"web", "json", "api", "dns"}},
		{"include namespace", Selector{IncludeNamespaces: []string{"team"}}, []string{"api"}},
		{"exclude namespace", Selector{ExcludeNamespaces: []string{"kube-system", "team"}}, []string{"web", "json"}},
		{"include labels", podSel("app in (web,api)", ""), []string{"web", "api"}},
		{"exclude labels", podSel("", "app=dns"), []string{"web", "json", "api"}},
		{"include annotation", Selector{IncludeAnnotations: []string{"team.io/logs=keep"}}, []string{"api"}},
		{"exclude annotation by key", Selector{ExcludeAnnotations: []string{"loglet.io/format"}}, []string{"web", "api", "dns"}},
		{"include env", Selector{IncludeEnv: []string{"LOG=yes", "DEBUG"}}, []string{"web", "api"}},
		{"exclude env", Selector{ExcludeEnv: []string{"DEBUG=1"}}, []string{"web", "json", "dns"}},
	} {
		if got := read(tc.sel); !slices.Equal(got, tc.want) {
			t.Errorf("%s: read %v, want %v", tc.name, got, tc.want)
		}
	}

	d := &Dir{Root: root, Parse: pc, Pods: pods, RouteLabel: "log_type", Base: []record.KeyValue{{Key: "k8s.node.name", Value: "node-1"}}}
	web := d.Choose(path("shop", "web"))
	res := map[string]string{}
	for _, kv := range web.Resource {
		res[kv.Key] = kv.Value
	}
	if res["container.image.name"] != "ghcr.io/example/web" || res["container.image.tag"] != "1.4.2" || res["k8s.pod.label.app"] != "web" ||
		res["k8s.pod.uid"] != uids["web"] || res["k8s.node.name"] != "node-1" || web.Route != "nginx_access_log" {
		t.Errorf("web: resource %v, route %q", res, web.Route)
	}
	if api := d.Choose(path("team", "api")); api.Route != "" || api.Parse != web.Parse {
		t.Errorf("api (no route label, no format annotation): route %q, parser differs: %v", api.Route, api.Parse != web.Parse)
	}
	if js := d.Choose(path("shop", "json")); js.Parse == web.Parse || js.Parse == nil || js.Parse != d.spec(multilineKey{format: "json", preset: "java"}) {
		t.Error("loglet.io/format: json and loglet.io/multiline: java did not give the pod's parser")
	}
	// A pod of another node is not in this node's informer: held once,
	// then (the wait is 0 here) read with what the path tells.
	if first := d.Choose(path("shop", "elsewhere")); !first.Later {
		t.Errorf("pod unknown to the informer, asked first: %+v, want held", first)
	}
	if other := d.Choose(path("shop", "elsewhere")); other.Later || other.Skip || len(other.Resource) != 7 {
		t.Errorf("pod unknown to the informer, asked again: %+v, want read with the path's identity only", other)
	}

	// A deleted pod is still known, for its last lines.
	if err := admin.CoreV1().Pods("team").Delete(ctx, "api", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the informer to see the deletion", func() bool {
		_, live, _ := pods.store.GetByKey("team/api")
		return !live
	})
	if api := d.Choose(path("team", "api")); api.Later || len(api.Resource) == 7 {
		t.Errorf("deleted pod: %+v, want its metadata still", api)
	}
}
