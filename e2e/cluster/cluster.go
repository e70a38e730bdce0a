// Package cluster runs a real Kubernetes control plane on loopback for the
// end-to-end tests: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler as processes (built by hack/control-plane.sh full), with
// certificates made for the run. It is test infrastructure.
package cluster

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/testpki"

	corev1 "k8s.io/api/core/v1"

	"github.com/loglet/loglet/internal/poll"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Cluster is a running control plane.
type Cluster struct {
	// Dir holds the certificates, kubeconfigs and etcd's data.
	Dir string
	// Config and Client act as a cluster admin (system:masters).
	Config *rest.Config
	Client kubernetes.Interface
	// Server is the API server's URL.
	Server string

	pki   *testpki.PKI
	procs []*process
}

type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// Start starts the control plane; it stops, leaving no process behind,
// when the test ends. Its components log into <Dir>/<component>.log.
func Start(t testing.TB) *Cluster {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make e2e`, or export KUBEBUILDER_ASSETS=$(hack/control-plane.sh full)")
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			t.Fatalf("%s: %v (build it with hack/control-plane.sh full)", b, err)
		}
	}
	c := &Cluster{Dir: t.TempDir()}
	t.Cleanup(func() { c.stop(t) })
	if err := c.start(assets); err != nil {
		t.Fatalf("control plane: %v", err)
	}
	return c
}

func (c *Cluster) start(assets string) error {
	p, err := testpki.New(c.Dir)
	if err != nil {
		return err
	}
	c.pki = p
	if err := p.ServiceAccountKey(); err != nil {
		return err
	}
	for _, cert := range []struct {
		name  string
		subj  pkix.Name
		hosts []string
	}{
		{"apiserver", pkix.Name{CommonName: "kube-apiserver"}, []string{"127.0.0.1", "localhost", "10.0.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}},
		{"admin", pkix.Name{CommonName: "e2e-admin", Organization: []string{"system:masters"}}, nil},
		{"apiserver-kubelet-client", pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}}, nil},
		{"controller-manager", pkix.Name{CommonName: "system:kube-controller-manager"}, nil},
		{"scheduler", pkix.Name{CommonName: "system:kube-scheduler"}, nil},
	} {
		if err := p.Issue(cert.name, cert.subj, cert.hosts...); err != nil {
			return err
		}
	}
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	etcdPort, etcdPeer, apiPort, cmPort, schedPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	etcdURL := "http://127.0.0.1:" + etcdPort
	if err := c.run(filepath.Join(assets, "etcd"), "etcd",
		"--data-dir", filepath.Join(c.Dir, "etcd"), "--unsafe-no-fsync",
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:"+etcdPeer, "--initial-advertise-peer-urls", "http://127.0.0.1:"+etcdPeer,
		"--initial-cluster", "default=http://127.0.0.1:"+etcdPeer); err != nil {
		return err
	}
	c.Server = "https://127.0.0.1:" + apiPort
	if err := c.run(filepath.Join(assets, "kube-apiserver"), "kube-apiserver",
		"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--secure-port", apiPort,
		"--tls-cert-file", p.Path("apiserver.crt"), "--tls-private-key-file", p.Path("apiserver.key"),
		"--client-ca-file", p.Path("ca.crt"),
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", p.Path("sa.pub"),
		"--service-account-signing-key-file", p.Path("sa.key"), "--service-cluster-ip-range", "10.0.0.0/24",
		"--authorization-mode", "Node,RBAC", "--allow-privileged=true",
		"--kubelet-client-certificate", p.Path("apiserver-kubelet-client.crt"), "--kubelet-client-key", p.Path("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types", "InternalIP,Hostname"); err != nil {
		return err
	}
	admin, err := c.kubeconfig("admin")
	if err != nil {
		return err
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", admin); err != nil {
		return err
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return err
	}
	if err := c.waitReady(); err != nil {
		return err
	}
	cm, err := c.kubeconfig("controller-manager")
	if err != nil {
		return err
	}
	if err := c.run(filepath.Join(assets, "kube-controller-manager"), "kube-controller-manager",
		"--kubeconfig", cm, "--authentication-kubeconfig", cm, "--authorization-kubeconfig", cm,
		"--use-service-account-credentials=true", "--service-account-private-key-file", p.Path("sa.key"),
		"--root-ca-file", p.Path("ca.crt"), "--cluster-signing-cert-file", p.Path("ca.crt"), "--cluster-signing-key-file", p.Path("ca.key"),
		"--controllers=*", "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", cmPort); err != nil {
		return err
	}
	sched, err := c.kubeconfig("scheduler")
	if err != nil {
		return err
	}
	return c.run(filepath.Join(assets, "kube-scheduler"), "kube-scheduler",
		"--kubeconfig", sched, "--authentication-kubeconfig", sched, "--authorization-kubeconfig", sched,
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", schedPort)
}

// run starts a component; its output goes to <Dir>/<name>.log.
func (c *Cluster) run(bin, name string, args ...string) error {
	log, err := os.Create(filepath.Join(c.Dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Killed with the test binary, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), log: log}
	go func() { cmd.Wait(); close(p.done) }()
	c.procs = append(c.procs, p)
	return nil
}

// Logs returns the last bytes of a component's log, for failure messages.
func (c *Cluster) Logs(name string) string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, name+".log"))
	return string(b[max(0, len(b)-4000):])
}

func (c *Cluster) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		for _, p := range c.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited: %s", p.name, c.Logs(p.name))
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready within a minute (%v): %s", err, c.Logs("kube-apiserver"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// kubeconfig writes <name>.kubeconfig for the client certificate <name>.
func (c *Cluster) kubeconfig(name string) (string, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthority: c.pki.Path("ca.crt")}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificate: c.pki.Path(name + ".crt"), ClientKey: c.pki.Path(name + ".key")}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: name}
	cfg.CurrentContext = "e2e"
	path := filepath.Join(c.Dir, name+".kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// stop ends the components, newest first: SIGTERM, then SIGKILL.
func (c *Cluster) stop(t testing.TB) {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		p.log.Close()
		if t.Failed() {
			t.Logf("%s log (end):\n%s", p.name, c.Logs(p.name))
		}
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		out = append(out, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	return out, nil
}

// NodeCert writes a serving certificate for a node at ip, signed by the
// cluster's CA, and returns its files and the CA's (whose client
// certificates, the API server's among them, the node accepts).
func (c *Cluster) NodeCert(name, ip string) (cert, key, ca string, err error) {
	if err := c.pki.Issue("node-"+name, pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}}, ip, name); err != nil {
		return "", "", "", err
	}
	return c.pki.Path("node-" + name + ".crt"), c.pki.Path("node-" + name + ".key"), c.pki.Path("ca.crt"), nil
}

// ServiceAccountKubeconfig writes a kubeconfig with a token of the
// account ns/name, for a component that must run with that account's
// rights only.
func (c *Cluster) ServiceAccountKubeconfig(ns, name string) (string, error) {
	tok, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s/%s: %w", ns, name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthority: c.pki.Path("ca.crt")}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: name}
	cfg.CurrentContext = "e2e"
	path := filepath.Join(c.Dir, ns+"-"+name+".kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// Namespace creates a namespace and waits for the controller-manager to
// give it its default ServiceAccount, which pods need.
func (c *Cluster) Namespace(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "namespace "+name+"'s default ServiceAccount (from kube-controller-manager)", func() bool {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
}
