package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/charts"
	"github.com/loglet/loglet/e2e/cluster"
	"github.com/loglet/loglet/e2e/virtualnode"
	"github.com/loglet/loglet/hub"
	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
)

// sidecarImage is what the webhook injects; the virtual node runs the
// slim build for it.
const sidecarImage = "ghcr.io/loglet/loglet-slim:e2e"

// testNamespace holds the scenarios' workloads.
const testNamespace = "shop"

// serverless is a cluster with a virtual node, the chart's webhook
// (running as a local process, with the chart's RBAC) and the embedded hub.
type serverless struct {
	*cluster.Cluster
	hub  *hub.Hub
	node *virtualnode.Provider
	// webhookAddr is where the webhook configuration sends admissions.
	webhookAddr string
	// webhookArgs are further flags of loglet webhook.
	webhookArgs []string
	stopWebhook func()
}

func startServerless(t *testing.T) *serverless { return startCluster(t, false) }

// startCluster is startServerless, and with nodeMode a classic node
// "classic-1" where the chart's DaemonSet runs loglet in node mode.
func startCluster(t *testing.T, nodeMode bool) *serverless {
	t.Helper()
	return startClusterWith(t, clusterOptions{nodeMode: nodeMode})
}

// clusterOptions say what a scenario needs besides the virtual node.
type clusterOptions struct {
	// nodeMode adds the classic node "classic-1" where the chart's
	// DaemonSet runs loglet in node mode.
	nodeMode bool
	// webhookArgs are further flags of loglet webhook.
	webhookArgs []string
}

