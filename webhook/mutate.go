package webhook

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/logconfig"
)

// Folders inside the sidecar (DESIGN.md, the pod contract).
const (
	sidecarRoot = "/var/loglet"
	stateDir    = sidecarRoot + "/state"
	podinfoDir  = sidecarRoot + "/podinfo"
)

// Mutate returns pod with loglet injected as req asks, and warnings for the
// user. It is a pure function: the webhook and `loglet inject` share it.
func Mutate(pod *corev1.Pod, req Request, cfg Config) (*corev1.Pod, []string, error) {
	mode, err := stdoutMode(pod, req)
	if err != nil {
		return nil, nil, err
	}
	req.Stdout = mode
	out := pod.DeepCopy()
	taken := func(name string) bool { return hasVolume(out, name) }
	dataVol, infoVol, lcVol := unique("data", taken), unique("podinfo", taken), unique("logconfig", taken)
	var warnings []string

	// Mount the shared volume where each container writes its log files.
	var globs []string
	dirs := map[string]map[string]int{} // container → folder → index
	share := func(c *corev1.Container, dir string) int {
		if dirs[c.Name] == nil {
			dirs[c.Name] = map[string]int{}
		}
		k := len(dirs[c.Name])
		dirs[c.Name][dir] = k
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: dataVol, MountPath: dir, SubPath: subPath(c.Name, k)})
		return k
	}
	for _, p := range req.Paths {
		k, seen := dirs[p.Container][p.Dir]
		if !seen {
			c := container(out, p.Container)
			if m := mountAt(c, p.Dir); m != nil {
				return nil, nil, &InvalidError{AnnotationPaths, pod.Annotations[AnnotationPaths],
					fmt.Sprintf("container %s already mounts volume %s at %s; log to a folder of its own", c.Name, m.Name, p.Dir), "app:/var/log/app/*.log"}
			}
			k = share(c, p.Dir)
		}
		globs = append(globs, path.Join(sidecarRoot, subPath(p.Container, k), p.Pattern))
	}
	// Then the folders the LogConfigs' files need; one a path of the
	// annotation shares already is mounted once. A folder the container
	// mounts a volume of its own at cannot be shared: the pod is still
	// admitted (a platform team's config must not stop an app's rollout),
	// with a warning, and the files there are not read.
	names := appContainers(out)
	folders := logconfig.Folders(req.LogConfigs, names)
	for _, name := range names {
		for _, dir := range folders[name] {
			if _, seen := dirs[name][dir]; seen {
				continue
			}
			c := container(out, name)
			if m := mountAt(c, dir); m != nil {
				warnings = append(warnings, fmt.Sprintf("container %s already mounts volume %s at %s, so the loglet sidecar cannot share that folder: the LogConfigs' files there are not read; log to a folder of its own", name, m.Name, dir))
				continue
			}
			share(c, dir)
		}
	}
	mounts := logconfig.Mounts{}
	for c, m := range dirs {
		mounts[c] = map[string]string{}
		for dir, k := range m {
			mounts[c][dir] = subPath(c, k)
		}
	}
	lc := logConfigPart{mounts: mounts, volume: lcVol}
	lc.inputs, lc.sink, err = logConfigInputs(req.LogConfigs, names, mounts, &warnings)
	if err != nil {
		return nil, nil, err
	}

	if mode == "wrap" {
		if err := addWrap(out, cfg, dataVol); err != nil {
			return nil, nil, err
		}
	}
	// An app finds its sidecar's push inputs through the variables its
	// SDK reads; one it set itself is kept.
	for _, name := range req.Inputs {
		env := PushInputs[name].Env
		if env.Name == "" {
			continue
		}
		for i := range out.Spec.Containers {
			c := &out.Spec.Containers[i]
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == env.Name }) {
				c.Env = append(c.Env, env)
			}
		}
	}
	sc, more, err := sidecar(out, req, cfg, globs, dataVol, infoVol, lc)
	if err != nil {
		return nil, nil, err
	}
	warnings = append(warnings, more...)
	if mode == "api" {
		warnings = append(warnings, mountToken(out, &sc)...)
	}
	if cfg.HubSecret != "" {
		mountHubSecret(out, &sc, cfg.HubSecret, unique("hub", taken))
	}
	if cfg.NativeSidecar {
		always := corev1.ContainerRestartPolicyAlways
		sc.RestartPolicy = &always
		out.Spec.InitContainers = append([]corev1.Container{sc}, out.Spec.InitContainers...)
	} else {
		out.Spec.Containers = append(out.Spec.Containers, sc)
	}
	out.Spec.Volumes = append(out.Spec.Volumes,
		corev1.Volume{Name: dataVol, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: cfg.SizeLimit}}},
		corev1.Volume{Name: infoVol, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
		}}}},
		// Every injected pod mounts its namespace's rendered LogConfigs,
		// optional: a LogConfig created after the pod reaches its sidecar
		// without a restart, and a namespace without one starts fine.
		corev1.Volume{Name: lcVol, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: logconfig.ConfigMapName}, Optional: ptr.To(true),
		}}},
	)
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[AnnotationStatus] = "injected"
	return out, warnings, nil
}

