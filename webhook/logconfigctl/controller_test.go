package logconfigctl_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/logconfig"
	"github.com/loglet/loglet/webhook"
	"github.com/loglet/loglet/webhook/logconfigctl"
)

const wait = 20 * time.Second

// webhookConfig is the webhook's configuration the tests run under: its
// own namespace loglet-system and the excluded namespace quiet.
func webhookConfig() webhook.Config {
	cfg := webhook.DefaultConfig()
	cfg.Namespace = "loglet-system"
	cfg.ExcludedNamespaces = []string{"quiet"}
	return cfg
}

// startController runs the controller as `loglet webhook` does: in a
// manager with the controller's cache settings, under its Lease in the
// webhook's namespace; it stops when the test ends. It returns a client
// of restCfg and the controller's metrics.
func startController(t *testing.T, restCfg *rest.Config, reinject string) (client.Client, *prometheus.Registry) {
	t.Helper()
	return startControllerAs(t, restCfg, restCfg, reinject)
}

// startControllerAs runs the controller with the API access of as.
func startControllerAs(t *testing.T, restCfg, as *rest.Config, reinject string) (client.Client, *prometheus.Registry) {
	t.Helper()
	cfg := webhookConfig()
	mgr, err := manager.New(as, manager.Options{
		Scheme:                        kubetest.Scheme(t),
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		Cache:                         logconfigctl.CacheOptions(),
		LeaderElection:                true,
		LeaderElectionID:              logconfigctl.LeaseName,
		LeaderElectionNamespace:       cfg.Namespace,
		LeaderElectionReleaseOnCancel: true,
		// Each test runs a manager in this process; `loglet webhook` one.
		Controller: config.Controller{SkipNameValidation: ptrTo(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	decide := func(pod *corev1.Pod, ns string, labels map[string]string) (bool, string) {
		d := webhook.Decide(pod, ns, labels, cfg)
		return d.Inject, d.Reason
	}
	if err := logconfigctl.Setup(mgr, logconfigctl.Options{Decide: decide, Reinject: reinject, Registry: reg, EvictionRetry: 200 * time.Millisecond, EvictionInterval: time.Hour, CountDelay: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return kubetest.Client(t, restCfg), reg
}

func namespace(t *testing.T, cl client.Client, name string, labels map[string]string) {
	t.Helper()
	if err := cl.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
		t.Fatal(err)
	}
}

type podSpec struct {
	ns, name    string
	labels      map[string]string
	annotations map[string]string
	owner       bool
	rs          string // the owner's name (default <name>-rs)
	phase       corev1.PodPhase
}

// createPod creates a pod (owned by a ReplicaSet when owner) and sets its
// phase, Ready when Running.
func createPod(t *testing.T, cl client.Client, p podSpec) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: p.name, Labels: p.labels, Annotations: p.annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/example/web:1"}}},
	}
	if p.owner {
		rs := p.rs
		if rs == "" {
			rs = p.name + "-rs"
		}
		h := fnv.New64a()
		h.Write([]byte(rs))
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs,
			UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012x", h.Sum64()&0xffffffffffff)), Controller: ptrTo(true)}}
	}
	if err := cl.Create(ctx, pod); err != nil {
		t.Fatalf("create pod %s/%s: %v", p.ns, p.name, err)
	}
	if p.phase != "" {
		pod.Status.Phase = p.phase
		if p.phase == corev1.PodRunning {
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		if err := cl.Status().Update(ctx, pod); err != nil {
			t.Fatalf("pod %s/%s phase %s: %v", p.ns, p.name, p.phase, err)
		}
	}
	return pod
}

func ptrTo[T any](v T) *T { return &v }

func input(name string, files ...string) v1alpha1.Input {
	return v1alpha1.Input{Name: name, Files: files}
}

// rendered are the configs of the namespace's ConfigMap as kind/name, or
// nil when it has none; it fails the test on a ConfigMap that does not
// parse or lacks the label.
func rendered(t *testing.T, cl client.Client, ns string) ([]string, *corev1.ConfigMap) {
	t.Helper()
	var cm corev1.ConfigMap
	err := cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: logconfig.ConfigMapName}, &cm)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels[logconfigctl.ManagedByLabel] != logconfigctl.ManagedBy {
		t.Fatalf("ConfigMap %s/%s labels %v; want %s=%s", ns, cm.Name, cm.Labels, logconfigctl.ManagedByLabel, logconfigctl.ManagedBy)
	}
	r, err := logconfig.Parse([]byte(cm.Data[logconfig.ConfigMapKey]))
	if err != nil {
		t.Fatalf("ConfigMap %s/%s: %v", ns, cm.Name, err)
	}
	var names []string
	for _, e := range r.Configs {
		names = append(names, e.Kind+"/"+e.Name)
	}
	return names, &cm
}

// accepted is the status of a config as `kubectl get` shows it:
// Accepted status, reason, message, observed and current generation,
// matched pods.
type accepted struct {
	status, reason, message string
	observed, generation    int64
	matched                 int32
}

func statusOf(st v1alpha1.LogConfigStatus, gen int64) accepted {
	a := accepted{observed: st.ObservedGeneration, generation: gen, matched: st.MatchedPods}
	if c := meta.FindStatusCondition(st.Conditions, logconfig.ConditionAccepted); c != nil {
		a.status, a.reason, a.message = string(c.Status), c.Reason, c.Message
		if c.ObservedGeneration != gen {
			a.observed = -1
		}
	}
	return a
}

func logConfigStatus(t *testing.T, cl client.Client, ns, name string) accepted {
	var lc v1alpha1.LogConfig
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &lc); err != nil {
		t.Fatal(err)
	}
	return statusOf(lc.Status, lc.Generation)
}

func clusterStatus(t *testing.T, cl client.Client, name string) accepted {
	var c v1alpha1.ClusterLogConfig
	if err := cl.Get(context.Background(), client.ObjectKey{Name: name}, &c); err != nil {
		t.Fatal(err)
	}
	return statusOf(c.Status, c.Generation)
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) (float64, bool) {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// eventsOf are the notes of the controller's Events on a pod, by reason.
func eventsOf(t *testing.T, cl client.Client, ns, pod string) map[string][]string {
	var list eventsv1.EventList
	if err := cl.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range list.Items {
		if e.Regarding.Kind == "Pod" && e.Regarding.Name == pod {
			out[e.Reason] = append(out[e.Reason], e.Note)
		}
	}
	return out
}

// TestController runs the controller against a real kube-apiserver with
// the chart's CRDs: what each namespace's ConfigMap renders, the configs'
// status, and the pods that opted in without a sidecar.
func TestController(t *testing.T) {
	_, restCfg := kubetest.Start(t, kubetest.CRDs())
	cl, reg := startController(t, restCfg, logconfigctl.ReinjectOff)
	ctx := context.Background()
	namespace(t, cl, "loglet-system", nil)
	namespace(t, cl, "shop", nil)
	namespace(t, cl, "team", map[string]string{"env": "prod"})
	namespace(t, cl, "other", nil)
	namespace(t, cl, "quiet", map[string]string{"env": "prod"})

	web := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: v1alpha1.LogConfigSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Inputs:   []v1alpha1.Input{{Name: "app", Files: []string{"/var/log/app/*.log"}, Format: "json"}},
	}}
	objects := []client.Object{
		web,
		// Refused by the agent's loader, not by the CRD's schema.
		&v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "bad"}, Spec: v1alpha1.LogConfigSpec{
			Inputs: []v1alpha1.Input{{Name: "app", Files: []string{"/var/log/app/*.log"}, Format: "xml"}},
		}},
		// Its container filter leaves no container of the pods.
		&v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "audit"}, Spec: v1alpha1.LogConfigSpec{
			Containers: []string{"auditor"}, Inputs: []v1alpha1.Input{input("audit", "/var/log/audit/*.log")},
		}},
		&v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "sys"}, Spec: v1alpha1.LogConfigSpec{
			Inputs: []v1alpha1.Input{input("all", "/var/log/*.log")},
		}},
		&v1alpha1.ClusterLogConfig{ObjectMeta: metav1.ObjectMeta{Name: "prod-stdout"}, Spec: v1alpha1.ClusterLogConfigSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}},
			LogConfigSpec:     v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{{Name: "out", Stdout: true}}},
		}},
		&v1alpha1.ClusterLogConfig{ObjectMeta: metav1.ObjectMeta{Name: "broken"}, Spec: v1alpha1.ClusterLogConfigSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Sometimes"}}},
			LogConfigSpec:     v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{input("x", "/var/log/x/*.log")}},
		}},
	}
	for _, o := range objects {
		if err := cl.Create(ctx, o); err != nil {
			t.Fatalf("create %s: %v", o.GetName(), err)
		}
	}
	webPods := map[string]string{"app": "web"}
	for _, p := range []podSpec{
		{ns: "shop", name: "web-1", labels: webPods, owner: true},                                                                       // selected, no sidecar
		{ns: "shop", name: "web-2", labels: webPods, owner: true, annotations: map[string]string{webhook.AnnotationStatus: "injected"}}, // selected, injected
		{ns: "shop", name: "web-3", labels: webPods, owner: true, annotations: map[string]string{webhook.AnnotationInject: "false"}},    // opted out
		{ns: "shop", name: "web-done", labels: webPods, owner: true, phase: corev1.PodSucceeded},                                        // ended
		{ns: "shop", name: "db", owner: true}, // not selected
		{ns: "team", name: "api"},             // the ClusterLogConfig's, bare
		{ns: "other", name: "x", owner: true, annotations: map[string]string{webhook.AnnotationInject: "true"}},                        // its own opt-in
		{ns: "quiet", name: "y", owner: true, annotations: map[string]string{webhook.AnnotationInject: "true"}},                        // excluded namespace
		{ns: "kube-system", name: "z", owner: true, labels: webPods, annotations: map[string]string{webhook.AnnotationInject: "true"}}, // never injected
	} {
		createPod(t, cl, p)
	}

	t.Run("rendered into each namespace's ConfigMap", func(t *testing.T) {
		for _, tc := range []struct {
			ns   string
			want []string
		}{
			// LogConfigs by name; bad is invalid and left out.
			{"shop", []string{"LogConfig/audit", "LogConfig/web"}},
			// The ClusterLogConfig in the namespace it selects only.
			{"team", []string{"ClusterLogConfig/prod-stdout"}},
			{"other", nil},
			// Namespaces the webhook never injects get none.
			{"quiet", nil},
			{"kube-system", nil},
		} {
			var got []string
			poll.Until(t, wait, "the ConfigMap of "+tc.ns+" to render "+strings.Join(tc.want, ", "), func() bool {
				got, _ = rendered(t, cl, tc.ns)
				return slices.Equal(got, tc.want)
			})
		}
	})

	t.Run("status", func(t *testing.T) {
		for _, tc := range []struct {
			what    string
			get     func() accepted
			status  string
			reason  string
			message string
			matched int32
		}{
			{"LogConfig shop/web", func() accepted { return logConfigStatus(t, cl, "shop", "web") }, "True", "Valid", "", 2},
			{"LogConfig shop/bad", func() accepted { return logConfigStatus(t, cl, "shop", "bad") }, "False", "Invalid", `spec.inputs`, 0},
			{"LogConfig shop/audit", func() accepted { return logConfigStatus(t, cl, "shop", "audit") }, "True", "Valid", "", 0},
			{"LogConfig kube-system/sys", func() accepted { return logConfigStatus(t, cl, "kube-system", "sys") }, "True", "Valid", "never injected", 0},
			{"ClusterLogConfig prod-stdout", func() accepted { return clusterStatus(t, cl, "prod-stdout") }, "True", "Valid", "", 1},
			{"ClusterLogConfig broken", func() accepted { return clusterStatus(t, cl, "broken") }, "False", "Invalid", "spec.namespaceSelector", 0},
		} {
			var a accepted
			poll.Until(t, wait, tc.what+" to be Accepted "+tc.status+" with "+tc.reason, func() bool {
				a = tc.get()
				return a.status == tc.status && a.reason == tc.reason && a.observed == a.generation && a.matched == tc.matched &&
					strings.Contains(a.message, tc.message)
			})
		}
		// The loader's own message, naming the input and the format.
		if a := logConfigStatus(t, cl, "shop", "bad"); !strings.Contains(a.message, "input app") || !strings.Contains(a.message, "xml") {
			t.Errorf("message of bad: %q; want the loader's, naming the input app and the format xml", a.message)
		}
	})

	t.Run("pods that opted in without a sidecar", func(t *testing.T) {
		poll.Until(t, wait, "loglet_pods_uninjected to be 3", func() bool {
			v, ok := gauge(t, reg, "loglet_pods_uninjected")
			return ok && v == 3
		})
		for _, tc := range []struct {
			ns, pod string
			want    []string // in the note; nil: no Event
		}{
			{"shop", "web-1", []string{"selected by LogConfig web", "rollout restart", "ReplicaSet web-1-rs", "--reinject evict"}},
			{"team", "api", []string{"selected by ClusterLogConfig prod-stdout", "no owner"}},
			{"other", "x", []string{"the pod opted in"}},
		} {
			var notes []string
			poll.Until(t, wait, "a NotInjected Event on "+tc.ns+"/"+tc.pod, func() bool {
				notes = eventsOf(t, cl, tc.ns, tc.pod)[logconfigctl.ReasonNotInjected]
				return len(notes) > 0
			})
			for _, w := range tc.want {
				if !strings.Contains(notes[0], w) {
					t.Errorf("%s/%s: Event %q; want it to say %q", tc.ns, tc.pod, notes[0], w)
				}
			}
		}
		// The pods that have a sidecar, opted out, are not selected, or
		// are in namespaces never injected got none. (web-done may have
		// got one while it was Pending; the count leaves it out.)
		for _, p := range [][2]string{{"shop", "web-2"}, {"shop", "web-3"}, {"shop", "db"}, {"quiet", "y"}, {"kube-system", "z"}} {
			if ev := eventsOf(t, cl, p[0], p[1]); len(ev) != 0 {
				t.Errorf("%s/%s got Events %v; want none", p[0], p[1], ev)
			}
		}
		// Re-created injected: the count goes down.
		if err := cl.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "x"}}); err != nil {
			t.Fatal(err)
		}
		createPod(t, cl, podSpec{ns: "other", name: "x2", owner: true, annotations: map[string]string{webhook.AnnotationInject: "true", webhook.AnnotationStatus: "injected"}})
		poll.Until(t, wait, "loglet_pods_uninjected to be 2", func() bool {
			v, ok := gauge(t, reg, "loglet_pods_uninjected")
			return ok && v == 2
		})
	})

	t.Run("an edit is rendered and observed", func(t *testing.T) {
		_, before := rendered(t, cl, "team")
		// A pod in team: the ClusterLogConfig's count changes, its
		// ConfigMap does not and is not written.
		createPod(t, cl, podSpec{ns: "team", name: "api-2", owner: true, annotations: map[string]string{webhook.AnnotationStatus: "injected"}})
		poll.Until(t, wait, "prod-stdout to match 2 pods", func() bool { return clusterStatus(t, cl, "prod-stdout").matched == 2 })

		if err := cl.Get(ctx, client.ObjectKeyFromObject(web), web); err != nil {
			t.Fatal(err)
		}
		web.Spec.Inputs = append(web.Spec.Inputs, v1alpha1.Input{Name: "access", Files: []string{"/var/log/nginx/access.log"}, Format: "nginx"})
		if err := cl.Update(ctx, web); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, wait, "web's status to observe generation 2", func() bool {
			a := logConfigStatus(t, cl, "shop", "web")
			return a.generation == 2 && a.observed == 2 && a.status == "True"
		})
		poll.Until(t, wait, "the shop ConfigMap to hold web's new input", func() bool {
			_, cm := rendered(t, cl, "shop")
			return cm != nil && strings.Contains(cm.Data[logconfig.ConfigMapKey], `"name":"access"`)
		})
		// bad fixed: accepted and rendered from its new generation on.
		var bad v1alpha1.LogConfig
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "bad"}, &bad); err != nil {
			t.Fatal(err)
		}
		bad.Spec.Inputs[0].Format = "json"
		if err := cl.Update(ctx, &bad); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, wait, "bad, fixed, to be Accepted and rendered", func() bool {
			a := logConfigStatus(t, cl, "shop", "bad")
			names, _ := rendered(t, cl, "shop")
			return a.status == "True" && a.observed == 2 && slices.Equal(names, []string{"LogConfig/audit", "LogConfig/bad", "LogConfig/web"})
		})
		_, after := rendered(t, cl, "team")
		if after.ResourceVersion != before.ResourceVersion {
			t.Errorf("team's ConfigMap was written (resourceVersion %s → %s) though what applies there did not change", before.ResourceVersion, after.ResourceVersion)
		}
	})

	t.Run("a hand edit is put back", func(t *testing.T) {
		_, cm := rendered(t, cl, "team")
		want := cm.Data[logconfig.ConfigMapKey]
		cm.Data[logconfig.ConfigMapKey] = `{"version":1,"configs":[]}`
		if err := cl.Update(ctx, cm); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, wait, "team's ConfigMap to be rendered again", func() bool {
			_, cm := rendered(t, cl, "team")
			return cm != nil && cm.Data[logconfig.ConfigMapKey] == want
		})
	})

	t.Run("a ConfigMap of the name loglet did not make is left alone", func(t *testing.T) {
		theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: logconfig.ConfigMapName}, Data: map[string]string{"mine": "yes"}}
		if err := cl.Create(ctx, theirs); err != nil {
			t.Fatal(err)
		}
		lc := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "x"}, Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{input("app", "/var/log/app/*.log")}}}
		if err := cl.Create(ctx, lc); err != nil {
			t.Fatal(err)
		}
		var notes []string
		poll.Until(t, wait, "a ConfigMapConflict Event on LogConfig other/x", func() bool {
			var list eventsv1.EventList
			if err := cl.List(ctx, &list, client.InNamespace("other")); err != nil {
				t.Fatal(err)
			}
			notes = nil
			for _, e := range list.Items {
				if e.Regarding.Kind == "LogConfig" && e.Regarding.Name == "x" && e.Reason == logconfigctl.ReasonConfigMapConflict {
					notes = append(notes, e.Note)
				}
			}
			return len(notes) > 0
		})
		// Its status is written all the same.
		poll.Until(t, wait, "LogConfig other/x to be Accepted", func() bool { return logConfigStatus(t, cl, "other", "x").status == "True" })
		if !strings.Contains(notes[0], "delete it") {
			t.Errorf("Event %q; want it to say how to fix it", notes[0])
		}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(theirs), theirs); err != nil || theirs.Data["mine"] != "yes" || len(theirs.Data) != 1 {
			t.Errorf("their ConfigMap: %v, %v", err, theirs.Data)
		}
		if err := cl.Delete(ctx, lc); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("rendered bytes are the ones Render gives", func(t *testing.T) {
		var lcs v1alpha1.LogConfigList
		if err := cl.List(ctx, &lcs, client.InNamespace("shop")); err != nil {
			t.Fatal(err)
		}
		var want []logconfig.Entry
		for i := range lcs.Items {
			want = append(want, logconfig.FromLogConfig(&lcs.Items[i]))
		}
		logconfig.Sort(want)
		b, err := logconfigctl.Render(want)
		if err != nil {
			t.Fatal(err)
		}
		_, cm := rendered(t, cl, "shop")
		if cm.Data[logconfig.ConfigMapKey] != string(b) {
			t.Errorf("ConfigMap:\n%s\nwant:\n%s", cm.Data[logconfig.ConfigMapKey], b)
		}
	})

	t.Run("ConfigMap deleted when no config is left", func(t *testing.T) {
		for _, name := range []string{"web", "bad", "audit"} {
			if err := cl.Delete(ctx, &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}}); err != nil {
				t.Fatal(err)
			}
		}
		poll.Until(t, wait, "the shop ConfigMap to be deleted", func() bool {
			names, cm := rendered(t, cl, "shop")
			return names == nil && cm == nil
		})
		// And the ClusterLogConfig leaves team when team's label goes.
		var ns corev1.Namespace
		if err := cl.Get(ctx, client.ObjectKey{Name: "team"}, &ns); err != nil {
			t.Fatal(err)
		}
		ns.Labels = nil
		if err := cl.Update(ctx, &ns); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, wait, "the team ConfigMap to be deleted", func() bool {
			_, cm := rendered(t, cl, "team")
			return cm == nil
		})
		poll.Until(t, wait, "prod-stdout to match no pod", func() bool { return clusterStatus(t, cl, "prod-stdout").matched == 0 })
	})
}