// startClusterWith is startCluster with options.
func startClusterWith(t *testing.T, o clusterOptions) *serverless {
	t.Helper()
	nodeMode := o.nodeMode
	c := cluster.Start(t)
	u, err := url.Parse(c.Server)
	if err != nil {
		t.Fatal(err)
	}
	// Started before the nodes, so it stops after them: their pods drain
	// into it when the test ends.
	h, err := hub.Start(context.Background(), hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Shutdown)
	p := startVirtualNode(t, c, "virtual-1")
	nodes := []*virtualnode.Provider{p}
	if nodeMode {
		nodes = append(nodes, startNode(t, c, "classic-1", true))
	}
	for _, n := range nodes {
		n.Images = map[string][]string{sidecarImage: {logletSlim}}
		n.Env = []string{"KUBERNETES_SERVICE_HOST=" + u.Hostname(), "KUBERNETES_SERVICE_PORT=" + u.Port()}
	}
	values := []string{"rbac.sidecarNamespaces={" + testNamespace + "}"}
	if nodeMode {
		i := strings.LastIndexByte(sidecarImage, ':')
		values = append(values, "nodeMode.enabled=true", "hub.sink="+h.SinkURL(), `nodeMode.nodeSelector.kubernetes\.io/hostname=classic-1`,
			"image.slimRepository="+sidecarImage[:i], "image.tag="+sidecarImage[i+1:])
	}

	// The chart as rendered (the sidecar's API access bound in the test's
	// namespace), but the API server calls the webhook process on loopback
	// instead of a Service.
	ctx := context.Background()
	c.Namespace(t, testNamespace)
	if err := charts.Apply(ctx, c.Config, values...); err != nil {
		t.Fatal(err)
	}
	addr := freeport.Addr(t)
	patch := fmt.Sprintf(`{"webhooks":[{"name":"pods.loglet.io","clientConfig":{"service":null,"url":"https://%s/mutate-v1-pod"}}]}`, addr)
	if _, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Patch(ctx, charts.ReleaseName, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// The LogConfig validation too (the CRDs are installed with the chart).
	patch = fmt.Sprintf(`{"webhooks":[{"name":"logconfigs.loglet.io","clientConfig":{"service":null,"url":"https://%s/validate-loglet-io-v1alpha1-logconfig"}}]}`, addr)
	if _, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Patch(ctx, charts.ReleaseName, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	s := &serverless{Cluster: c, hub: h, node: p, webhookAddr: addr, webhookArgs: o.webhookArgs}
	s.stopWebhook = s.startWebhook(t)
	return s
}

// startWebhook runs `loglet webhook` as the chart's ServiceAccount, on the
// address the webhook configuration names, until the returned stop is
// called (or the test ends); it returns once the webhook is ready.
func (s *serverless) startWebhook(t *testing.T) (stop func()) {
	t.Helper()
	kc, err := s.ServiceAccountKubeconfig(charts.ReleaseNamespace, "loglet-webhook")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(s.webhookAddr)
	health := freeport.Addr(t)
	// Pods share the machine's network here: each sidecar's metrics port
	// must not be taken by anything else on it.
	_, sidecarPort, _ := net.SplitHostPort(freeport.Addr(t))
	wh := exec.Command(loglet, "webhook", "--port", port, "--health-addr", health, "--metrics-addr", "127.0.0.1:0", "--sidecar-metrics-port", sidecarPort,
		"--cert-hosts", "127.0.0.1", "--image", sidecarImage, "--image-pull-policy", "Never", "--sink", s.hub.SinkURL())
	wh.Args = append(wh.Args, s.webhookArgs...)
	wh.Env = append(os.Environ(), "KUBECONFIG="+kc, "POD_NAMESPACE="+charts.ReleaseNamespace, "POD_NAME=loglet-webhook-e2e")
	logFile, err := os.OpenFile(filepath.Join(s.Dir, "loglet-webhook.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	wh.Stdout, wh.Stderr = logFile, logFile
	wh.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := wh.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wh.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			wh.Process.Signal(syscall.SIGTERM)
			<-done
			logFile.Close()
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("webhook log (end):\n%s", s.Logs("loglet-webhook"))
		}
	})
	poll.OK(t, 30*time.Second, "the webhook to be ready", "http://"+health+"/readyz")
	return stop
}

// records returns the hub's records by body.
func (s *serverless) records(t *testing.T) map[string]query.Record {
	recs, _ := s.stored(t)
	return recs
}

// stored returns the hub's records by body, and how often each is stored.
func (s *serverless) stored(t *testing.T) (map[string]query.Record, map[string]int) {
	t.Helper()
	r, err := query.Open(context.Background(), s.hub.SinkURL())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, counts := map[string]query.Record{}, map[string]int{}
	skipped := func(s query.Skipped) { t.Errorf("reading the hub skipped %s", s) }
	err = r.Tail(context.Background(), query.Filter{}, query.Options{Skipped: skipped}, func(rec query.Record) error {
		recs[rec.Body] = rec
		counts[rec.Body]++
		return nil
	})
	if err != nil {
		t.Errorf("reading the hub: %v", err)
	}
	return recs, counts
}

// TestDeploymentToHub is the first two scenarios: a Deployment whose pod
// template opts in (a file log, and stdout through loglet exec or through
// the API server's pods/log) gets its pods injected through the real
// admission chain and run on the virtual node, and both the file's and
// stdout's lines reach the hub with the pod's identity.
func TestDeploymentToHub(t *testing.T) {
	for _, stdout := range []string{"wrap", "api"} {
		t.Run(stdout, func(t *testing.T) {
			s := startServerless(t)
			const n = 200
			script := fmt.Sprintf(`mkdir -p /var/log/app; i=0; while [ $i -lt %d ]; do echo "stdout line $i"; echo "file line $i" >> /var/log/app/app.log; i=$((i+1)); done; sleep 3600`, n)
			pod := s.deploy(t, "web", map[string]string{"loglet.io/paths": "app:/var/log/app/*.log", "loglet.io/stdout": stdout}, script)
			t.Cleanup(func() {
				if t.Failed() {
					s.describe(t, "app=web")
				}
			})
			var recs map[string]query.Record
			poll.Until(t, 60*time.Second, "every line of the pod at the hub", func() bool {
				recs = s.records(t)
				return len(recs) >= 2*n
			})
			for i := range n {
				for _, body := range []string{fmt.Sprintf("stdout line %d", i), fmt.Sprintf("file line %d", i)} {
					r, ok := recs[body]
					if !ok {
						t.Fatalf("%q not at the hub", body)
					}
					res := r.Resource
					if res["k8s.namespace.name"] != testNamespace || res["k8s.pod.name"] != pod.Name || res["k8s.container.name"] != "app" ||
						res["container.image.name"] != "registry.example/shop/web" || res["k8s.pod.label.app"] != "web" {
						t.Fatalf("%q: resource %v", body, res)
					}
				}
			}
			if r := recs["stdout line 0"]; stdout == "wrap" && r.Attributes["log.iostream"] != "stdout" {
				t.Errorf("wrap: attributes %v, want log.iostream stdout", r.Attributes)
			}
			// loglet logs context pages around one of them, as a user would.
			r := recs["stdout line 100"]
			out, err := exec.Command(loglet, "logs", "context", r.SourceID(), strconv.FormatUint(r.PackageID(), 10), strconv.Itoa(r.Offset()),
				"--before", "3", "--after", "3", "--hub", s.hub.SinkURL()).CombinedOutput()
			for i := 97; i <= 103; i++ {
				if !strings.Contains(string(out), fmt.Sprintf("stdout line %d\n", i)) {
					t.Errorf("logs context around stdout line 100 (%v) lacks line %d:\n%s", err, i, out)
					break
				}
			}
			var written []string
			for i := range n {
				written = append(written, fmt.Sprintf("stdout line %d", i), fmt.Sprintf("file line %d", i))
			}
			scenario := map[string]string{"wrap": "1 Deployment, file + stdout: wrap", "api": "2 Deployment, file + stdout: api"}[stdout]
			s.addReport(t, scenario, written)
		})
	}
}

// tail returns the end of a container's log (of its previous run), through
// the API server.
func (s *serverless) tail(ns, pod, container string, previous bool) string {
	opts := &corev1.PodLogOptions{Container: container, Previous: previous, TailLines: ptr.To[int64](30)}
	b, err := s.Client.CoreV1().Pods(ns).GetLogs(pod, opts).DoRaw(context.Background())
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// describe logs what a failed test needs to know about the pods of the
// test namespace a label selector picks: their statuses, and the end of
// each container's log (and of its previous run, after a restart).
func (s *serverless) describe(t *testing.T, selector string) {
	s.describeIn(t, testNamespace, selector)
}

// describeIn is describe for the pods of namespace ns.
func (s *serverless) describeIn(t *testing.T, ns, selector string) {
	pods, err := s.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Logf("pods %s: %v", selector, err)
		return
	}
	for _, p := range pods.Items {
		t.Logf("pod %s: phase %s %s %s", p.Name, p.Status.Phase, p.Status.Reason, p.Status.Message)
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			t.Logf("container %s: restarts %d, state %+v, last %+v\nlog (end):\n%s", cs.Name, cs.RestartCount, cs.State, cs.LastTerminationState,
				s.tail(ns, p.Name, cs.Name, false))
			if cs.RestartCount > 0 {
				t.Logf("previous run's log (end):\n%s", s.tail(ns, p.Name, cs.Name, true))
			}
		}
	}
}

