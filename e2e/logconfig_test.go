package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/charts"
	"github.com/loglet/loglet/e2e/virtualnode"
	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/internal/poll"
)

// logConfigWebhook are the webhook flags the LogConfig scenarios add: in
// self mode the webhook publishes its CA in the chart's
// ValidatingWebhookConfiguration too (the chart passes the same flag).
var logConfigWebhook = []string{"--validating-webhook-config-name", charts.ReleaseName}

// logConfigClient is a client that knows LogConfigs.
func (s *serverless) logConfigClient(t *testing.T) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(s.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// storedIn returns the hub's records a filter selects (by route, say), by
// body, and how often each is stored.
func (s *serverless) storedIn(t *testing.T, f query.Filter) (map[string]query.Record, map[string]int) {
	t.Helper()
	r, err := query.Open(context.Background(), s.hub.SinkURL())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, counts := map[string]query.Record{}, map[string]int{}
	skipped := func(s query.Skipped) { t.Errorf("reading the hub skipped %s", s) }
	err = r.Tail(context.Background(), f, query.Options{Skipped: skipped}, func(rec query.Record) error {
		recs[rec.Body] = rec
		counts[rec.Body]++
		return nil
	})
	if err != nil {
		t.Errorf("reading the hub: %v", err)
	}
	return recs, counts
}

// waitAccepted waits until the controller has accepted the config's
// current generation, and returns it with its status.
func waitAccepted(t *testing.T, cl client.Client, obj client.Object, status func() v1alpha1.LogConfigStatus) {
	t.Helper()
	poll.Until(t, 30*time.Second, fmt.Sprintf("%s %s Accepted by the controller", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName()), func() bool {
		if err := cl.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return false
		}
		st := status()
		return st.ObservedGeneration == obj.GetGeneration() && meta.IsStatusConditionTrue(st.Conditions, "Accepted")
	})
}

