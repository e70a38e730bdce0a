//go:build !slim

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/loglet/loglet/charts"
	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/webhook"
)

// TestWebhookSelfCertificates installs the chart's RBAC and webhook
// configuration into a real kube-apiserver, runs two webhook replicas as
// processes with a token of the chart's ServiceAccount (so its RBAC is
// all they have), and lets certificates live ten seconds: the replicas
// rotate CA and serving certificate twice — the second time after the
// first writer stopped and the other took the Lease — while pods are
// created through the API all along. With the chart's failurePolicy
// Ignore, a TLS failure would admit a pod without the sidecar: none may be.
func TestWebhookSelfCertificates(t *testing.T) {
	_, restCfg := kubetest.Start(t)
	admin := kubernetes.NewForConfigOrDie(restCfg)
	ctx := context.Background()
	ns := charts.ReleaseNamespace
	kubetest.Namespaces(t, restCfg, ns, "shop")
	if err := charts.Apply(ctx, restCfg); err != nil {
		t.Fatal(err)
	}

	// No Service network here: the API server calls replica B directly.
	addrB := freeport.Addr(t)
	_, portB, _ := net.SplitHostPort(addrB)
	patch := fmt.Sprintf(`{"webhooks":[{"name":"pods.loglet.io","clientConfig":{"service":null,"url":"https://%s%s"}}]}`, addrB, webhook.Path)
	if _, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Patch(ctx, "loglet", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	kc := serviceAccountKubeconfig(t, restCfg, ns, "loglet-webhook")
	replica := func(name, port string) *agent {
		a := startWebhook(t, []string{"KUBECONFIG=" + kc, "POD_NAMESPACE=" + ns, "POD_NAME=" + name},
			"--port", port, "--cert-lifetime", "10s", "--cert-secret", "loglet-webhook-certs", "--webhook-config-name", "loglet",
			"--service-name", "loglet-webhook", "--cert-hosts", "127.0.0.1")
		return a
	}
	_, portA, _ := net.SplitHostPort(freeport.Addr(t))
	a := replica("webhook-a", portA)
	secret, err := admin.CoreV1().Secrets(ns).Get(ctx, "loglet-webhook-certs", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("replica A is ready but wrote no Secret: %v", err)
	}
	if len(secret.Data["ca.crt"]) == 0 || len(secret.Data["tls.crt"]) == 0 {
		t.Fatalf("Secret holds %v; want ca.crt, tls.crt and more", keysOf(secret.Data))
	}
	mwc, err := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "loglet", metav1.GetOptions{})
	if err != nil || !bytes.Contains(mwc.Webhooks[0].ClientConfig.CABundle, secret.Data["ca.crt"]) {
		t.Fatalf("caBundle not published: %v", err)
	}
	replica("webhook-b", portB)

	// Pods through the API, one every 50 ms, for the whole test.
	var mu sync.Mutex
	created, unmutated := 0, []string{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl, _ := client.New(restCfg, client.Options{})
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: "shop", Annotations: map[string]string{webhook.AnnotationInject: "true", webhook.AnnotationStdout: "wrap"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/example/web:1.4.2", Command: []string{"/web"}}}},
			}
			err := cl.Create(ctx, p)
			mu.Lock()
			created++
			if err != nil || p.Annotations[webhook.AnnotationStatus] != "injected" {
				unmutated = append(unmutated, fmt.Sprintf("%s (%v)", p.Name, err))
			}
			mu.Unlock()
		}
	}()

	// Distinct CAs in the Secret and certificates served by B.
	cas, served := map[string]bool{}, map[string]bool{}
	watch := func() {
		if s, err := admin.CoreV1().Secrets(ns).Get(ctx, "loglet-webhook-certs", metav1.GetOptions{}); err == nil {
			cas[string(s.Data["ca.crt"])] = true
		}
		if c, err := tls.Dial("tcp", addrB, &tls.Config{InsecureSkipVerify: true}); err == nil {
			served[c.ConnectionState().PeerCertificates[0].SerialNumber.String()] = true
			c.Close()
		}
	}
	poll.Until(t, 30*time.Second, "a CA change and replica B serving the new certificate", func() bool {
		watch()
		return len(cas) >= 2 && len(served) >= 2
	})
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("replica A exited %d on SIGTERM", code)
	}
	// Leader election is client-go's, which logs through klog: its lines
	// come as the webhook's own JSON, not klog text (issue 25).
	for _, line := range strings.Split(strings.TrimSpace(a.stderr.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("replica A logged a line that is not JSON: %q", line)
		}
	}
	poll.Until(t, 30*time.Second, "replica B to take the Lease", func() bool {
		l, err := admin.CoordinationV1().Leases(ns).Get(ctx, "loglet-webhook-certs", metav1.GetOptions{})
		return err == nil && ptr.Deref(l.Spec.HolderIdentity, "") == "webhook-b"
	})
	poll.Until(t, 30*time.Second, "a second CA change, written by B, and served", func() bool {
		watch()
		return len(cas) >= 3 && len(served) >= 3
	})
	close(stop)
	<-done

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d pods created during two rotations and a change of writer; %d CAs, %d serving certificates seen at replica B; not injected: %d",
		created, len(cas), len(served), len(unmutated))
	if len(unmutated) > 0 {
		t.Errorf("pods admitted without the sidecar: %v", unmutated)
	}
	if n := failOpen(t, admin); n != "" {
		t.Errorf("the API server counted webhook failures it ignored: %s", n)
	}

	t.Run("RBAC: the chart's account cannot read other Secrets", func(t *testing.T) {
		cfg, err := clientcmd.BuildConfigFromFlags("", kc)
		if err != nil {
			t.Fatal(err)
		}
		sa := kubernetes.NewForConfigOrDie(cfg)
		if _, err := sa.CoreV1().Secrets(ns).Get(ctx, "loglet-webhook-certs", metav1.GetOptions{}); err != nil {
			t.Errorf("its own Secret: %v", err)
		}
		admin.CoreV1().Secrets("shop").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}}, metav1.CreateOptions{})
		for what, err := range map[string]error{
			"get a Secret in another namespace": get(sa.CoreV1().Secrets("shop").Get(ctx, "db", metav1.GetOptions{})),
			"list Secrets in another namespace": get(sa.CoreV1().Secrets("shop").List(ctx, metav1.ListOptions{})),
			"list Secrets in its own namespace": get(sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})),
			// The LogConfig controller reads pods; it never changes one.
			"delete a pod":                       sa.CoreV1().Pods("shop").Delete(ctx, "web", metav1.DeleteOptions{}),
			"read another ConfigMap":             get(sa.CoreV1().ConfigMaps("shop").Get(ctx, "app-config", metav1.GetOptions{})),
			"patch another webhook registration": get(sa.AdmissionregistrationV1().MutatingWebhookConfigurations().Patch(ctx, "other", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})),
		} {
			if !apierrors.IsForbidden(err) {
				t.Errorf("%s: %v, want forbidden", what, err)
			}
		}
	})
}

