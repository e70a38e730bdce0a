package virtualnode

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"

	"github.com/loglet/loglet/internal/freeport"
)

// Taint keeps pods off the virtual node unless they tolerate it, as on
// EKS Fargate or ACK virtual nodes.
var Taint = corev1.Taint{Key: "virtual-kubelet.io/provider", Value: "loglet-e2e", Effect: corev1.TaintEffectNoSchedule}

// Toleration lets a pod onto the virtual node.
var Toleration = corev1.Toleration{Key: Taint.Key, Operator: corev1.TolerationOpEqual, Value: Taint.Value, Effect: Taint.Effect}

// Options describe a virtual node.
type Options struct {
	Name string
	// Client acts for the node (the library's informers list Secrets,
	// ConfigMaps and Services cluster-wide, more than the Node authorizer
	// allows: tests give it an admin client).
	Client kubernetes.Interface
	// IP is the node's InternalIP (a non-loopback address of the machine:
	// the API server refuses loopback node addresses for proxying).
	IP string
	// CertFile and KeyFile are its serving certificate, for IP; CAFile
	// the CA whose client certificates (the API server's) it accepts.
	CertFile, KeyFile, CAFile string
	Provider                  *Provider
	// Classic leaves the node untainted: a stand-in for a classic node
	// (with a /var/log/pods, see Provider.HostPaths) where DaemonSets run.
	Classic bool
}

// Start registers the node and serves pods bound to it until the test
// ends.
func Start(t testing.TB, o Options) {
	t.Helper()
	_, p, _ := net.SplitHostPort(freeport.Addr(t))
	port, _ := strconv.Atoi(p)
	mux := http.NewServeMux()
	n, err := nodeutil.NewNode(o.Name,
		func(nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
			return o.Provider, node.NaiveNodeProvider{}, nil
		},
		nodeutil.WithClient(o.Client),
		nodeutil.AttachProviderRoutes(mux),
		nodeutil.WithTLSConfig(nodeutil.WithKeyPairFromPath(o.CertFile, o.KeyFile), nodeutil.WithCAFromPath(o.CAFile)),
		func(cfg *nodeutil.NodeConfig) error {
			cfg.HTTPListenAddr = net.JoinHostPort(o.IP, strconv.Itoa(port))
			cfg.Handler = nodeutil.WithAuth(nodeutil.NoAuth(), mux)
			cfg.NumWorkers = 4
			spec := &cfg.NodeSpec
			if !o.Classic {
				spec.Spec.Taints = []corev1.Taint{Taint}
			}
			spec.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: o.IP}, {Type: corev1.NodeHostName, Address: o.Name}}
			spec.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
			spec.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: mustQ("16"), corev1.ResourceMemory: mustQ("64Gi"), corev1.ResourcePods: mustQ("500")}
			spec.Status.Allocatable = spec.Status.Capacity
			spec.Status.NodeInfo.KubeletVersion = "v1.37.2"
			spec.Status.NodeInfo.OperatingSystem, spec.Status.NodeInfo.Architecture = "linux", "amd64"
			return nil
		},
	)
	if err != nil {
		t.Fatalf("virtual node: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go n.Run(ctx)
	t.Cleanup(func() {
		cancel()
		select {
		case <-n.Done():
		case <-time.After(30 * time.Second):
		}
		o.Provider.stopAll()
	})
	if err := n.WaitReady(ctx, time.Minute); err != nil {
		t.Fatalf("virtual node %s not ready: %v", o.Name, err)
	}
}

// MachineIP is a non-loopback IPv4 address of this machine.
func MachineIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "", fmt.Errorf("no non-loopback IPv4 address: the API server cannot reach a node on loopback")
}

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }
