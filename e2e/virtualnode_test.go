package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/e2e/cluster"
	"github.com/loglet/loglet/e2e/virtualnode"
	"github.com/loglet/loglet/internal/poll"
)

// startVirtualNode adds a virtual node to c and returns its provider.
func startVirtualNode(t *testing.T, c *cluster.Cluster, name string) *virtualnode.Provider {
	t.Helper()
	return startNode(t, c, name, false)
}

// startNode adds a node served by the process provider: tainted like a
// virtual node, or classic (untainted, its /var/log/pods the provider's
// log folder for hostPath volumes).
func startNode(t *testing.T, c *cluster.Cluster, name string, classic bool) *virtualnode.Provider {
	t.Helper()
	ip, err := virtualnode.MachineIP()
	if err != nil {
		t.Fatal(err)
	}
	cert, key, ca, err := c.NodeCert(name, ip)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	p := &virtualnode.Provider{LogDir: filepath.Join(root, "pods"), NodeIP: ip, Client: c.Client,
		HostPaths: map[string]string{"/var/log/pods": filepath.Join(root, "pods")}, HostRoot: filepath.Join(root, "host")}
	virtualnode.Start(t, virtualnode.Options{Name: name, Client: c.Client, IP: ip, CertFile: cert, KeyFile: key, CAFile: ca, Provider: p, Classic: classic})
	return p
}

// startShop starts a control plane with the virtual node virtual-1 and
// the namespace shop.
func startShop(t *testing.T) *cluster.Cluster {
	t.Helper()
	c := cluster.Start(t)
	startVirtualNode(t, c, "virtual-1")
	c.Namespace(t, "shop")
	return c
}

// TestVirtualNode: the scheduler binds a pod that tolerates the virtual
// node's taint to it, the provider runs its container as a process, and
// its output comes back through the API server's pods/log (follow).
func TestVirtualNode(t *testing.T) {
	c := startShop(t)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Tolerations:   []corev1.Toleration{virtualnode.Toleration},
			Containers: []corev1.Container{{Name: "app", Image: "example.com/hello:1",
				Command: []string{"sh", "-c", `for i in 1 2 3; do echo "hello $i from $POD"; done; sleep 1`},
				Env:     []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		},
	}
	if _, err := c.Client.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the pod to run on virtual-1", func() bool {
		p, err := c.Client.CoreV1().Pods("shop").Get(ctx, "hello", metav1.GetOptions{})
		return err == nil && p.Spec.NodeName == "virtual-1" && (p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded)
	})
	logs, err := c.Client.CoreV1().Pods("shop").GetLogs("hello", &corev1.PodLogOptions{Container: "app", Follow: true}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("pods/log: %v", err)
	}
	if want := "hello 1 from hello\nhello 2 from hello\nhello 3 from hello\n"; string(logs) != want {
		t.Errorf("pods/log: %q, want %q", logs, want)
	}
	poll.Until(t, 30*time.Second, "the pod to succeed", func() bool {
		p, err := c.Client.CoreV1().Pods("shop").Get(ctx, "hello", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodSucceeded
	})
	stamped, err := c.Client.CoreV1().Pods("shop").GetLogs("hello", &corev1.PodLogOptions{Container: "app", Timestamps: true}).DoRaw(ctx)
	if err != nil || !strings.Contains(string(stamped), "Z hello 1 from hello\n") {
		t.Errorf("pods/log with timestamps: %q, %v", stamped, err)
	}
}

// TestVirtualNodeVolumes: two containers of a pod share an emptyDir at
// their mount paths, a downward-API volume holds the pod's labels, the
// service-account token is mounted where client-go looks, and another pod
// does not see the first one's volume.
func TestVirtualNodeVolumes(t *testing.T) {
	c := startShop(t)
	ctx := context.Background()
	run := func(name, script string, mounts ...corev1.VolumeMount) corev1.Container {
		return corev1.Container{Name: name, Image: "example.com/sh:1", Command: []string{"sh", "-c", script}, VolumeMounts: mounts}
	}
	shared := corev1.VolumeMount{Name: "shared", MountPath: "/var/loglet-e2e/shared"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "vols", Labels: map[string]string{"app": "vols"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Tolerations:   []corev1.Toleration{virtualnode.Toleration},
			Volumes: []corev1.Volume{
				{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
			},
			Containers: []corev1.Container{
				run("writer", "echo from-writer > /var/loglet-e2e/shared/x; sleep 3", shared),
				run("reader", `until [ -s /var/loglet-e2e/shared/x ]; do sleep 0.1; done; cat /var/loglet-e2e/shared/x /var/loglet-e2e/info/labels; test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo token`,
					shared, corev1.VolumeMount{Name: "info", MountPath: "/var/loglet-e2e/info", ReadOnly: true}),
			},
		},
	}
	other := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "other"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Tolerations:   []corev1.Toleration{virtualnode.Toleration},
			Volumes:       []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers:    []corev1.Container{run("look", "sleep 1; ls /var/loglet-e2e/shared | wc -l", shared)},
		},
	}
	for _, p := range []*corev1.Pod{pod, other} {
		if _, err := c.Client.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"vols", "other"} {
		poll.Until(t, 30*time.Second, name+" to succeed", func() bool {
			p, err := c.Client.CoreV1().Pods("shop").Get(ctx, name, metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodSucceeded
		})
	}
	logs := func(pod, container string) string {
		b, err := c.Client.CoreV1().Pods("shop").GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
		if err != nil {
			t.Fatalf("logs of %s/%s: %v", pod, container, err)
		}
		return string(b)
	}
	if got, want := logs("vols", "reader"), "from-writer\napp=\"vols\"\ntoken\n"; got != want {
		t.Errorf("reader saw %q, want %q", got, want)
	}
	if got := logs("other", "look"); got != "0\n" {
		t.Errorf("another pod sees %q files in its own emptyDir, want 0", got)
	}
}