// TestReinjectEvict: with reinject evict, a pod that opted in without a
// sidecar is evicted through the Eviction API when it has an owner;
// a PodDisruptionBudget that forbids it keeps the pod until it allows
// it; a pod without an owner is never evicted.
func TestReinjectEvict(t *testing.T) {
	_, restCfg := kubetest.Start(t, kubetest.CRDs())
	cl, _ := startController(t, restCfg, logconfigctl.ReinjectEvict)
	ctx := context.Background()
	namespace(t, cl, "loglet-system", nil)
	namespace(t, cl, "shop", nil)
	optIn := map[string]string{webhook.AnnotationInject: "true"}

	// A budget of one pod with one pod: no disruption allowed, as the
	// disruption controller (not run here) would write it.
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: ptrTo(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
	}}
	if err := cl.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	setBudget := func(allowed int32) {
		pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: allowed, CurrentHealthy: 1, DesiredHealthy: 1 - allowed, ExpectedPods: 1}
		if err := cl.Status().Update(ctx, pdb); err != nil {
			t.Fatal(err)
		}
	}
	setBudget(0)
	createPod(t, cl, podSpec{ns: "shop", name: "db", labels: map[string]string{"app": "db"}, annotations: optIn, owner: true, phase: corev1.PodRunning})
	createPod(t, cl, podSpec{ns: "shop", name: "bare", annotations: optIn, phase: corev1.PodRunning})
	// Two pods of one owner: one is evicted, the other waits the
	// interval between evictions of an owner's pods (an hour here).
	createPod(t, cl, podSpec{ns: "shop", name: "web-a", rs: "web-rs", annotations: optIn, owner: true, phase: corev1.PodRunning})
	createPod(t, cl, podSpec{ns: "shop", name: "web-b", rs: "web-rs", annotations: optIn, owner: true, phase: corev1.PodRunning})

	exists := func(name string) bool {
		err := cl.Get(ctx, client.ObjectKey{Namespace: "shop", Name: name}, &corev1.Pod{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	var gone, kept string
	poll.Until(t, wait, "a pod of web-rs to be evicted", func() bool {
		switch a, b := exists("web-a"), exists("web-b"); {
		case !a:
			gone, kept = "web-a", "web-b"
		case !b:
			gone, kept = "web-b", "web-a"
		}
		return gone != ""
	})
	if ev := eventsOf(t, cl, "shop", gone)[logconfigctl.ReasonEvicted]; len(ev) == 0 || !strings.Contains(ev[0], "ReplicaSet web-rs") {
		t.Errorf("%s: Evicted Events %q; want one naming its owner", gone, ev)
	}
	// The same passes tried db (refused by its budget) and left bare.
	poll.Until(t, wait, "an Event on bare saying it is not evicted", func() bool {
		ev := eventsOf(t, cl, "shop", "bare")[logconfigctl.ReasonNotInjected]
		return len(ev) == 1 && strings.Contains(ev[0], "does not evict it")
	})
	for _, name := range []string{"db", "bare"} {
		if !exists(name) {
			t.Errorf("pod %s was evicted", name)
		}
	}
	// The budget allows one disruption now: the refused eviction is
	// tried again and goes through; bare stays.
	setBudget(1)
	poll.Until(t, wait, "db to be evicted once its budget allows", func() bool { return !exists("db") })
	// Passes ran every 200 ms meanwhile (db's retries): the other pod of
	// web-rs is still waiting for its turn.
	if !exists(kept) {
		t.Errorf("both pods of web-rs were evicted at once")
	}
	if !exists("bare") {
		t.Errorf("the pod without an owner was evicted")
	}
}
