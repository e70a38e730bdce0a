// Package virtualnode is a virtual-kubelet provider that runs each
// container of a pod bound to its node as a local process: the virtual
// node of the end-to-end tests, standing in for EKS Fargate or ACK virtual
// nodes. It is test infrastructure. Each container's stdout and stderr go
// to CRI-format files laid out like a node's /var/log/pods, which the
// kubelet API (containerLogs, with follow) serves.
package virtualnode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Provider runs pods as processes.
type Provider struct {
	// LogDir is the node's /var/log/pods.
	LogDir string
	// Images maps an image to the program it runs when a container has no
	// command (the loglet image to the freshly built binary).
	Images map[string][]string
	// NodeIP is the pod and host IP reported.
	NodeIP string
	// Client makes service-account tokens and reads ConfigMaps for
	// configMap and projected volumes.
	Client kubernetes.Interface
	// HostPaths maps a hostPath volume's path to a folder on the machine
	// (the node's /var/log/pods to LogDir); other hostPaths get a folder of
	// their own under HostRoot.
	HostPaths map[string]string
	HostRoot  string
	// Env is given to every container, over its own: the API server's
	// address on this machine as KUBERNETES_SERVICE_HOST and _PORT (the
	// service's cluster IP the library sets leads nowhere here).
	Env []string
	// ConfigMapSync is how often configMap volumes are brought up to date
	// with their ConfigMaps (default 1 s; a kubelet takes up to a minute).
	ConfigMapSync time.Duration

	mu       sync.Mutex
	pods     map[string]*pod // namespace/name
	notify   func(*corev1.Pod)
	rotation LogRotation
	// notifying keeps status reports in the order they were taken: the
	// library keeps the last one it got, and a stale one arriving after a
	// newer one would undo it (a pod Running again after it Succeeded).
	notifying sync.Mutex
}

type pod struct {
	spec       *corev1.Pod
	volumes    map[string]string // volume name → folder, once set up
	volumeErr  string            // why the volumes are not set up yet
	containers map[string]*container
	started    time.Time
	// ctx ends when the pod is deleted (halt).
	ctx  context.Context
	halt context.CancelFunc
	done chan struct{} // closed when every container has ended
}

type container struct {
	spec     corev1.Container
	restarts int
	proc     *exec.Cmd
	running  bool
	// started: its startup probe succeeded, or it is not probed (only a
	// native sidecar's first run is: later, the pod waits for nothing).
	started bool
	exit    *corev1.ContainerStateTerminated
	startAt time.Time
}

func key(ns, name string) string { return ns + "/" + name }

// CreatePod accepts the pod and runs it in the background: its volumes
// are set up first, then its init containers in order (a native sidecar
// is waited for until its startup probe succeeds, not until it ends), then
// its containers. It never fails: the library marks a pod whose CreatePod
// failed as Failed when its restart policy is Never, where a kubelet keeps
// it Pending and retries.
func (p *Provider) CreatePod(_ context.Context, spec *corev1.Pod) error {
	pd := &pod{spec: spec.DeepCopy(), containers: map[string]*container{}, started: time.Now(), done: make(chan struct{})}
	pd.ctx, pd.halt = context.WithCancel(context.Background())
	p.mu.Lock()
	if p.pods == nil {
		p.pods = map[string]*pod{}
	}
	p.pods[key(spec.Namespace, spec.Name)] = pd
	p.mu.Unlock()
	go p.run(pd)
	return nil
}