// logConfigPart is what the LogConfigs add to the sidecar: their inputs
// as document entries, the folders shared per container, the sink's
// Secret (nil: the cluster's), and the ConfigMap volume's name.
type logConfigPart struct {
	inputs []map[string]any
	mounts logconfig.Mounts
	sink   *v1alpha1.SinkRef
	volume string
}

// logConfigInputs are the inputs entries (selecting the pod) give its
// sidecar, as configuration-document entries with their files on the
// sidecar's volume; an input reading stdout reads the copies of its
// containers' stdout. The sink is the first config's that has one; a
// later config naming another is warned about.
func logConfigInputs(entries []logconfig.Entry, containers []string, mounts logconfig.Mounts, warnings *[]string) ([]map[string]any, *v1alpha1.SinkRef, error) {
	var out []map[string]any
	for _, pi := range logconfig.PodInputs(entries, containers, mounts, sidecarRoot) {
		files := slices.Clone(pi.Input.Files)
		for _, c := range pi.Stdout {
			files = append(files, path.Join(sidecarRoot, "stdout", c, "*.log"))
		}
		if len(pi.Unshared) > 0 {
			*warnings = append(*warnings, fmt.Sprintf("input %s: %s not shared with the loglet sidecar, so not read", pi.Name, strings.Join(pi.Unshared, ", ")))
		}
		if len(files) == 0 {
			continue
		}
		m, err := logconfig.Document(pi.Input)
		if err != nil {
			return nil, nil, fmt.Errorf("input %s: %w", pi.Name, err)
		}
		m["files"] = files
		out = append(out, m)
	}
	var sink *v1alpha1.SinkRef
	from := ""
	for _, e := range entries {
		if e.Sink == nil {
			continue
		}
		s := *e.Sink
		if s.Key == "" {
			s.Key = defaultSinkKey
		}
		switch {
		case sink == nil:
			sink, from = &s, e.Kind+" "+e.Name
		case s != *sink:
			*warnings = append(*warnings, fmt.Sprintf("%s %s names sink Secret %s key %s, %s names Secret %s key %s: the sidecar ships to the first, %s's",
				e.Kind, e.Name, s.SecretName, s.Key, from, sink.SecretName, sink.Key, from))
		}
	}
	return out, sink, nil
}

// defaultSinkKey is the Secret key of a sink reference that names none.
const defaultSinkKey = "sink"

// mountAt is c's mount at dir, or nil.
func mountAt(c *corev1.Container, dir string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == dir {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// HubSecretDir is where the sidecar finds the hub's credential files.
const HubSecretDir = "/etc/loglet/hub"

// mountHubSecret mounts the Secret with the hub's credential files into
// the sidecar. It is optional: a namespace without that Secret still gets
// its pods, and the sidecar reports that the files are missing.
func mountHubSecret(pod *corev1.Pod, sc *corev1.Container, secret, vol string) {
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: secret, Optional: ptr.To(true)},
	}})
	sc.VolumeMounts = append(sc.VolumeMounts, corev1.VolumeMount{Name: vol, MountPath: HubSecretDir, ReadOnly: true})
}

// tokenDir is where client-go's in-cluster config reads the service
// account's token and CA.
const tokenDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// mountToken gives the sidecar the pod's service-account token, which
// stdout: api needs to read pods/log. The ServiceAccount admission plugin
// runs before webhooks, so it mounted the token only into the containers
// the pod had: the sidecar shares that volume, or, where there is none
// (automount is off), gets a projected token of its own.
func mountToken(pod *corev1.Pod, sc *corev1.Container) []string {
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		for _, m := range c.VolumeMounts {
			if m.MountPath == tokenDir {
				sc.VolumeMounts = append(sc.VolumeMounts, corev1.VolumeMount{Name: m.Name, MountPath: tokenDir, ReadOnly: true})
				return nil
			}
		}
	}
	name := unique("token", func(name string) bool { return hasVolume(pod, name) })
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}})
	sc.VolumeMounts = append(sc.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: tokenDir, ReadOnly: true})
	if pod.Spec.ServiceAccountName == "" {
		// What the admission plugin sets; a token projection needs it.
		pod.Spec.ServiceAccountName = "default"
	}
	if a := pod.Spec.AutomountServiceAccountToken; a != nil && !*a {
		return []string{"stdout: api reads pods/log with the pod's service account: its token is mounted into the loglet sidecar only (the pod sets automountServiceAccountToken: false)"}
	}
	return nil
}

func subPath(container string, k int) string { return fmt.Sprintf("c/%s/%d", container, k) }

func container(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// unique names one of our volumes or containers "loglet-<what>", with a
// distinct prefix while taken says the pod has that name already: ours
// never overwrite the user's.
func unique(what string, taken func(name string) bool) string {
	name := "loglet-" + what
	for i := 1; taken(name); i++ {
		name = fmt.Sprintf("loglet-%d-%s", i, what)
	}
	return name
}

func hasVolume(pod *corev1.Pod, name string) bool {
	return slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == name })
}