// deploy creates a one-replica Deployment opting in with annotations,
// running script in its container app, and returns its injected pod.
func (s *serverless) deploy(t *testing.T, name string, annotations map[string]string, script string) corev1.Pod {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": name}
	annotations["loglet.io/inject"] = "true"
	_, err := s.Client.AppsV1().Deployments(testNamespace).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: corev1.PodSpec{
					Tolerations:                   []corev1.Toleration{virtualnode.Toleration},
					TerminationGracePeriodSeconds: ptr.To[int64](10),
					Containers:                    []corev1.Container{{Name: "app", Image: "registry.example/shop/" + name + ":1.4.2", Command: []string{"sh", "-c", script}}},
				},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	poll.Until(t, 30*time.Second, "the Deployment's pod on the virtual node", func() bool {
		pods, err := s.Client.CoreV1().Pods(testNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil || len(pods.Items) != 1 || pods.Items[0].Spec.NodeName == "" {
			return false
		}
		pod = pods.Items[0]
		return true
	})
	if pod.Annotations["loglet.io/status"] != "injected" {
		t.Fatalf("pod not injected: %v", pod.Annotations)
	}
	return pod
}

// numbered is a script writing n numbered lines to stdout and to
// /var/log/app/app.log, pausing a little every hundred, then "last line"
// to both, then what follows (e.g. sleep).
func numbered(n int, then string) string {
	return fmt.Sprintf(`mkdir -p /var/log/app; i=0; while [ $i -lt %d ]; do echo "stdout line $i"; echo "file line $i" >> /var/log/app/app.log; i=$((i+1)); [ $((i %% 100)) -eq 0 ] && sleep 0.1; done; echo "stdout last line"; echo "file last line" >> /var/log/app/app.log; %s`, n, then)
}

// numberedLines are the lines numbered(n, …) writes.
func numberedLines(n int) []string {
	out := []string{"stdout last line", "file last line"}
	for i := range n {
		out = append(out, fmt.Sprintf("stdout line %d", i), fmt.Sprintf("file line %d", i))
	}
	return out
}

// expect checks that every numbered line (and the last ones) is at the
// hub, and returns how many were stored more than once.
func expect(t *testing.T, s *serverless, n int) (dups int) {
	t.Helper()
	_, counts := s.stored(t)
	for i := -1; i < n; i++ {
		for _, f := range []string{"stdout line %d", "file line %d"} {
			body := fmt.Sprintf(f, i)
			if i < 0 {
				body = strings.Replace(f, "line %d", "last line", 1)
			}
			switch c := counts[body]; {
			case c == 0:
				t.Errorf("%q is not at the hub", body)
			case c > 1:
				dups += c - 1
			}
		}
	}
	return dups
}

// TestSidecarKilled is scenario 3: the sidecar is killed with SIGKILL
// while the app writes; the virtual node restarts it, as the kubelet
// would, and nothing is lost.
func TestSidecarKilled(t *testing.T) {
	s := startServerless(t)
	const n = 3000
	pod := s.deploy(t, "web", map[string]string{"loglet.io/paths": "app:/var/log/app/*.log", "loglet.io/stdout": "wrap"}, numbered(n, "sleep 3600"))
	// Killed while the app writes, at a moment set by its progress (not by
	// the hub's acknowledgements): when its log holds 9/10 of the lines.
	appLog := filepath.Join(s.node.VolumeDir(&pod, "loglet-data"), "c", "app", "0", "app.log")
	poll.Until(t, 60*time.Second, "the app to write 9/10 of its lines", func() bool {
		b, _ := os.ReadFile(appLog)
		return bytes.Count(b, []byte("\n")) >= 9*n/10 && len(s.records(t)) > 0
	})
	if err := s.node.Kill(testNamespace, pod.Name, "loglet"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 90*time.Second, "every line at the hub", func() bool { return len(s.records(t)) >= 2*n+2 })
	dups := expect(t, s, n)
	p, err := s.Client.CoreV1().Pods(testNamespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restarts := int32(0)
	for _, cs := range p.Status.InitContainerStatuses {
		if cs.Name == "loglet" {
			restarts = cs.RestartCount
		}
	}
	if restarts < 1 {
		t.Errorf("the sidecar's restart count is %d; want the kill to have restarted it", restarts)
	}
	// Stored twice: what was delivered but not yet checkpointed at the
	// kill, re-read and cut into other packages than the hub's duplicate
	// window knows.
	t.Logf("sidecar killed when the app had written 9/10 of its %d lines, restarted %d time(s): every line delivered, %d stored twice", 2*n+2, restarts, dups)
	s.addReport(t, "3 sidecar killed (SIGKILL), restarted", numberedLines(n))
}

// TestJobWithNativeSidecar is scenario 4: a Job's pod with the native
// sidecar completes (the sidecar stops once the app ended, after draining),
// the Job completes, and every line — the last one too — is at the hub
// by then.
func TestJobWithNativeSidecar(t *testing.T) {
	s := startServerless(t)
	ctx := context.Background()
	const n = 500
	_, err := s.Client.BatchV1().Jobs(testNamespace).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "report"},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "report"}, Annotations: map[string]string{
					"loglet.io/inject": "true", "loglet.io/paths": "app:/var/log/app/*.log", "loglet.io/stdout": "wrap"}},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					Tolerations:                   []corev1.Toleration{virtualnode.Toleration},
					TerminationGracePeriodSeconds: ptr.To[int64](10),
					Containers:                    []corev1.Container{{Name: "app", Image: "registry.example/shop/report:1", Command: []string{"sh", "-c", numbered(n, "exit 0")}}},
				},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.describe(t, "app=report")
		}
	})
	poll.Until(t, 90*time.Second, "the Job to complete", func() bool {
		j, err := s.Client.BatchV1().Jobs(testNamespace).Get(ctx, "report", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return true
			}
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				t.Fatalf("the Job failed: %s", c.Message)
			}
		}
		return false
	})
	dups := expect(t, s, n)
	t.Logf("Job complete with %d lines at the hub, the last one included; %d stored twice", 2*n+2, dups)
	s.addReport(t, "4 Job with native sidecar", numberedLines(n))
}