// mountVolumes sets up the pod's volumes, retrying as the kubelet does
// while something they need is missing (the kube-root-ca.crt ConfigMap
// that kube-controller-manager publishes in a new namespace, say); the
// pod stays Pending with the reason meanwhile. It reports false when the
// pod was deleted first.
func (p *Provider) mountVolumes(pd *pod) bool {
	dir := filepath.Join(filepath.Dir(p.LogDir), "pod-volumes", string(pd.spec.UID))
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		vols, err := p.prepareVolumes(pd.ctx, pd.spec, dir)
		p.mu.Lock()
		pd.volumes, pd.volumeErr = vols, ""
		if err != nil {
			pd.volumeErr = fmt.Sprintf("MountVolume.SetUp failed: %v", err)
		}
		p.mu.Unlock()
		if err == nil {
			return true
		}
		p.changed(pd)
		select {
		case <-pd.ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

func (p *Provider) run(pd *pod) {
	defer close(pd.done)
	if !p.mountVolumes(pd) {
		return
	}
	go p.syncConfigMaps(pd)
	// Native sidecars stop once the regular containers have ended, as the
	// kubelet stops them (also on delete: after the containers exited).
	mainsDone := make(chan struct{})
	var sidecars, mains sync.WaitGroup
	defer sidecars.Wait()
	defer close(mainsDone)
	for _, c := range pd.spec.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Add(1)
			go func() { defer sidecars.Done(); p.keep(pd, c, true, nil, mainsDone) }()
			if !p.startup(pd, c) {
				return
			}
			continue
		}
		done := make(chan struct{})
		mains.Add(1)
		go func() { defer mains.Done(); p.keep(pd, c, false, done, pd.ctx.Done()) }()
		select {
		case <-done:
		case <-pd.ctx.Done():
		}
		mains.Wait()
		if ex := p.state(pd, c.Name); ex == nil || ex.ExitCode != 0 {
			return
		}
	}
	for _, c := range pd.spec.Spec.Containers {
		policy := pd.spec.Spec.RestartPolicy
		mains.Add(1)
		go func() {
			defer mains.Done()
			p.keep(pd, c, policy == corev1.RestartPolicyAlways || policy == "", nil, pd.ctx.Done())
		}()
	}
	mains.Wait()
}

// startup waits, as the kubelet does before it starts the next container
// of a pod, until a native sidecar's HTTP startup probe succeeds; after
// failureThreshold failures in a row the container is killed and restarts.
// It reports false when the pod was deleted first.
func (p *Provider) startup(pd *pod, spec corev1.Container) bool {
	if !probed(spec) {
		return true
	}
	probe := spec.StartupProbe
	port := probe.HTTPGet.Port.IntValue()
	for _, cp := range spec.Ports {
		if cp.Name == probe.HTTPGet.Port.String() {
			port = int(cp.ContainerPort)
		}
	}
	host := probe.HTTPGet.Host
	if host == "" {
		host = p.NodeIP // the pod's IP: pods share the machine's network here
	}
	url := fmt.Sprintf("http://%s/%s", net.JoinHostPort(host, strconv.Itoa(port)), strings.TrimPrefix(probe.HTTPGet.Path, "/"))
	period := time.Duration(max(probe.PeriodSeconds, 1)) * time.Second
	client := &http.Client{Timeout: time.Duration(max(probe.TimeoutSeconds, 1)) * time.Second}
	wait := time.Duration(probe.InitialDelaySeconds) * time.Second
	for failures := 0; ; {
		select {
		case <-pd.ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = period
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 400 {
				p.mu.Lock()
				if c := pd.containers[spec.Name]; c != nil {
					c.started = true
				}
				p.mu.Unlock()
				p.changed(pd)
				return true
			}
		}
		if failures++; failures >= int(max(probe.FailureThreshold, 1)) {
			failures = 0
			p.kill(pd, spec.Name)
		}
	}
}

// probed says whether a container's startup is probed here: a native
// sidecar's, with an HTTP startup probe. Other probes are not run.
func probed(spec corev1.Container) bool {
	return spec.RestartPolicy != nil && *spec.RestartPolicy == corev1.ContainerRestartPolicyAlways &&
		spec.StartupProbe != nil && spec.StartupProbe.HTTPGet != nil
}

func (p *Provider) state(pd *pod, name string) *corev1.ContainerStateTerminated {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := pd.containers[name]; c != nil {
		return c.exit
	}
	return nil
}

// keep runs a container until quit, restarting it as its policy says;
// first is closed when its first run ended.
func (p *Provider) keep(pd *pod, spec corev1.Container, always bool, first chan struct{}, quit <-chan struct{}) {
	onFailure := pd.spec.Spec.RestartPolicy == corev1.RestartPolicyOnFailure
	for restart := 0; ; restart++ {
		code := p.runOnce(pd, spec, restart, quit)
		if first != nil {
			close(first)
			first = nil
		}
		select {
		case <-quit:
			return
		default:
		}
		if !always && !(onFailure && code != 0) {
			return
		}
		select {
		case <-quit:
			return
		case <-time.After(time.Second):
		}
	}
}

