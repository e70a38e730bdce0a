package webhook

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/loglet/loglet/charts"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/sidecar/config"
	"github.com/loglet/loglet/sidecar/modes"
)

// pushInputWant is what the node agent should be given for one input:
// its protocol ("" for files), where it listens, and where each of its
// files comes from on the node ("hostPath:/var/log/syslog",
// "secret:otlp-token/token"), read through the pod's mounts.
type pushInputWant struct {
	name, kind, network, address string
	files                        []string
	token, cert, key, clientCA   string
}

// portWant is a port the node agent's pod opens for a push input.
type portWant struct {
	name     string
	port     int32
	protocol corev1.Protocol
	hostPort bool
}

// TestChartNodePush renders the chart with host files and push inputs,
// loads the DaemonSet's LOGLET_CONFIG with the agent's own loader and
// wiring (mode node), and checks what a node agent would read and where it
// would listen: the pods' logs still read as the first input, the node's
// files through a read-only mount, the listeners on the pod's network
// with their secrets mounted, and the ports and Service that reach them.
func TestChartNodePush(t *testing.T) {
	pods := pushInputWant{name: "pods"}
	host := pushInputWant{name: "host", files: []string{"hostPath:/var/log/*.log", "hostPath:/var/log/syslog"}}
	for _, tc := range []struct {
		name   string
		set    []string
		inputs []pushInputWant // nil: no document inputs (the flags' default input)
		format string          // of the host input
		// podsFormat and podsRoute are the pods input's (default: raw, none).
		podsFormat, podsRoute string
		ports                 []portWant
		service               bool
	}{
		{name: "host files", set: []string{"nodeMode.hostFiles={/var/log/*.log,/var/log/syslog}"},
			inputs: []pushInputWant{pods, host}, format: "raw"},
		{name: "host files as syslog, with processors", set: []string{"nodeMode.hostFiles={/var/log/*.log,/var/log/syslog}",
			"nodeMode.hostFilesFormat=syslog", "nodeMode.processors[0].drop.match=GET /healthz"},
			inputs: []pushInputWant{pods, host}, format: "syslog"},
		{name: "otlp with a token", set: []string{"nodeMode.push.otlp.enabled=true", "nodeMode.push.otlp.tokenSecret.name=otlp-token"},
			inputs: []pushInputWant{pods, {name: "otlp", kind: config.PushHTTP, network: "tcp", address: "0.0.0.0:4318", token: "secret:otlp-token/token"}},
			ports:  []portWant{{"otlp", 4318, corev1.ProtocolTCP, false}}},
		{name: "every push input, TLS, hostPort and Service", set: []string{
			"nodeMode.hostFiles={/var/log/*.log,/var/log/syslog}",
			"nodeMode.push.syslog.enabled=true", "nodeMode.push.syslog.udp=true", "nodeMode.push.syslog.hostPort=true",
			"nodeMode.push.otlp.enabled=true", "nodeMode.push.otlp.port=14318", "nodeMode.push.otlp.tlsSecret=otlp-tls",
			"nodeMode.push.otlp.tokenSecret.name=otlp-token", "nodeMode.push.otlp.tokenSecret.key=bearer",
			"nodeMode.push.lumberjack.enabled=true", "nodeMode.push.lumberjack.hostPort=true", "nodeMode.push.lumberjack.tlsSecret=beats-tls",
			"nodeMode.push.lumberjack.clientCASecret.name=beats-ca",
			"nodeMode.push.service.enabled=true"},
			inputs: []pushInputWant{pods, host,
				{name: "syslog", kind: config.PushSyslog, network: "tcp", address: "0.0.0.0:5514"},
				{name: "syslog-udp", kind: config.PushSyslog, network: "udp", address: "0.0.0.0:5514"},
				{name: "otlp", kind: config.PushHTTP, network: "tcp", address: "0.0.0.0:14318", token: "secret:otlp-token/bearer",
					cert: "secret:otlp-tls/tls.crt", key: "secret:otlp-tls/tls.key"},
				{name: "lumberjack", kind: config.PushLumberjack, network: "tcp", address: "0.0.0.0:5044",
					cert: "secret:beats-tls/tls.crt", key: "secret:beats-tls/tls.key", clientCA: "secret:beats-ca/ca.crt"},
			},
			format: "raw",
			ports: []portWant{{"syslog", 5514, corev1.ProtocolTCP, true}, {"syslog-udp", 5514, corev1.ProtocolUDP, true},
				{"otlp", 14318, corev1.ProtocolTCP, false}, {"lumberjack", 5044, corev1.ProtocolTCP, true}},
			service: true},
		{name: "otlp with mTLS only", set: []string{"nodeMode.push.otlp.enabled=true", "nodeMode.push.otlp.tlsSecret=otlp-tls",
			"nodeMode.push.otlp.clientCASecret.name=senders-ca", "nodeMode.push.otlp.clientCASecret.key=ca.pem"},
			inputs: []pushInputWant{pods, {name: "otlp", kind: config.PushHTTP, network: "tcp", address: "0.0.0.0:4318",
				cert: "secret:otlp-tls/tls.crt", key: "secret:otlp-tls/tls.key", clientCA: "secret:senders-ca/ca.pem"}},
			ports: []portWant{{"otlp", 4318, corev1.ProtocolTCP, false}}},
		// The pods' input settings extraArgs gives move into the input
		// pods: the agent takes them only outside a document with inputs.
		{name: "extraArgs' input settings", set: []string{"nodeMode.push.syslog.enabled=true",
			"nodeMode.extraArgs={--format=json,--exclude-namespace=kube-system,--route=apps}"},
			inputs:     []pushInputWant{pods, {name: "syslog", kind: config.PushSyslog, network: "tcp", address: "0.0.0.0:5514"}},
			podsFormat: "json", podsRoute: "apps",
			ports: []portWant{{"syslog", 5514, corev1.ProtocolTCP, false}}},
		{name: "node mode as before", set: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := renderChart(t, append([]string{"nodeMode.enabled=true"}, tc.set...)...)
			ds := chartObject[appsv1.DaemonSet](t, objs, "DaemonSet", "loglet-node")
			spec := ds.Spec.Template.Spec
			c := spec.Containers[0]
			cfg := loadNodeAgent(t, c)

			if tc.inputs == nil {
				if len(cfg.Inputs) != 1 || cfg.Inputs[0].Name != config.DefaultInput || len(spec.Volumes) != 3 || len(c.Ports) != 1 {
					t.Errorf("node mode without host files or push inputs changed: inputs %+v, volumes %+v, ports %+v", cfg.Inputs, spec.Volumes, c.Ports)
				}
				return
			}
			var got []pushInputWant
			for _, in := range cfg.Inputs {
				w := pushInputWant{name: in.Name}
				for _, f := range in.Files {
					w.files = append(w.files, nodeSource(t, spec, c, f))
				}
				if kind, l := in.Push(); kind != "" {
					w.kind, w.network, w.address = kind, l.Network, l.Address
					for _, f := range []struct {
						file string
						dst  *string
					}{{l.TokenFile, &w.token}, {l.TLSCertFile, &w.cert}, {l.TLSKeyFile, &w.key}, {l.ClientCAFile, &w.clientCA}} {
						if f.file != "" {
							*f.dst = nodeSource(t, spec, c, f.file)
						}
					}
				}
				got = append(got, w)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.inputs) {
				t.Errorf("the agent's inputs:\n got %+v\nwant %+v", got, tc.inputs)
			}
			if tc.format != "" {
				i := slices.IndexFunc(cfg.Inputs, func(in config.Input) bool { return in.Name == "host" })
				if f := cfg.Inputs[i].Format; f != tc.format {
					t.Errorf("host input's format %q, want %q", f, tc.format)
				}
			}
			if f, r := cfg.Inputs[0].Format, cfg.Inputs[0].Route; f != cmp.Or(tc.podsFormat, "raw") || r != tc.podsRoute {
				t.Errorf("pods input: format %q, route %q; want %q, %q", f, r, cmp.Or(tc.podsFormat, "raw"), tc.podsRoute)
			}
			if slices.Contains(tc.set, "nodeMode.processors[0].drop.match=GET /healthz") &&
				(len(cfg.Processors) != 1 || cfg.Processors[0].Drop == nil || cfg.Inputs[1].Process == nil) {
				t.Errorf("the processors did not reach the agent with the inputs: %+v", cfg.Processors)
			}

			// The agent's own wiring: the node's pods are read as the
			// pods input, the node's files as host.
			cfg.Node.PodMetadata = false // no API server here
			wired, err := modes.Wire(cfg)
			if err != nil {
				t.Fatalf("the agent cannot wire what the chart gives it: %v", err)
			}
			choices := map[string]string{"/var/log/pods/shop_web-1_0a1b/app/0.log": "pods"}
			if slices.ContainsFunc(tc.inputs, func(in pushInputWant) bool { return in.name == "host" }) {
				choices["/host/var/log/syslog"] = "host"
			}
			for p, want := range choices {
				if ch := wired.Pipeline.Select(p); ch.Skip || ch.Input != want {
					t.Errorf("%s is read as input %q (skip %v), want %q", p, ch.Input, ch.Skip, want)
				}
			}

			var ports []portWant
			for _, p := range c.Ports {
				if p.Name != "metrics" {
					ports = append(ports, portWant{p.Name, p.ContainerPort, p.Protocol, p.HostPort != 0})
					if p.HostPort != 0 && p.HostPort != p.ContainerPort {
						t.Errorf("port %s: hostPort %d, want the container's %d", p.Name, p.HostPort, p.ContainerPort)
					}
				}
			}
			if fmt.Sprint(ports) != fmt.Sprint(tc.ports) {
				t.Errorf("container ports %v, want %v", ports, tc.ports)
			}

			svc := chartObjectOrNil[corev1.Service](t, objs, "Service", "loglet-node")
			switch {
			case !tc.service && svc != nil:
				t.Errorf("a Service is rendered without nodeMode.push.service.enabled")
			case tc.service && svc == nil:
				t.Errorf("no Service loglet-node rendered")
			case tc.service:
				if p := svc.Spec.InternalTrafficPolicy; p == nil || *p != corev1.ServiceInternalTrafficPolicyLocal {
					t.Errorf("Service internalTrafficPolicy %v, want Local: a pod reaches its own node's agent", p)
				}
				if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ds.Spec.Template.Labels)) {
					t.Errorf("Service selector %v does not select the agents %v", svc.Spec.Selector, ds.Spec.Template.Labels)
				}
				var sp []portWant
				for _, p := range svc.Spec.Ports {
					if p.TargetPort != intstr.FromString(p.Name) {
						t.Errorf("Service port %s targets %v, want the container's port of that name", p.Name, p.TargetPort)
					}
					sp = append(sp, portWant{p.Name, p.Port, p.Protocol, false})
				}
				var want []portWant
				for _, p := range tc.ports {
					want = append(want, portWant{p.name, p.port, p.protocol, false})
				}
				if fmt.Sprint(sp) != fmt.Sprint(want) {
					t.Errorf("Service ports %v, want %v", sp, want)
				}
			}
		})
	}
}