// TestLogConfigToHub is must-show 3 of the LogConfig issue, serverless: a
// Deployment with no loglet annotation runs uninjected; a LogConfig
// selecting it is applied (an invalid one is refused by the validating
// webhook first) and the Deployment rolled: its new pod is injected, and
// its JSON log reaches the hub parsed, under the config's input name and
// on its route. Then the LogConfig is edited to read another file of the
// same folder (logfmt, another route): the running sidecar ships it
// without a restart of the pod or the sidecar, and the test logs how long
// that took.
func TestLogConfigToHub(t *testing.T) {
	s := startClusterWith(t, clusterOptions{webhookArgs: logConfigWebhook})
	ctx := context.Background()
	cl := s.logConfigClient(t)
	t.Cleanup(func() {
		if t.Failed() {
			s.describe(t, "app=checkout")
		}
	})

	// The app: n JSON lines to app.log, then an audit line (logfmt) every
	// 100 ms to audit.log in the same folder, from the start.
	const n = 300
	script := fmt.Sprintf(`mkdir -p /var/log/app; i=0; while [ $i -lt %d ]; do echo "{\"msg\":\"app line $i\",\"level\":\"warn\",\"user\":\"u$i\"}" >> /var/log/app/app.log; i=$((i+1)); done; `+
		`j=0; while true; do echo "level=info msg=\"audit line $j\" actor=ops" >> /var/log/app/audit.log; j=$((j+1)); sleep 0.1; done`, n)
	labels := map[string]string{"app": "checkout"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: testNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Tolerations:                   []corev1.Toleration{virtualnode.Toleration},
					TerminationGracePeriodSeconds: ptr.To[int64](5),
					Containers:                    []corev1.Container{{Name: "app", Image: "registry.example/shop/checkout:2.0.1", Command: []string{"sh", "-c", script}}},
				},
			},
		},
	}
	if err := cl.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	// current is the Deployment's one pod not being deleted, once bound.
	current := func() (corev1.Pod, bool) {
		var pods corev1.PodList
		if err := cl.List(ctx, &pods, client.InNamespace(testNamespace), client.MatchingLabels(labels)); err != nil {
			return corev1.Pod{}, false
		}
		var live []corev1.Pod
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				live = append(live, p)
			}
		}
		if len(live) != 1 || live[0].Spec.NodeName == "" {
			return corev1.Pod{}, false
		}
		return live[0], true
	}
	var before corev1.Pod
	poll.Until(t, 30*time.Second, "the Deployment's pod on the virtual node", func() (ok bool) { before, ok = current(); return ok })
	if before.Annotations["loglet.io/status"] == "injected" {
		t.Fatalf("a pod without annotations, selected by no LogConfig, was injected: %v", before.Annotations)
	}

	// An invalid config is refused at apply time with the loader's message.
	bad := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: testNamespace},
		Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{{Name: "app", Files: []string{"/var/log/app/*.log"}, Format: "regex:(unclosed"}}}}
	// The webhook is ready before its CA is in the ValidatingWebhookConfiguration:
	// until then the API server cannot call it (refused too, but not by loglet).
	poll.Until(t, 30*time.Second, "the CA bundle in the ValidatingWebhookConfiguration", func() bool {
		v, err := s.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, charts.ReleaseName, metav1.GetOptions{})
		return err == nil && len(v.Webhooks) > 0 && len(v.Webhooks[0].ClientConfig.CABundle) > 0
	})
	err := cl.Create(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "regex") || !strings.Contains(err.Error(), "logconfigs.loglet.io") {
		t.Fatalf("a LogConfig with format regex:(unclosed: %v; want it refused by the webhook logconfigs.loglet.io naming the regex", err)
	}
	t.Logf("refused at apply: %v", err)

	lc := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: testNamespace},
		Spec: v1alpha1.LogConfigSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Inputs:   []v1alpha1.Input{{Name: "app", Files: []string{"/var/log/app/app.log"}, Format: "json", Route: "checkout"}},
		}}
	if err := cl.Create(ctx, lc); err != nil {
		t.Fatal(err)
	}
	waitAccepted(t, cl, lc, func() v1alpha1.LogConfigStatus { return lc.Status })

	// Rolled (kubectl rollout restart): the new pod is injected.
	restart := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339))
	if err := cl.Patch(ctx, d, client.RawPatch(types.StrategicMergePatchType, []byte(restart))); err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	poll.Until(t, 60*time.Second, "the rolled pod, and only it, on the virtual node", func() (ok bool) {
		pod, ok = current()
		return ok && pod.UID != before.UID
	})
	if pod.Annotations["loglet.io/status"] != "injected" {
		t.Fatalf("the rolled pod, selected by LogConfig checkout, was not injected: %v", pod.Annotations)
	}
	poll.Until(t, 30*time.Second, "LogConfig checkout to count the rolled pod", func() bool {
		return cl.Get(ctx, client.ObjectKeyFromObject(lc), lc) == nil && lc.Status.MatchedPods == 1
	})

	var recs map[string]query.Record
	var counts map[string]int
	poll.Until(t, 60*time.Second, "every app line at the hub, on route checkout", func() bool {
		recs, counts = s.storedIn(t, query.Filter{Route: "checkout"})
		return len(recs) >= n
	})
	var written []string
	for i := range n {
		body := fmt.Sprintf("app line %d", i)
		written = append(written, body)
		r, ok := recs[body]
		switch {
		case !ok:
			t.Fatalf("%q is not at the hub on route checkout", body)
		case counts[body] != 1:
			t.Errorf("%q stored %d times", body, counts[body])
		case r.Attributes["loglet.input"] != "checkout/app" || r.Attributes["user"] != fmt.Sprintf("u%d", i) || r.Severity == "":
			t.Fatalf("%q: attributes %v, severity %q; want the JSON parsed (user, level) under the input checkout/app", body, r.Attributes, r.Severity)
		case r.Resource["k8s.pod.name"] != pod.Name || r.Resource["k8s.container.name"] != "app" || r.Resource["container.image.name"] != "registry.example/shop/checkout":
			t.Fatalf("%q: resource %v", body, r.Resource)
		}
	}
	for body := range s.records(t) {
		if strings.HasPrefix(body, "audit line") {
			t.Fatalf("%q is at the hub before a LogConfig reads audit.log", body)
		}
	}

	// Edited: a second input, another file of the folder already shared.
	if err := cl.Get(ctx, client.ObjectKeyFromObject(lc), lc); err != nil {
		t.Fatal(err)
	}
	lc.Spec.Inputs = append(lc.Spec.Inputs, v1alpha1.Input{Name: "audit", Files: []string{"/var/log/app/audit.log"}, Format: "logfmt", Route: "audit"})
	edited := time.Now()
	if err := cl.Update(ctx, lc); err != nil {
		t.Fatal(err)
	}
	var audit map[string]query.Record
	poll.Until(t, 60*time.Second, "audit lines at the hub, on route audit", func() bool {
		audit, _ = s.storedIn(t, query.Filter{Route: "audit"})
		return len(audit) > 0
	})
	took := time.Since(edited)
	waitAccepted(t, cl, lc, func() v1alpha1.LogConfigStatus { return lc.Status })
	for body, r := range audit {
		if !strings.HasPrefix(body, "audit line") || r.Attributes["loglet.input"] != "checkout/audit" || r.Attributes["actor"] != "ops" || r.Resource["k8s.pod.name"] != pod.Name {
			t.Fatalf("on route audit: %q with attributes %v, resource %v; want audit lines parsed as logfmt under checkout/audit", body, r.Attributes, r.Resource)
		}
	}
	// Without a restart: the same pod, its sidecar never restarted.
	now, err := s.Client.CoreV1().Pods(testNamespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil || now.UID != pod.UID {
		t.Fatalf("the pod after the edit: %v (uid %v, was %s)", err, now.UID, pod.UID)
	}
	for _, cs := range append(now.Status.InitContainerStatuses, now.Status.ContainerStatuses...) {
		if cs.RestartCount != 0 {
			t.Errorf("container %s restarted %d times; the edit must reach the running sidecar", cs.Name, cs.RestartCount)
		}
	}
	// The first input goes on: its lines are still stored once.
	_, counts = s.storedIn(t, query.Filter{Route: "checkout"})
	for _, body := range written {
		if counts[body] != 1 {
			t.Errorf("%q stored %d times after the edit, want once", body, counts[body])
		}
	}
	t.Logf("LogConfig edited (audit.log added): its first lines at the hub %v later, the sidecar not restarted", took.Round(10*time.Millisecond))
	s.addReport(t, "10 LogConfig: un-annotated Deployment rolled, injected", written)
	addNote(t, "10b LogConfig edited, new file", fmt.Sprintf("new file shipped %v after the edit, no restart", took.Round(10*time.Millisecond)))
}