func get(_ any, err error) error { return err }

// serviceAccountKubeconfig writes a kubeconfig with a token of the account.
func serviceAccountKubeconfig(t *testing.T, restCfg *rest.Config, ns, name string) string {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(kubetest.TokenFiles(t, restCfg, ns, name), "token"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: restCfg.Host, CertificateAuthorityData: restCfg.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: string(tok)}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: name}
	cfg.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// failOpen returns the API server's count of ignored failures of our
// webhook (apiserver_admission_webhook_fail_open_count), "" if none.
func failOpen(t *testing.T, admin kubernetes.Interface) string {
	t.Helper()
	raw, err := admin.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "apiserver_admission_webhook_fail_open_count") && strings.Contains(l, "pods.loglet.io") && !strings.HasSuffix(l, " 0") {
			return l
		}
	}
	return ""
}

// startWebhook runs `loglet webhook` and waits until it is ready.
func startWebhook(t *testing.T, env []string, args ...string) *agent {
	t.Helper()
	health := freeport.Addr(t)
	a := start(t, env, append([]string{"webhook", "--metrics-addr", "127.0.0.1:0", "--health-addr", health}, args...)...)
	poll.Until(t, 30*time.Second, "the webhook to be ready", func() bool {
		select {
		case <-a.done:
			t.Fatalf("webhook exited: %s", lastLines(a.stderr.String(), 20))
		default:
		}
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return a
}