// runOnce runs the container's process to its end and returns its exit code.
func (p *Provider) runOnce(pd *pod, spec corev1.Container, restart int, quit <-chan struct{}) int {
	argv := append(append([]string{}, spec.Command...), spec.Args...)
	if len(spec.Command) == 0 {
		argv = append(append([]string{}, p.Images[spec.Image]...), spec.Args...)
	}
	c := &container{spec: spec, restarts: restart, startAt: time.Now(), started: !probed(spec) || restart > 0}
	p.mu.Lock()
	pd.containers[spec.Name] = c
	p.mu.Unlock()
	logPath := p.logPath(pd.spec, spec.Name, restart)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil || len(argv) == 0 {
		return p.exited(pd, c, 128, fmt.Sprintf("cannot run: no command for image %q, or %v", spec.Image, err))
	}
	argv, err := mounted(argv, spec.VolumeMounts, pd.volumes)
	if err != nil {
		return p.exited(pd, c, 128, err.Error())
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return p.exited(pd, c, 128, err.Error())
	}
	w := &criWriter{f: logFile}
	defer func() {
		w.mu.Lock()
		w.f.Close() // the current file: rotation may have replaced logFile
		w.mu.Unlock()
	}()
	if r := p.logRotation(); r.MaxBytes > 0 {
		stopRotation := make(chan struct{})
		var rotating sync.WaitGroup
		rotating.Go(func() { w.rotate(logPath, r, stopRotation) })
		defer func() { close(stopRotation); rotating.Wait() }()
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env(p.Env, spec.Env)
	cmd.Dir = spec.WorkingDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return p.exited(pd, c, 128, err.Error())
	}
	p.mu.Lock()
	c.proc, c.running = cmd, true
	p.mu.Unlock()
	p.changed(pd)
	var copies sync.WaitGroup
	for stream, r := range map[string]io.Reader{"stdout": stdout, "stderr": stderr} {
		copies.Add(1)
		go func() { defer copies.Done(); w.copy(stream, r) }()
	}
	waited := make(chan struct{})
	go func() {
		select {
		case <-quit:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
			if g := pd.spec.Spec.TerminationGracePeriodSeconds; g != nil {
				grace = *g
			}
			select {
			case <-waited:
			case <-time.After(time.Duration(grace) * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		case <-waited:
		}
	}()
	copies.Wait()
	err = cmd.Wait()
	close(waited)
	code := 0
	if err != nil {
		code = 1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
			if code < 0 {
				code = 137
			}
		}
	}
	return p.exited(pd, c, code, "")
}

func (p *Provider) exited(pd *pod, c *container, code int, msg string) int {
	p.mu.Lock()
	c.running = false
	c.exit = &corev1.ContainerStateTerminated{ExitCode: int32(code), Message: msg, StartedAt: metav1.NewTime(c.startAt), FinishedAt: metav1.Now()}
	p.mu.Unlock()
	p.changed(pd)
	return code
}

// logPath is where the kubelet would keep the container's log.
func (p *Provider) logPath(spec *corev1.Pod, container string, restart int) string {
	return filepath.Join(p.LogDir, spec.Namespace+"_"+spec.Name+"_"+string(spec.UID), container, strconv.Itoa(restart)+".log")
}

// env is a container's environment: a PATH and HOME, the container's
// variables (the library resolved their downward-API references to values
// before CreatePod), then the node's, which win.
func env(node []string, vars []corev1.EnvVar) []string {
	out := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp"}
	for _, e := range vars {
		out = append(out, e.Name+"="+e.Value)
	}
	return append(out, node...)
}

// criWriter writes lines as the kubelet does: "<time> <stream> F|P <text>".
type criWriter struct {
	mu sync.Mutex
	f  *os.File
}

func (w *criWriter) copy(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, 16<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			tag, text := "P", line
			if line[len(line)-1] == '\n' {
				tag, text = "F", line[:len(line)-1]
			}
			w.mu.Lock()
			fmt.Fprintf(w.f, "%s %s %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), stream, tag, text)
			w.mu.Unlock()
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// UpdatePod accepts changes without acting on them.
func (p *Provider) UpdatePod(context.Context, *corev1.Pod) error { return nil }

// DeletePod stops the pod's processes: SIGTERM, SIGKILL after the grace
// period.
func (p *Provider) DeletePod(ctx context.Context, spec *corev1.Pod) error {
	p.mu.Lock()
	pd := p.pods[key(spec.Namespace, spec.Name)]
	p.mu.Unlock()
	if pd == nil {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, spec.Name)
	}
	pd.halt()
	<-pd.done
	p.mu.Lock()
	delete(p.pods, key(spec.Namespace, spec.Name))
	p.mu.Unlock()
	return nil
}

// GetPod returns the pod with its status.
func (p *Provider) GetPod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pd := p.pods[key(ns, name)]
	if pd == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name)
	}
	return p.withStatus(pd), nil
}

