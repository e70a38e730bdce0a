package pipeline

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/loglet/loglet/internal/settings"
)

// volumeWarnAt and volumeRearmAt are the shares of the volume's limit at
// which the agent warns that the pod nears eviction, and below which it
// warns again at the next crossing (so a volume hovering at the mark
// says it once).
const (
	volumeWarnAt  = 0.80
	volumeRearmAt = 0.75
)

// watchVolume samples the pod log volume's use every quietScans scan
// intervals (the full scans' pace) until ctx ends: loglet_volume_used_bytes
// and loglet_volume_limit_bytes, and a warning when it reaches
// volumeWarnAt of the limit. The kubelet samples an emptyDir's use about
// as often before it evicts.
func (a *Agent) watchVolume(ctx context.Context) {
	a.metrics.VolumeLimit.Set(float64(a.cfg.VolumeLimit))
	every := quietScans * a.cfg.ScanInterval
	warned := false
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		used, err := VolumeUsage(a.cfg.Volume)
		if err != nil {
			a.warnOnce(a.cfg.Volume, "cannot measure the pod log volume's use", err)
		} else {
			a.metrics.VolumeUsed.Set(float64(used))
			warned = a.volumeWarning(used, warned)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// volumeWarning logs once per crossing of volumeWarnAt; it returns
// whether the warning stands.
func (a *Agent) volumeWarning(used int64, warned bool) bool {
	limit := a.cfg.VolumeLimit
	if limit <= 0 {
		return false
	}
	share := float64(used) / float64(limit)
	switch {
	case !warned && share >= volumeWarnAt:
		a.log.Warn("the pod's log volume is nearly full: the kubelet evicts the pod past its sizeLimit; ship faster, rotate smaller, or set loglet.io/remove-shipped: rotated",
			"volume", a.cfg.Volume, "used", settings.FormatBytes(used), "limit", settings.FormatBytes(limit), "percent", int(share*100))
		return true
	case warned && share < volumeRearmAt:
		a.log.Info("the pod's log volume has room again", "volume", a.cfg.Volume, "used", settings.FormatBytes(used), "limit", settings.FormatBytes(limit))
		return false
	}
	return warned
}

// VolumeUsage is what the folder tree at root takes on disk as the
// kubelet counts an emptyDir's use (du): the blocks of every file and
// folder on root's file system, a file with several links once, links
// not followed.
func VolumeUsage(root string) (int64, error) {
	rootInfo, err := os.Lstat(root)
	if err != nil {
		return 0, err
	}
	rootDev := devOf(rootInfo)
	seen := map[uint64]bool{}
	var used int64
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // deleted while walking (a rotation)
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if uint64(st.Dev) != rootDev {
			if d.IsDir() {
				return filepath.SkipDir // another file system mounted below
			}
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		used += st.Blocks * 512
		return nil
	})
	return used, err
}

func devOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev)
	}
	return 0
}
