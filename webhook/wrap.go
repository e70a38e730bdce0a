package webhook

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// In stdout: wrap mode each application container runs under `loglet exec`,
// from a copy of the loglet binary an init container puts on the shared
// volume; the copies of stdout land under stdout/<container> on it.
const (
	wrapRoot   = "/.loglet"
	wrapBinDir = wrapRoot + "/bin"
	wrapStdout = wrapRoot + "/stdout"
)

// stdoutMode resolves loglet.io/stdout: auto is wrap when every application
// container has a command (the original command must be known to wrap
// it), api otherwise; an explicit wrap needs the commands too.
func stdoutMode(pod *corev1.Pod, req Request) (string, error) {
	if req.Stdout != "auto" && req.Stdout != "wrap" {
		return req.Stdout, nil
	}
	for _, c := range pod.Spec.Containers {
		if len(c.Command) == 0 {
			if req.Stdout == "wrap" {
				return "", &InvalidError{AnnotationStdout, req.Stdout,
					fmt.Sprintf("container %s has no command in its spec, so it cannot be wrapped; set its command, or use api", c.Name), "api"}
			}
			return "api", nil
		}
	}
	return "wrap", nil
}

// addWrap adds the init container that installs the binary and rewrites
// every application container's command to run under loglet exec.
func addWrap(out *corev1.Pod, cfg Config, dataVol string) error {
	for i := range out.Spec.Containers {
		c := &out.Spec.Containers[i]
		for _, m := range c.VolumeMounts {
			if m.MountPath == wrapRoot || m.MountPath == wrapBinDir || m.MountPath == wrapStdout {
				return &InvalidError{AnnotationStdout, "wrap", fmt.Sprintf("container %s already mounts something at %s", c.Name, m.MountPath), "api"}
			}
		}
		c.VolumeMounts = append(c.VolumeMounts,
			corev1.VolumeMount{Name: dataVol, MountPath: wrapBinDir, SubPath: "bin", ReadOnly: true},
			corev1.VolumeMount{Name: dataVol, MountPath: wrapStdout, SubPath: "stdout/" + c.Name},
		)
		c.Command = append([]string{wrapBinDir + "/loglet", "exec", "--dir", wrapStdout, "--"}, c.Command...)
	}
	install := corev1.Container{
		Name:            unique("install", func(name string) bool { return hasContainer(out, name) }),
		Image:           cfg.Image,
		ImagePullPolicy: cfg.PullPolicy,
		Args:            []string{"exec", "--install", sidecarRoot + "/bin"},
		VolumeMounts:    []corev1.VolumeMount{{Name: dataVol, MountPath: sidecarRoot}},
		Resources:       corev1.ResourceRequirements{Requests: cfg.Requests.DeepCopy(), Limits: cfg.Limits.DeepCopy()},
		SecurityContext: hardened(),
	}
	out.Spec.InitContainers = append([]corev1.Container{install}, out.Spec.InitContainers...)
	return nil
}