// GetPodStatus returns the pod's status.
func (p *Provider) GetPodStatus(ctx context.Context, ns, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods returns every pod.
func (p *Provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*corev1.Pod
	for _, pd := range p.pods {
		out = append(out, p.withStatus(pd))
	}
	return out, nil
}

// NotifyPods registers the callback status changes go to.
func (p *Provider) NotifyPods(_ context.Context, f func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = f
	p.mu.Unlock()
}

func (p *Provider) changed(pd *pod) {
	p.notifying.Lock()
	defer p.notifying.Unlock()
	p.mu.Lock()
	f, pod := p.notify, p.withStatus(pd)
	p.mu.Unlock()
	if f != nil {
		f(pod)
	}
}

// withStatus is the pod with the status of its processes (p.mu held).
func (p *Provider) withStatus(pd *pod) *corev1.Pod {
	pod := pd.spec.DeepCopy()
	st := corev1.PodStatus{Phase: corev1.PodPending, HostIP: p.NodeIP, PodIP: p.NodeIP, StartTime: &metav1.Time{Time: pd.started}}
	status := func(spec corev1.Container) (corev1.ContainerStatus, bool, bool) {
		cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, ImageID: spec.Image}
		c := pd.containers[spec.Name]
		if c == nil {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
			if pd.volumeErr != "" {
				cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: pd.volumeErr}
			}
			return cs, false, false
		}
		cs.RestartCount = int32(c.restarts)
		switch {
		case c.running:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.startAt)}
			started := c.started
			cs.Ready, cs.Started = started, &started
		case c.exit != nil:
			cs.State.Terminated = c.exit
		}
		if c.restarts > 0 {
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0}
		}
		return cs, c.running, c.exit != nil && !c.running
	}
	sidecarsRunning := false
	for _, c := range pd.spec.Spec.InitContainers {
		cs, r, _ := status(c)
		sidecarsRunning = sidecarsRunning || r && c.RestartPolicy != nil
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	running, ended, failed := 0, 0, false
	for _, c := range pd.spec.Spec.Containers {
		cs, r, e := status(c)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if r {
			running++
		}
		if e {
			ended++
			failed = failed || cs.State.Terminated.ExitCode != 0
		}
	}
	n := len(pd.spec.Spec.Containers)
	always := pd.spec.Spec.RestartPolicy == corev1.RestartPolicyAlways || pd.spec.Spec.RestartPolicy == ""
	switch {
	case sidecarsRunning && ended == n:
		st.Phase = corev1.PodRunning
	case ended == n && !always && failed:
		st.Phase = corev1.PodFailed
	case ended == n && !always:
		st.Phase = corev1.PodSucceeded
	case running+ended == n && running > 0 || running+ended == n && always:
		st.Phase = corev1.PodRunning
	}
	ready := corev1.ConditionFalse
	if running == n {
		ready = corev1.ConditionTrue
	}
	st.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.PodReady, Status: ready},
		{Type: corev1.ContainersReady, Status: ready},
	}
	pod.Status = st
	return pod
}

// GetContainerLogs serves a container's log as the kubelet does, from its
// current CRI file (not the rotated ones): lines after SinceTime, the last
// Tail of them, with their time when Timestamps is set, up to LimitBytes;
// with Follow, it waits for more until the container ends, and at a
// rotation does what the node's LogRotation.Mode says.
func (p *Provider) GetContainerLogs(ctx context.Context, ns, name, ctr string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	p.mu.Lock()
	pd := p.pods[key(ns, name)]
	var c *container
	if pd != nil {
		c = pd.containers[ctr]
	}
	p.mu.Unlock()
	if c == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods/log"}, name)
	}
	restart := c.restarts
	if opts.Previous {
		if restart == 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", ctr, name))
		}
		restart--
	}
	path := p.logPath(pd.spec, ctr, restart)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	mode := p.logRotation().Mode
	r, pw := io.Pipe()
	var w io.Writer = pw
	if opts.LimitBytes > 0 {
		w = &limitWriter{w: pw, n: opts.LimitBytes}
	}
	live := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		cur := pd.containers[ctr]
		return !opts.Previous && cur == c && c.running
	}
	go func() {
		err := serve(ctx, f, path, w, opts, mode, live)
		if errors.Is(err, errLimit) {
			err = nil
		}
		pw.CloseWithError(err)
	}()
	return r, nil
}

