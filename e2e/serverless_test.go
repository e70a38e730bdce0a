package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
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
	hub *hub.Hub
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
	return &serverless{Cluster: c, hub: h}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// records returns the hub's records, by body.
func (s *serverless) records(t *testing.T) map[string]query.Record {
	t.Helper()
	r, err := query.Open(context.Background(), s.hub.SinkURL())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[string]query.Record{}
	r.Tail(context.Background(), query.Filter{}, false, func(rec query.Record) error { out[rec.Body] = rec; return nil })
	return out
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
