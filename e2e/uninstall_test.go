package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/loglet/loglet/charts"
	"github.com/loglet/loglet/e2e/cluster"
	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
)

// TestUninstallLeavesNothing: the chart installed with its defaults (the
// webhook in self mode, a hub of three members), the webhook run as one of
// its Deployment's pods (a local process with the pod's name and a token
// of the chart's ServiceAccount: no node runs the image here) writes its
// certificates' Secret and its Lease; then the release is uninstalled as
// `helm uninstall` does it (each object of the release deleted, dependents
// in the background) and the controller-manager's garbage collector runs.
// Nothing of loglet's stays: not the Secret with the CA key, not the
// Lease, not the hub's volumes — but the CRDs, which Helm installs from
// the chart's crds/ folder and never deletes (the chart's README says
// so), stay. (Helm's own Go package for uninstall could not be linked
// here without changing e2e/go.mod; what it deletes is the rendered
// release, as below.)
func TestUninstallLeavesNothing(t *testing.T) {
	c := cluster.Start(t)
	ctx := context.Background()
	ns := charts.ReleaseNamespace
	if err := charts.Apply(ctx, c.Config); err != nil {
		t.Fatal(err)
	}
	// The controllers make the webhook's and the hub's pods (Pending: no
	// node), and the hub's volume claims.
	var pod string
	poll.Until(t, 60*time.Second, "the webhook's pods and the hub's volume claims", func() bool {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=webhook"})
		if err != nil || len(pods.Items) == 0 {
			return false
		}
		pod = pods.Items[0].Name
		pvcs, err := c.Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pvcs.Items) == 3
	})

	kc, err := c.ServiceAccountKubeconfig(ns, "loglet-webhook")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(freeport.Addr(t))
	health := freeport.Addr(t)
	wh := exec.Command(loglet, "webhook", "--port", port, "--health-addr", health, "--metrics-addr", "127.0.0.1:0",
		"--cert-hosts", "127.0.0.1", "--image", sidecarImage, "--sink", "nats://127.0.0.1:4222/LOGLET")
	wh.Env = append(os.Environ(), "KUBECONFIG="+kc, "POD_NAMESPACE="+ns, "POD_NAME="+pod)
	logFile, err := os.Create(filepath.Join(c.Dir, "loglet-webhook.log"))
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
	stop := func() {
		wh.Process.Signal(syscall.SIGTERM)
		<-done
	}
	defer stop()
	defer func() {
		if t.Failed() {
			t.Logf("webhook log (end):\n%s", c.Logs("loglet-webhook"))
		}
	}()
	poll.OK(t, 30*time.Second, "the webhook to write its certificates and be ready", "http://"+health+"/readyz")
	if _, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "loglet-webhook-certs", metav1.GetOptions{}); err != nil {
		t.Fatalf("the webhook is ready without its Secret: %v", err)
	}
	if _, err := c.Client.CoordinationV1().Leases(ns).Get(ctx, "loglet-webhook-certs", metav1.GetOptions{}); err != nil {
		t.Fatalf("the webhook is ready without its Lease: %v", err)
	}
	stop()

	// helm uninstall: every object of the release, in the reverse of the
	// install order, deleted with background propagation.
	r, err := charts.Render(charts.Dir(), charts.ReleaseName, ns)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := charts.Objects(r.Manifests)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range slices.Backward(objs) {
		if err := cl.Delete(ctx, o, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("delete %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}

	crds, err := charts.Objects(r.CRDs)
	if err != nil {
		t.Fatal(err)
	}
	// Kept with each CRD: the APIService the API server registers for its
	// group and versions.
	keptCRDs := map[string]bool{}
	for _, crd := range crds {
		keptCRDs["customresourcedefinitions/"+crd.GetName()] = true
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for _, v := range versions {
			if m, ok := v.(map[string]any); ok {
				keptCRDs[fmt.Sprintf("apiservices/%v.%s", m["name"], group)] = true
			}
		}
	}
	var left []string
	defer func() {
		if t.Failed() {
			t.Logf("left in the cluster: %s", strings.Join(left, ", "))
		}
	}()
	poll.Until(t, 90*time.Second, "nothing of loglet's left in the cluster but its CRDs", func() bool {
		left = slices.DeleteFunc(leftovers(t, c, ns), func(o string) bool { return keptCRDs[o] })
		return len(left) == 0
	})
	for _, crd := range crds {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(crd), crd.DeepCopy()); err != nil {
			t.Errorf("CRD %s after the uninstall: %v; want it kept, as helm uninstall keeps it", crd.GetName(), err)
		}
	}
}

// leftovers lists every object in namespace ns, and every cluster-wide
// object named like loglet, except what Kubernetes itself puts in a new
// namespace.
func leftovers(t *testing.T, c *cluster.Cluster, ns string) []string {
	t.Helper()
	disc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := disc.ServerPreferredResources()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, res := range l.APIResources {
			if !slices.Contains(res.Verbs, "list") || res.Name == "events" || strings.Contains(res.Name, "/") {
				continue
			}
			ri := dyn.Resource(gv.WithResource(res.Name))
			var items []string
			if res.Namespaced {
				got, err := ri.Namespace(ns).List(context.Background(), metav1.ListOptions{})
				if err != nil {
					continue
				}
				for _, o := range got.Items {
					if kept(res.Name, o.GetName()) {
						continue
					}
					items = append(items, o.GetName())
				}
			} else {
				got, err := ri.List(context.Background(), metav1.ListOptions{})
				if err != nil {
					continue
				}
				for _, o := range got.Items {
					if strings.Contains(o.GetName(), "loglet") && o.GetName() != ns {
						items = append(items, o.GetName())
					}
				}
			}
			for _, name := range items {
				left = append(left, res.Name+"/"+name)
			}
		}
	}
	return left
}

// kept is what Kubernetes makes in every namespace.
func kept(resource, name string) bool {
	switch resource {
	case "serviceaccounts":
		return name == "default"
	case "configmaps":
		return name == "kube-root-ca.crt"
	}
	return false
}
