package virtualnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// prepareVolumes gives each of the pod's volumes a folder under dir:
// empty for emptyDir, the files for downwardAPI and projected volumes (a
// service-account token from the API, the cluster's CA, the namespace),
// a ConfigMap's keys laid out as the kubelet's AtomicWriter does for
// configMap volumes (kept current by syncConfigMaps). Other kinds stay
// empty folders.
func (p *Provider) prepareVolumes(ctx context.Context, pod *corev1.Pod, dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			d, ok := p.HostPaths[v.HostPath.Path]
			if !ok {
				d = filepath.Join(p.HostRoot, v.HostPath.Path)
			}
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
			out[v.Name] = d
			continue
		}
		d := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(d, 0o777); err != nil {
			return nil, err
		}
		os.Chmod(d, 0o777) // emptyDir is writable by any user of the pod
		out[v.Name] = d
		files := map[string][]byte{}
		switch {
		case v.ConfigMap != nil:
			payload, err := p.configMapPayload(ctx, pod.Namespace, v.ConfigMap)
			if err != nil {
				return nil, err
			}
			if _, err := writeAtomic(d, payload, time.Now()); err != nil {
				return nil, err
			}
		case v.DownwardAPI != nil:
			for _, it := range v.DownwardAPI.Items {
				if it.FieldRef != nil {
					files[it.Path] = fieldValue(pod, it.FieldRef.FieldPath)
				}
			}
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				switch {
				case src.ServiceAccountToken != nil:
					tok, err := p.token(ctx, pod, src.ServiceAccountToken)
					if err != nil {
						return nil, err
					}
					files[src.ServiceAccountToken.Path] = tok
				case src.ConfigMap != nil && p.Client != nil:
					cm, err := p.Client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, src.ConfigMap.Name, metav1.GetOptions{})
					if err != nil {
						return nil, fmt.Errorf("configmap %s: %w", src.ConfigMap.Name, err)
					}
					for _, it := range src.ConfigMap.Items {
						files[it.Path] = []byte(cm.Data[it.Key])
					}
				case src.DownwardAPI != nil:
					for _, it := range src.DownwardAPI.Items {
						if it.FieldRef != nil {
							files[it.Path] = fieldValue(pod, it.FieldRef.FieldPath)
						}
					}
				}
			}
		}
		for name, b := range files {
			path := filepath.Join(d, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (p *Provider) token(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) ([]byte, error) {
	if p.Client == nil {
		return nil, fmt.Errorf("a service-account token volume needs Provider.Client")
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{Audiences: nil, ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef: &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tok, err := p.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for %s/%s: %w", pod.Namespace, sa, err)
	}
	return []byte(tok.Status.Token), nil
}

// fieldValue is what the kubelet writes for a downward-API field.
func fieldValue(pod *corev1.Pod, path string) []byte {
	switch path {
	case "metadata.name":
		return []byte(pod.Name)
	case "metadata.namespace":
		return []byte(pod.Namespace)
	case "metadata.uid":
		return []byte(pod.UID)
	case "metadata.labels":
		return formatMap(pod.Labels)
	case "metadata.annotations":
		return formatMap(pod.Annotations)
	}
	return nil
}

func formatMap(m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, strconv.Quote(m[k]))
	}
	return []byte(b.String())
}

// mounted wraps argv so the process sees the pod's volumes at the
// container's mount paths: a private mount namespace (unshare) with bind
// mounts, read-only where the mount says so. The mount points are created
// on the machine (empty).
func mounted(argv []string, mounts []corev1.VolumeMount, volumes map[string]string) ([]string, error) {
	if len(mounts) == 0 {
		return argv, nil
	}
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, m := range mounts {
		src, ok := volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q is not defined", m.Name)
		}
		if m.SubPath != "" {
			src = filepath.Join(src, m.SubPath)
			if err := os.MkdirAll(src, 0o777); err != nil {
				return nil, err
			}
			os.Chmod(src, 0o777)
		}
		fmt.Fprintf(&script, "mkdir -p %q\nmount --bind %q %q\n", m.MountPath, src, m.MountPath)
		if m.ReadOnly {
			fmt.Fprintf(&script, "mount -o remount,bind,ro %q\n", m.MountPath)
		}
	}
	script.WriteString(`exec "$@"` + "\n")
	return append([]string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script.String(), "sh"}, argv...), nil
}
