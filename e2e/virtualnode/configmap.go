package virtualnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The names the kubelet's AtomicWriter gives a projected volume's
// folder: the current payload is in a timestamped folder that ..data
// points to, each file is a symlink through ..data, and an update is a
// new folder and one rename of ..data_tmp over ..data — so a reader sees
// the old files or the new ones, never a mix nor none.
const (
	dataDir    = "..data"
	dataDirTmp = "..data_tmp"
)

// configMapPayload is what a configMap volume holds: every key of the
// ConfigMap at its own name, or the items listed at their paths. A
// missing ConfigMap is an empty payload when the volume is optional, an
// error (the pod waits, as on a kubelet) when it is not.
func (p *Provider) configMapPayload(ctx context.Context, ns string, src *corev1.ConfigMapVolumeSource) (map[string][]byte, error) {
	if p.Client == nil {
		return nil, errors.New("a configMap volume needs Provider.Client")
	}
	optional := src.Optional != nil && *src.Optional
	cm, err := p.Client.CoreV1().ConfigMaps(ns).Get(ctx, src.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && optional:
		return map[string][]byte{}, nil
	case err != nil:
		return nil, fmt.Errorf("configmap %s/%s: %w", ns, src.Name, err)
	}
	all := map[string][]byte{}
	for k, v := range cm.Data {
		all[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		all[k] = v
	}
	if len(src.Items) == 0 {
		return all, nil
	}
	out := map[string][]byte{}
	for _, it := range src.Items {
		b, ok := all[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("configmap %s/%s has no key %q (volume item %s)", ns, src.Name, it.Key, it.Path)
		}
		out[it.Path] = b
	}
	return out, nil
}

// writeAtomic makes dir hold payload the way the kubelet's AtomicWriter
// does, and reports whether anything changed. Unchanged, it does nothing:
// it runs again every resync.
func writeAtomic(dir string, payload map[string][]byte, now time.Time) (bool, error) {
	for path := range payload {
		if path == "" || filepath.IsAbs(path) || strings.HasPrefix(path, "..") || filepath.Clean(path) != path {
			return false, fmt.Errorf("volume file %q: want a relative path without .. (the kubelet refuses it too)", path)
		}
	}
	old, err := os.Readlink(filepath.Join(dir, dataDir))
	switch {
	case err == nil:
		if same(filepath.Join(dir, old), payload) {
			return false, nil
		}
	case errors.Is(err, os.ErrNotExist):
		old = ""
	default:
		return false, fmt.Errorf("volume %s: %w", dir, err)
	}
	// Like the kubelet: ..<UTC time>.<unique> — MkdirTemp adds the unique part.
	ts, err := os.MkdirTemp(dir, now.UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, fmt.Errorf("volume %s: %w", dir, err)
	}
	for path, b := range payload {
		f := filepath.Join(ts, path)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return false, err
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			return false, err
		}
	}
	os.Chmod(ts, 0o755)
	tmp := filepath.Join(dir, dataDirTmp)
	os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return false, fmt.Errorf("volume %s: %w", dir, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataDir)); err != nil {
		return false, fmt.Errorf("volume %s: swap %s: %w", dir, dataDir, err)
	}
	// The visible names: one symlink per top-level name, through ..data.
	top := map[string]bool{}
	for path := range payload {
		top[strings.SplitN(path, string(filepath.Separator), 2)[0]] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDir, name), link); err != nil {
			return false, fmt.Errorf("volume %s: %w", dir, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if name := e.Name(); !strings.HasPrefix(name, "..") && !top[name] {
			os.Remove(filepath.Join(dir, name))
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			return true, fmt.Errorf("volume %s: remove the old payload: %w", dir, err)
		}
	}
	return true, nil
}

// same reports whether folder holds exactly payload.
func same(folder string, payload map[string][]byte) bool {
	var found []string
	err := filepath.WalkDir(folder, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(folder, path)
		found = append(found, rel)
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(b, payload[rel]) {
			return errors.New("differs")
		}
		return nil
	})
	if err != nil || len(found) != len(payload) {
		return false
	}
	for rel := range payload {
		if !slices.Contains(found, rel) {
			return false
		}
	}
	return true
}

// syncConfigMaps keeps the pod's configMap volumes current, as the
// kubelet does (its sync is slower; the tests want changes within about
// a second), until the pod is deleted. A ConfigMap that cannot be read
// leaves the volume as it was, as on a kubelet.
func (p *Provider) syncConfigMaps(pd *pod) {
	var vols []corev1.Volume
	for _, v := range pd.spec.Spec.Volumes {
		if v.ConfigMap != nil {
			vols = append(vols, v)
		}
	}
	if len(vols) == 0 {
		return
	}
	every := p.ConfigMapSync
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-pd.ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		folders := pd.volumes
		p.mu.Unlock()
		for _, v := range vols {
			payload, err := p.configMapPayload(pd.ctx, pd.spec.Namespace, v.ConfigMap)
			if err != nil {
				continue
			}
			writeAtomic(folders[v.Name], payload, time.Now())
		}
	}
}