// TestClusterLogConfigNodeMode is must-show 3's node mode: a
// ClusterLogConfig selecting a namespace where no sidecar is injected
// (loglet.io/inject=disabled) is applied by the chart's DaemonSet to a pod
// on the classic node: its stdout is parsed as the config says (logfmt),
// named and routed by it, and stored once.
func TestClusterLogConfigNodeMode(t *testing.T) {
	s := startClusterWith(t, clusterOptions{nodeMode: true, webhookArgs: logConfigWebhook})
	ctx := context.Background()
	cl := s.logConfigClient(t)
	poll.Until(t, 60*time.Second, "the DaemonSet's agent to run on classic-1", func() bool {
		pods, err := s.Client.CoreV1().Pods(charts.ReleaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=node-agent"})
		return err == nil && len(pods.Items) == 1 && pods.Items[0].Spec.NodeName == "classic-1" && pods.Items[0].Status.Phase == corev1.PodRunning
	})
	const ns = "batch"
	s.Namespace(t, ns)
	nsPatch := `{"metadata":{"labels":{"team":"platform","loglet.io/inject":"disabled"}}}`
	if _, err := s.Client.CoreV1().Namespaces().Patch(ctx, ns, types.StrategicMergePatchType, []byte(nsPatch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.describeIn(t, charts.ReleaseNamespace, "app.kubernetes.io/component=node-agent")
			s.describeIn(t, ns, "")
		}
	})
	poll.Until(t, 30*time.Second, "the CA bundle in the ValidatingWebhookConfiguration", func() bool {
		v, err := s.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, charts.ReleaseName, metav1.GetOptions{})
		return err == nil && len(v.Webhooks) > 0 && len(v.Webhooks[0].ClientConfig.CABundle) > 0
	})
	clc := &v1alpha1.ClusterLogConfig{ObjectMeta: metav1.ObjectMeta{Name: "platform"},
		Spec: v1alpha1.ClusterLogConfigSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "platform"}},
			LogConfigSpec: v1alpha1.LogConfigSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "report"}},
				Inputs:   []v1alpha1.Input{{Name: "stdout", Stdout: true, Format: "logfmt", Route: "platform"}},
			},
		}}
	if err := cl.Create(ctx, clc); err != nil {
		t.Fatal(err)
	}
	waitAccepted(t, cl, clc, func() v1alpha1.LogConfigStatus { return clc.Status })

	const n = 300
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: ns, Labels: map[string]string{"app": "report"}},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{"kubernetes.io/hostname": "classic-1"},
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/batch/report:1",
				Command: []string{"sh", "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "level=error msg=\"report line $i\" job=nightly"; i=$((i+1)); done; sleep 3600`, n)}}},
		}}
	if err := cl.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if pod.Annotations["loglet.io/status"] == "injected" {
		t.Fatalf("a pod in a namespace labelled loglet.io/inject=disabled was injected: %v", pod.Annotations)
	}
	var recs map[string]query.Record
	var counts map[string]int
	poll.Until(t, 60*time.Second, "the pod's lines at the hub, on route platform", func() bool {
		recs, counts = s.storedIn(t, query.Filter{Route: "platform"})
		return len(recs) >= n
	})
	var written []string
	for i := range n {
		body := fmt.Sprintf("report line %d", i)
		written = append(written, body)
		r, ok := recs[body]
		switch {
		case !ok:
			t.Fatalf("%q is not at the hub on route platform", body)
		case counts[body] != 1:
			t.Errorf("%q stored %d times, want once", body, counts[body])
		case r.Attributes["loglet.input"] != "cluster/platform/stdout" || r.Attributes["job"] != "nightly" || r.Severity == "":
			t.Fatalf("%q: attributes %v, severity %q; want logfmt parsed (job, level) under cluster/platform/stdout", body, r.Attributes, r.Severity)
		case r.Resource["k8s.pod.name"] != "report" || r.Resource["k8s.namespace.name"] != ns || r.Resource["k8s.node.name"] != "classic-1":
			t.Fatalf("%q: resource %v, want the pod's identity from node mode", body, r.Resource)
		}
	}
	// Nowhere else: not also under the node's own input, on the default route.
	all, _ := s.stored(t)
	for body, r := range all {
		if strings.HasPrefix(body, "report line") && r.Attributes["loglet.input"] != "cluster/platform/stdout" {
			t.Errorf("%q also stored under input %v", body, r.Attributes["loglet.input"])
		}
	}
	s.addReport(t, "11 node mode, ClusterLogConfig", written)
}
