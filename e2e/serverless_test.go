package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/charts"
	"github.com/loglet/loglet/e2e/cluster"
	"github.com/loglet/loglet/e2e/virtualnode"
	"github.com/loglet/loglet/hub"
	"github.com/loglet/loglet/hub/query"
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
}

func startServerless(t *testing.T) *serverless {
	t.Helper()
	c := cluster.Start(t)
	p := startVirtualNode(t, c, "virtual-1")
	p.Images = map[string][]string{sidecarImage: {logletSlim}}
	u, err := url.Parse(c.Server)
	if err != nil {
		t.Fatal(err)
	}
	p.Env = []string{"KUBERNETES_SERVICE_HOST=" + u.Hostname(), "KUBERNETES_SERVICE_PORT=" + u.Port()}
	h, err := hub.Start(context.Background(), hub.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Shutdown)

	// The chart as rendered (the sidecar's API access bound in the test's
	// namespace), but the API server calls the webhook process on loopback
	// instead of a Service.
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the namespace's default ServiceAccount", func() bool {
		_, err := c.Client.CoreV1().ServiceAccounts(testNamespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	if err := charts.Apply(ctx, c.Config, "rbac.sidecarNamespaces={"+testNamespace+"}"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	patch := fmt.Sprintf(`{"webhooks":[{"name":"pods.loglet.io","clientConfig":{"service":null,"url":"https://%s/mutate-v1-pod"}}]}`, addr)
	if _, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Patch(ctx, charts.ReleaseName, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	kc, err := c.ServiceAccountKubeconfig(charts.ReleaseNamespace, "loglet-webhook")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	health := freeAddr(t)
	wh := exec.Command(loglet, "webhook", "--port", port, "--health-addr", health, "--metrics-addr", "127.0.0.1:0",
		"--cert-hosts", "127.0.0.1", "--image", sidecarImage, "--image-pull-policy", "Never", "--sink", h.SinkURL())
	wh.Env = append(os.Environ(), "KUBECONFIG="+kc, "POD_NAMESPACE="+charts.ReleaseNamespace, "POD_NAME=loglet-webhook-e2e")
	logFile, _ := os.Create(filepath.Join(c.Dir, "loglet-webhook.log"))
	wh.Stdout, wh.Stderr = logFile, logFile
	wh.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := wh.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wh.Wait(); close(done) }()
	t.Cleanup(func() {
		wh.Process.Signal(syscall.SIGTERM)
		<-done
		logFile.Close()
		if t.Failed() {
			t.Logf("webhook log (end):\n%s", c.Logs("loglet-webhook"))
		}
	})
	poll.Until(t, 30*time.Second, "the webhook to be ready", func() bool {
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return &serverless{Cluster: c, hub: h, node: p}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
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
	r.Tail(context.Background(), query.Filter{}, false, func(rec query.Record) error {
		recs[rec.Body] = rec
		counts[rec.Body]++
		return nil
	})
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
					t.Logf("sidecar's log (end):\n%s", s.logs(t, pod.Name, "loglet"))
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
		})
	}
}

// logs returns the end of a container's log, through the API server.
func (s *serverless) logs(t *testing.T, pod, container string) string {
	b, err := s.Client.CoreV1().Pods(testNamespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, TailLines: ptr.To[int64](30)}).DoRaw(context.Background())
	if err != nil {
		return err.Error()
	}
	return string(b)
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
}