// TestVirtualNodeWaitsForVolumes: a pod whose volume needs a ConfigMap
// that does not exist yet stays Pending with the reason, as on a kubelet,
// and runs once the ConfigMap is there — even with restartPolicy Never,
// which the virtual-kubelet library turns into Failed when the provider
// refuses a pod (so a Job's pod created before the controller-manager
// published kube-root-ca.crt in its namespace would fail the Job).
func TestVirtualNodeWaitsForVolumes(t *testing.T) {
	c := startShop(t)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Tolerations:   []corev1.Toleration{virtualnode.Toleration},
			Volumes: []corev1.Volume{{Name: "settings", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Items: []corev1.KeyToPath{{Key: "level", Path: "level"}}}}}}}}},
			Containers: []corev1.Container{{Name: "app", Image: "example.com/sh:1", Command: []string{"cat", "/var/loglet-e2e/settings/level"},
				VolumeMounts: []corev1.VolumeMount{{Name: "settings", MountPath: "/var/loglet-e2e/settings", ReadOnly: true}}}},
		},
	}
	if _, err := c.Client.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var p *corev1.Pod
	poll.Until(t, 30*time.Second, "the pod to wait for its ConfigMap", func() bool {
		var err error
		p, err = c.Client.CoreV1().Pods("shop").Get(ctx, "settings", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodFailed {
			t.Fatalf("pod waiting for its ConfigMap failed: %s %s", p.Status.Reason, p.Status.Message)
		}
		if err != nil || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return false
		}
		return strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, `"settings" not found`)
	})
	if p.Status.Phase != corev1.PodPending {
		t.Fatalf("pod waiting for its ConfigMap is %s (%s), want Pending", p.Status.Phase, p.Status.Message)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"level": "debug\n"}}
	if _, err := c.Client.CoreV1().ConfigMaps("shop").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the pod to succeed once its ConfigMap exists", func() bool {
		p, err := c.Client.CoreV1().Pods("shop").Get(ctx, "settings", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodFailed {
			t.Fatalf("pod failed: %s %s", p.Status.Reason, p.Status.Message)
		}
		return err == nil && p.Status.Phase == corev1.PodSucceeded
	})
	b, err := c.Client.CoreV1().Pods("shop").GetLogs("settings", &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
	if err != nil || string(b) != "debug\n" {
		t.Errorf("the container read %q (%v) from its ConfigMap volume, want %q", b, err, "debug\n")
	}
}

// TestVirtualNodeConfigMapUpdates: an optional configMap volume whose
// ConfigMap does not exist yet lets the pod start (empty), and the
// container sees, through its read-only mount, the ConfigMap once it is
// created and again once it changes — as the kubelet updates a mounted
// ConfigMap, which the injected sidecar's rendered LogConfigs rely on.
// An env var from a Secret (secretKeyRef) holds the Secret's value.
func TestVirtualNodeConfigMapUpdates(t *testing.T) {
	c := startShop(t)
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sink"}, StringData: map[string]string{"url": "nats://hub.example:4222/LOGLET"}}
	if _, err := c.Client.CoreV1().Secrets("shop").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The app prints each new content of the file until it reads v2.
	script := `echo "sink=$SINK"; last=; while :; do cur=$(cat /var/loglet-e2e/conf/greeting 2>/dev/null); ` +
		`if [ "$cur" != "$last" ]; then echo "greeting=$cur"; last=$cur; fi; [ "$cur" = v2 ] && exit 0; sleep 0.1; done`
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "conf"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Tolerations:   []corev1.Toleration{virtualnode.Toleration},
			Volumes: []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "greeting"}, Optional: ptr.To(true)}}}},
			Containers: []corev1.Container{{Name: "app", Image: "example.com/sh:1", Command: []string{"sh", "-c", script},
				Env: []corev1.EnvVar{{Name: "SINK", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "sink"}, Key: "url"}}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "conf", MountPath: "/var/loglet-e2e/conf", ReadOnly: true}}}},
		},
	}
	if _, err := c.Client.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	logs := func() string {
		b, _ := c.Client.CoreV1().Pods("shop").GetLogs("conf", &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
		return string(b)
	}
	poll.Until(t, 30*time.Second, "the pod to run without its optional ConfigMap", func() bool {
		return strings.Contains(logs(), "sink=nats://hub.example:4222/LOGLET\n")
	})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "greeting"}, Data: map[string]string{"greeting": "v1"}}
	if _, err := c.Client.CoreV1().ConfigMaps("shop").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	poll.Until(t, 30*time.Second, "the container to see the ConfigMap created", func() bool { return strings.Contains(logs(), "greeting=v1\n") })
	created := time.Since(start)
	cm.Data["greeting"] = "v2"
	if _, err := c.Client.CoreV1().ConfigMaps("shop").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	poll.Until(t, 30*time.Second, "the pod to see the update and succeed", func() bool {
		p, err := c.Client.CoreV1().Pods("shop").Get(ctx, "conf", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodSucceeded
	})
	if got, want := logs(), "sink=nats://hub.example:4222/LOGLET\ngreeting=v1\ngreeting=v2\n"; got != want {
		t.Errorf("the container printed %q, want %q", got, want)
	}
	t.Logf("ConfigMap seen in the container %v after its creation, its update %v after", created.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
}