// serve copies CRI lines from f (the log file at path) to w in the
// kubelet's output format, and closes f.
func serve(ctx context.Context, f *os.File, path string, w io.Writer, opts api.ContainerLogOpts, mode RotationMode, live func() bool) error {
	defer func() { f.Close() }()
	br := bufio.NewReader(f)
	var pending []byte
	// With Tail, the lines up to the end of the file are kept, the last
	// Tail of them written once it is reached.
	var tail [][]byte
	tailing := opts.Tail > 0
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			if len(line) > 0 {
				// A line still being written: read it again whole.
				if _, serr := f.Seek(-int64(len(line)), io.SeekCurrent); serr != nil {
					return serr
				}
				br.Reset(f)
			}
			if tailing {
				tailing = false
				for _, out := range tail {
					if _, err := w.Write(out); err != nil {
						return err
					}
				}
			}
			if opts.Follow && len(line) == 0 && rotatedUnder(f, path) {
				// The rotated file is read to its end: the runtime writes
				// the new one.
				switch mode {
				case EndFollow:
					return nil
				case FollowNewFile:
					nf, err := os.Open(path)
					if err != nil {
						return err
					}
					f.Close()
					f = nf
					br.Reset(f)
					continue
				}
				// StallFollow: wait on the old file, which gets no more.
			}
			if !opts.Follow || !live() {
				// One more read: the last lines may have come after it ended.
				if opts.Follow {
					opts.Follow = false
					continue
				}
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return err
		}
		// <time> <stream> <tag> <text>\n
		fields := splitN(line[:len(line)-1], 4)
		if len(fields) < 3 {
			continue
		}
		t, perr := time.Parse(time.RFC3339Nano, string(fields[0]))
		if perr != nil || (!opts.SinceTime.IsZero() && t.Before(opts.SinceTime)) {
			continue
		}
		text := []byte{}
		if len(fields) == 4 {
			text = fields[3]
		}
		pending = append(pending, text...)
		if string(fields[2]) == "P" {
			continue
		}
		var out []byte
		if opts.Timestamps {
			out = append(out, fields[0]...)
			out = append(out, ' ')
		}
		out = append(append(out, pending...), '\n')
		pending = pending[:0]
		if tailing {
			if tail = append(tail, out); len(tail) > opts.Tail {
				tail = tail[1:]
			}
			continue
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
}

func splitN(b []byte, n int) [][]byte {
	var out [][]byte
	for len(out) < n-1 {
		i := indexByte(b, ' ')
		if i < 0 {
			break
		}
		out = append(out, b[:i])
		b = b[i+1:]
	}
	return append(out, b)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// RunInContainer is not supported.
func (p *Provider) RunInContainer(context.Context, string, string, string, []string, api.AttachIO) error {
	return fmt.Errorf("exec is not supported by the e2e virtual node")
}

// AttachToContainer is not supported.
func (p *Provider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return fmt.Errorf("attach is not supported by the e2e virtual node")
}

// PortForward is not supported.
func (p *Provider) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return fmt.Errorf("port-forward is not supported by the e2e virtual node")
}

// stopAll kills what still runs when the node goes away.
func (p *Provider) stopAll() {
	p.mu.Lock()
	pods := make([]*pod, 0, len(p.pods))
	for _, pd := range p.pods {
		pods = append(pods, pd)
	}
	p.mu.Unlock()
	for _, pd := range pods {
		pd.halt()
		<-pd.done
	}
}

// GetStatsSummary reports no stats.
func (p *Provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return &statsv1alpha1.Summary{}, nil
}

// GetMetricsResource reports no metrics.
func (p *Provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) { return nil, nil }

// Kill sends SIGKILL to a container's process, as a crash would; the
// container restarts as its policy says.
func (p *Provider) Kill(ns, pod, container string) error {
	p.mu.Lock()
	pd := p.pods[key(ns, pod)]
	p.mu.Unlock()
	if pd == nil {
		return fmt.Errorf("pod %s/%s is not on this node", ns, pod)
	}
	return p.kill(pd, container)
}

func (p *Provider) kill(pd *pod, container string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := pd.containers[container]
	if c == nil || !c.running {
		return fmt.Errorf("container %s of pod %s/%s is not running", container, pd.spec.Namespace, pd.spec.Name)
	}
	return syscall.Kill(-c.proc.Process.Pid, syscall.SIGKILL)
}

// VolumeDir is the folder of a pod's volume on the machine.
func (p *Provider) VolumeDir(pod *corev1.Pod, volume string) string {
	return filepath.Join(filepath.Dir(p.LogDir), "pod-volumes", string(pod.UID), "volumes", volume)
}