// runPod creates a pod on the virtual node opting in with annotations
// (none: not opted in), running script in its container app, and returns
// it as admitted.
func (s *serverless) runPod(t *testing.T, name string, annotations map[string]string, script string) *corev1.Pod {
	t.Helper()
	if annotations != nil {
		annotations["loglet.io/inject"] = "true"
	}
	pod, err := s.Client.CoreV1().Pods(testNamespace).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}, Annotations: annotations},
		Spec: corev1.PodSpec{
			Tolerations:                   []corev1.Toleration{virtualnode.Toleration},
			TerminationGracePeriodSeconds: ptr.To[int64](10),
			Containers:                    []corev1.Container{{Name: "app", Image: "registry.example/shop/" + name + ":1", Command: []string{"sh", "-c", script}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// TestPodDeletedWhileWriting is scenario 5: the pod is deleted while its
// app writes; the sidecar drains within the grace period, and every line
// the app wrote — what its log file and its stdout copy hold when the pod
// is gone — is at the hub.
func TestPodDeletedWhileWriting(t *testing.T) {
	s := startServerless(t)
	ctx := context.Background()
	endless := `mkdir -p /var/log/app; i=0; while true; do echo "stdout line $i"; echo "file line $i" >> /var/log/app/app.log; i=$((i+1)); [ $((i % 100)) -eq 0 ] && sleep 0.1; done`
	pod := s.runPod(t, "busy", map[string]string{"loglet.io/paths": "app:/var/log/app/*.log", "loglet.io/stdout": "wrap"}, endless)
	poll.Until(t, 60*time.Second, "lines at the hub", func() bool { return len(s.records(t)) >= 500 })
	start := time.Now()
	if err := s.Client.CoreV1().Pods(testNamespace).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the pod to be gone", func() bool {
		_, err := s.Client.CoreV1().Pods(testNamespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	gone := time.Since(start)

	// What the app wrote: its log file and loglet exec's copy of stdout.
	vol := s.node.VolumeDir(pod, "loglet-data")
	var written []string
	file, err := os.ReadFile(filepath.Join(vol, "c", "app", "0", "app.log"))
	if err != nil {
		t.Fatal(err)
	}
	written = append(written, strings.Split(strings.TrimSuffix(string(file), "\n"), "\n")...)
	copyOf, err := os.ReadFile(filepath.Join(vol, "stdout", "app", "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(copyOf), "\n"), "\n") {
		if f := strings.SplitN(l, " ", 4); len(f) == 4 {
			written = append(written, f[3])
		}
	}
	recs := s.records(t)
	missing := 0
	for _, l := range written {
		if _, ok := recs[l]; !ok {
			missing++
			if missing <= 5 {
				t.Errorf("%q was written before the pod was deleted but is not at the hub", l)
			}
		}
	}
	t.Logf("pod deleted after ≥ 500 lines; gone %v later (grace 10 s); %d lines written, %d missing at the hub", gone.Round(time.Millisecond), len(written), missing)
	s.addReport(t, "5 pod deleted while writing", written)
}

// TestWebhookDown is scenario 6: with the webhook stopped, failurePolicy
// Ignore lets pods start without the sidecar, and the API server counts the
// skip (apiserver_admission_webhook_fail_open_count, what SECURITY.md says
// to alert on); started again, the webhook injects new pods.
func TestWebhookDown(t *testing.T) {
	s := startServerless(t)
	ctx := context.Background()
	optIn := func() map[string]string { return map[string]string{"loglet.io/stdout": "wrap"} }
	s.stopWebhook()
	down := s.runPod(t, "while-down", optIn(), "echo up; sleep 3600")
	if down.Annotations["loglet.io/status"] == "injected" || len(down.Spec.InitContainers) > 0 {
		t.Fatalf("a pod created while the webhook is down was injected: %v", down.Annotations)
	}
	poll.Until(t, 30*time.Second, "the uninjected pod to run", func() bool {
		p, err := s.Client.CoreV1().Pods(testNamespace).Get(ctx, "while-down", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning
	})
	failedOpen := failOpen(t, s)
	if failedOpen < 1 {
		t.Errorf("apiserver_admission_webhook_fail_open_count for pods.loglet.io is %v, want the skipped pod counted", failedOpen)
	}
	s.startWebhook(t)
	after := s.runPod(t, "after", optIn(), "echo up; sleep 3600")
	if after.Annotations["loglet.io/status"] != "injected" {
		t.Fatalf("a pod created after the webhook came back was not injected: %v", after.Annotations)
	}
	addNote(t, "6 webhook down, then back", fmt.Sprintf("pod while down: running, not injected, fail-open count %v; after: injected", failedOpen))
}

// failOpen reads the API server's count of admissions it let through
// because loglet's webhook failed.
func failOpen(t *testing.T, s *serverless) float64 {
	t.Helper()
	raw, err := s.Client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "apiserver_admission_webhook_fail_open_count{") && strings.Contains(l, `name="pods.loglet.io"`) {
			var v float64
			fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v)
			total += v
		}
	}
	return total
}

// TestNodeModeDaemonSet is scenario 7: on a classic node the chart's
// DaemonSet runs loglet in node mode over the node's /var/log/pods; a pod
// that did not opt in has its stdout at the hub through it, and a pod with
// the sidecar is not collected a second time.
func TestNodeModeDaemonSet(t *testing.T) {
	s := startCluster(t, true)
	ctx := context.Background()
	start := time.Now()
	poll.Until(t, 60*time.Second, "the DaemonSet's agent to run on classic-1", func() bool {
		pods, err := s.Client.CoreV1().Pods(charts.ReleaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=node-agent"})
		return err == nil && len(pods.Items) == 1 && pods.Items[0].Spec.NodeName == "classic-1" && pods.Items[0].Status.Phase == corev1.PodRunning
	})
	t.Logf("DaemonSet agent running on classic-1 after %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			s.describeIn(t, charts.ReleaseNamespace, "app.kubernetes.io/component=node-agent")
			s.describe(t, "")
		}
	})
	const n = 300
	on := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "classic-1"}
		return p
	}
	plain := on(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Labels: map[string]string{"app": "plain"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/shop/plain:1",
			Command: []string{"sh", "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "plain line $i"; i=$((i+1)); done; sleep 3600`, n)}}}}})
	injected := on(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "injected", Annotations: map[string]string{"loglet.io/inject": "true", "loglet.io/stdout": "wrap"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/shop/injected:1",
			Command: []string{"sh", "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "injected line $i"; i=$((i+1)); done; sleep 3600`, n)}}}}})
	for _, p := range []*corev1.Pod{plain, injected} {
		created, err := s.Client.CoreV1().Pods(testNamespace).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p == injected && created.Annotations["loglet.io/status"] != "injected" {
			t.Fatalf("the opted-in pod was not injected: %v", created.Annotations)
		}
	}
	var recs map[string]query.Record
	var counts map[string]int
	poll.Until(t, 60*time.Second, "both pods' lines at the hub", func() bool {
		recs, counts = s.stored(t)
		return len(recs) >= 2*n
	})
	t.Logf("both pods' lines at the hub after %v", time.Since(start).Round(time.Millisecond))
	// The DaemonSet reads the injected pod's log too — or would, if it
	// did not skip it: give it the time a read takes, then count.
	poll.Until(t, 30*time.Second, "the node agent to have read the plain pod's last line", func() bool {
		recs, counts = s.stored(t)
		return recs[fmt.Sprintf("plain line %d", n-1)].Body != ""
	})
	for i := range n {
		p := recs[fmt.Sprintf("plain line %d", i)]
		if p.Resource["k8s.pod.name"] != "plain" || p.Resource["k8s.node.name"] != "classic-1" || p.Resource["k8s.pod.label.app"] != "plain" {
			t.Fatalf("plain line %d: resource %v, want the pod's identity from node mode", i, p.Resource)
		}
		if c := counts[fmt.Sprintf("injected line %d", i)]; c != 1 {
			t.Errorf("injected line %d stored %d times, want once (by its sidecar only)", i, c)
		}
	}
	var written []string
	for i := range n {
		written = append(written, fmt.Sprintf("plain line %d", i), fmt.Sprintf("injected line %d", i))
	}
	s.addReport(t, "7 node mode beside an injected pod", written)
}