// TestChartNodePushRefused: values the agent would refuse, or that would
// read the pods' logs twice, fail the install with what to change.
func TestChartNodePushRefused(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want []string
	}{
		{[]string{"nodeMode.push.otlp.enabled=true"},
			[]string{"nodeMode.push.otlp", "tokenSecret", "clientCASecret"}},
		{[]string{"nodeMode.push.otlp.enabled=true", "nodeMode.push.otlp.tlsSecret=otlp-tls"},
			[]string{"nodeMode.push.otlp", "tokenSecret", "clientCASecret"}},
		{[]string{"nodeMode.push.otlp.enabled=true", "nodeMode.push.otlp.clientCASecret.name=ca"},
			[]string{"nodeMode.push.otlp.clientCASecret", "tlsSecret"}},
		{[]string{"nodeMode.push.lumberjack.enabled=true", "nodeMode.push.lumberjack.clientCASecret.name=ca"},
			[]string{"nodeMode.push.lumberjack.clientCASecret", "tlsSecret"}},
		{[]string{"nodeMode.push.otlp.enabled=true", "nodeMode.push.otlp.tokenSecret.key=token"},
			[]string{"nodeMode.push.otlp.tokenSecret.name"}},
		{[]string{"nodeMode.push.service.enabled=true"},
			[]string{"nodeMode.push.service", "syslog", "otlp", "lumberjack"}},
		{[]string{"nodeMode.push.syslog.enabled=true", "nodeMode.push.lumberjack.enabled=true", "nodeMode.push.lumberjack.port=5514"},
			[]string{"nodeMode.push.lumberjack.port", "5514", "syslog"}},
		{[]string{"nodeMode.push.syslog.enabled=true", "nodeMode.push.syslog.port=9745"},
			[]string{"nodeMode.push.syslog.port", "9745", "metrics"}},
		{[]string{"nodeMode.hostFiles={/etc/passwd}"}, []string{"/nodeMode/hostFiles/0", "/var/log/"}},
		{[]string{"nodeMode.hostFiles={/var/log/../../etc/shadow}"}, []string{"nodeMode.hostFiles", "/var/log/../../etc/shadow", ".."}},
		{[]string{"nodeMode.hostFiles={/var/log/./pods/*/*/*.log}"}, []string{"nodeMode.hostFiles", "/var/log/./pods/*/*/*.log", ".."}},
		{[]string{"nodeMode.hostFiles={/var/log//pods/*/*/*.log}"}, []string{"/nodeMode/hostFiles/0", "/var/log//pods/*/*/*.log"}},
		{[]string{"nodeMode.hostFiles={/var/log/pods/*/*/*.log}"}, []string{"nodeMode.hostFiles", "/var/log/pods", "twice"}},
		{[]string{"nodeMode.hostFiles={/var/log/containers/*.log}"}, []string{"nodeMode.hostFiles", "/var/log/containers", "twice"}},
		{[]string{"nodeMode.hostFiles={/var/log/**/*.log}"}, []string{"nodeMode.hostFiles", "/var/log/**/*.log", "twice"}},
		{[]string{"nodeMode.hostFiles={/var/log/*/*.log}"}, []string{"nodeMode.hostFiles", "/var/log/*/*.log", "twice"}},
		{[]string{"nodeMode.hostFiles={/var/log/syslog}", "nodeMode.extraArgs={--format,json}"},
			[]string{"nodeMode.extraArgs", "--format", "--format=VALUE"}},
		{[]string{"nodeMode.hostFiles={/var/log/syslog}", "nodeMode.extraArgs={--path=/var/log/app.log}"},
			[]string{"nodeMode.extraArgs", "--path", "nodeMode.hostFiles"}},
		{[]string{"nodeMode.hostFilesFormat=xml"}, []string{"/nodeMode/hostFilesFormat"}},
		{[]string{"nodeMode.push.otlp.tokenSecret=otlp-token"}, []string{"/nodeMode/push/otlp/tokenSecret", "object"}},
		{[]string{"nodeMode.push.syslog.hostport=true"}, []string{"/nodeMode/push/syslog", "'hostport' not allowed"}},
		{[]string{"nodeMode.push.syslog.tlsSecret=tls"}, []string{"/nodeMode/push/syslog", "'tlsSecret' not allowed"}},
		{[]string{"nodeMode.push.http.enabled=true"}, []string{"/nodeMode/push", "'http' not allowed"}},
		{[]string{"nodeMode.push.lumberjack.port=70000"}, []string{"/nodeMode/push/lumberjack/port", "65,535"}},
	} {
		t.Run(strings.Join(tc.set, ","), func(t *testing.T) {
			_, err := charts.Render(charts.Dir(), charts.ReleaseName, charts.ReleaseNamespace, append([]string{"nodeMode.enabled=true"}, tc.set...)...)
			if err == nil {
				t.Fatalf("%s rendered; want it refused", tc.set)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// chartNodePushAll turns on every host-file and push value.
var chartNodePushAll = []string{"nodeMode.enabled=true", "nodeMode.hostFiles={/var/log/*.log,/var/log/syslog}",
	"nodeMode.push.syslog.enabled=true", "nodeMode.push.syslog.udp=true", "nodeMode.push.syslog.hostPort=true",
	"nodeMode.push.otlp.enabled=true", "nodeMode.push.otlp.hostPort=true", "nodeMode.push.otlp.tokenSecret.name=otlp-token",
	"nodeMode.push.otlp.tlsSecret=otlp-tls", "nodeMode.push.otlp.clientCASecret.name=senders-ca",
	"nodeMode.push.lumberjack.enabled=true", "nodeMode.push.lumberjack.hostPort=true", "nodeMode.push.lumberjack.tlsSecret=beats-tls",
	"nodeMode.push.lumberjack.clientCASecret.name=senders-ca", "nodeMode.push.service.enabled=true"}

// TestChartNodePushDryRun applies what the chart renders with every push
// value on to a real kube-apiserver with server-side dry run: the API
// server's validation of the ports, volumes and Service.
func TestChartNodePushDryRun(t *testing.T) {
	_, restCfg := kubetest.Start(t)
	cl, err := client.New(restCfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: charts.ReleaseNamespace}}); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range renderChart(t, chartNodePushAll...) {
		if o.GetName() != "loglet-node" {
			continue
		}
		kinds[o.GetKind()]++
		if err := cl.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.DryRunAll, client.FieldOwner("helm"), client.ForceOwnership); err != nil {
			t.Errorf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	if kinds["DaemonSet"] != 1 || kinds["Service"] != 1 {
		t.Errorf("applied %v, want the DaemonSet and the Service loglet-node", kinds)
	}
}

// TestChartNodePushLint: helm lint passes with the new values on.
func TestChartNodePushLint(t *testing.T) {
	if err := charts.Lint(charts.Dir(), chartNodePushAll...); err != nil {
		t.Errorf("helm lint: %v", err)
	}
}

// renderChart renders the chart with the values set and decodes it.
func renderChart(t *testing.T, set ...string) []*unstructured.Unstructured {
	t.Helper()
	r, err := charts.Render(charts.Dir(), charts.ReleaseName, charts.ReleaseNamespace, set...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := charts.Objects(r.Manifests)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func chartObject[T any](t *testing.T, objs []*unstructured.Unstructured, kind, name string) *T {
	t.Helper()
	v := chartObjectOrNil[T](t, objs, kind, name)
	if v == nil {
		t.Fatalf("no %s %s rendered", kind, name)
	}
	return v
}

func chartObjectOrNil[T any](t *testing.T, objs []*unstructured.Unstructured, kind, name string) *T {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			var v T
			b, _ := yaml.Marshal(o.Object)
			if err := yaml.UnmarshalStrict(b, &v); err != nil {
				t.Fatalf("%s %s: %v", kind, name, err)
			}
			return &v
		}
	}
	return nil
}

// loadNodeAgent loads the agent container's configuration as `loglet
// agent` does: its args as flags, its env as the environment (values from
// the downward API and Secrets stand in).
func loadNodeAgent(t *testing.T, c corev1.Container) config.Agent {
	t.Helper()
	var environ []string
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			v = "node-1"
		}
		environ = append(environ, e.Name+"="+v)
	}
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	config.AgentFlags(fs)
	if err := fs.Parse(c.Args[1:]); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs, environ)
	if err != nil {
		t.Fatalf("the agent refuses what the chart gives it: %v", err)
	}
	return cfg
}

// nodeSource says where a path the agent opens comes from, through the
// container's mounts: "hostPath:/var/log/x" or "secret:name/key". Every
// such mount must be read-only.
func nodeSource(t *testing.T, spec corev1.PodSpec, c corev1.Container, p string) string {
	t.Helper()
	var m *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		if strings.HasPrefix(p, vm.MountPath+"/") && (m == nil || len(vm.MountPath) > len(m.MountPath)) {
			m = &c.VolumeMounts[i]
		}
	}
	if m == nil {
		t.Errorf("%s lies under none of the agent's mounts %+v", p, c.VolumeMounts)
		return "unmounted:" + p
	}
	if !m.ReadOnly {
		t.Errorf("%s: volume %s is mounted writable at %s; want readOnly", p, m.Name, m.MountPath)
	}
	rel := strings.TrimPrefix(p, m.MountPath+"/")
	i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
	if i < 0 {
		t.Fatalf("mount %s: no volume of that name", m.Name)
	}
	switch v := spec.Volumes[i]; {
	case v.HostPath != nil:
		return "hostPath:" + path.Join(v.HostPath.Path, rel)
	case v.Secret != nil:
		key := rel
		if len(v.Secret.Items) > 0 {
			j := slices.IndexFunc(v.Secret.Items, func(k corev1.KeyToPath) bool { return k.Path == rel })
			if j < 0 {
				return fmt.Sprintf("secret:%s without %s in its items %+v", v.Secret.SecretName, rel, v.Secret.Items)
			}
			key = v.Secret.Items[j].Key
		}
		return "secret:" + v.Secret.SecretName + "/" + key
	default:
		return fmt.Sprintf("volume %s: %+v", v.Name, v.VolumeSource)
	}
}

// TestChartNodePushNotes: the install's notes say where senders reach the
// push inputs and which host files are read.
func TestChartNodePushNotes(t *testing.T) {
	r, err := charts.Render(charts.Dir(), charts.ReleaseName, charts.ReleaseNamespace, chartNodePushAll...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/var/log/*.log, /var/log/syslog (the input host)",
		"syslog-udp: port 5514/UDP on each node's address, loglet-node.loglet-system.svc:5514",
		"otlp: port 4318/TCP on each node's address, loglet-node.loglet-system.svc:4318"} {
		if !strings.Contains(r.Notes, want) {
			t.Errorf("NOTES.txt does not say %q:\n%s", want, r.Notes)
		}
	}
}
