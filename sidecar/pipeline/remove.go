package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/source"
)

// Deleting shipped rotated files (remove-shipped: rotated). A serverless
// pod's log volume is an emptyDir with a sizeLimit: an app that rotates
// its logs but keeps every rotated file gets its pod evicted. The agent
// deletes a rotated file only when all of these hold:
//
//   - its source's input asks for it (Choice.Remove) and the file lies
//     beneath Config.Volume, reached by no symlink (neither the file nor a
//     folder on its way);
//   - its name matches one of the input's rotated patterns, and it was
//     renamed since it was found or no glob matches it any more: the file
//     an app writes (the live name a glob matches) is never deleted;
//   - its source was released (read to its end and idle for the close
//     grace, so the app no longer writes it), no File reads it, and the
//     hub acknowledged every byte of it: the checkpoint's offset is its
//     size, and its content is still the checkpoint's.
//
// A file the agent never read (a .gz logrotate compressed, an excluded
// name) has no checkpoint and is never deleted: nothing says it was
// shipped. The file is first renamed to a name only the agent uses and
// checked again there, so that an app rotating at that moment (renaming
// another file to the checked name) cannot make the agent delete
// something else.

// removingPrefix starts the name a file takes just before it is deleted.
const removingPrefix = ".loglet-removing-"

// wakeReap asks Run's loop to look for rotated files to delete.
func (a *Agent) wakeReap() {
	if a.cfg.Volume == "" {
		return
	}
	select {
	case a.reapWake <- struct{}{}:
	default:
	}
}

// reap deletes the rotated files the hub acknowledged to their end (see
// above). It runs on Run's goroutine, after the scan that set matchedAt.
func (a *Agent) reap() {
	if a.cfg.Volume == "" || a.cfg.Once {
		return
	}
	a.reapAgain = false
	for _, cp := range a.ledger.released() {
		key := keyOf(cp.Identity)
		a.mu.Lock()
		reading := a.live[key] != nil
		a.mu.Unlock()
		if reading || cp.Offset == 0 {
			continue
		}
		path, matched := a.matchedAt[key]
		if matched && path == cp.Path {
			continue // the file as it was found, where its glob finds it
		}
		choice := a.choose(cp.Path)
		if len(choice.Remove) == 0 || choice.Skip || choice.Later {
			continue
		}
		if !matched {
			// A crash between moving it aside and deleting it left it
			// under the agent's own name.
			path = filepath.Join(filepath.Dir(cp.Path), removingPrefix+cp.SourceID)
			if k, _, ok := lstatKey(path); !ok || k != key {
				path = findRotated(filepath.Dir(cp.Path), key, choice.Remove)
			}
			if path == "" {
				continue // gone; the sweep forgets its checkpoint
			}
		} else if !rotatedName(filepath.Base(path), choice.Remove) {
			continue
		}
		switch err := a.removeShipped(path, cp); {
		case errors.Is(err, errNotShipped):
			a.reapAgain = a.reapAgain || errors.Is(err, errFresh)
			a.log.Debug("not removing a rotated file yet", "path", path, "source_id", cp.SourceID, "reason", err)
		case err != nil:
			a.warnOnce(path, "cannot remove a shipped rotated file; the pod's log volume keeps it", err)
		default:
			a.ledger.drop(cp.SourceID)
			a.metrics.FilesRemoved.Inc()
			a.log.Info("removed a rotated file the hub acknowledged to its end", "path", path, "source_id", cp.SourceID, "bytes", cp.Offset)
		}
	}
	a.wakeCheckpoints()
}

// rotatedName reports whether a base name matches one of the rotated
// patterns.
func rotatedName(name string, patterns []string) bool {
	for _, p := range patterns {
		if ok, _ := filepath.Match(p, name); ok {
			return true
		}
	}
	return false
}

// findRotated returns the path in dir of the file with this device and
// inode whose name matches a rotated pattern (a rotation renames within
// the folder), or "". Only names that match are looked at.
func findRotated(dir string, key fileKey, patterns []string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !rotatedName(e.Name(), patterns) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if k, _, ok := lstatKey(p); ok && k == key {
			return p
		}
	}
	return ""
}

// lstatKey is the device, inode and size of the file at path itself (a
// symlink is not followed); ok is false unless it is a regular file.
func lstatKey(path string) (fileKey, fs.FileInfo, bool) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return fileKey{}, nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, nil, false
	}
	return fileKey{uint64(st.Dev), st.Ino}, fi, true
}

// errNotShipped says a file is not to be deleted yet: the hub has not
// acknowledged all of it, or it changed.
var errNotShipped = errors.New("not acknowledged to its end")

// errFresh says a shipped file was written within the close grace: reap
// looks again at the next scan interval, as nothing else would wake it.
var errFresh = fmt.Errorf("%w: written within the close grace", errNotShipped)

// removeShipped deletes the file at path if it is still the file of cp,
// acknowledged to its end, idle and beneath the volume through no link.
func (a *Agent) removeShipped(path string, cp checkpoint.Checkpoint) error {
	if err := a.insideVolume(path); err != nil {
		return err
	}
	key := keyOf(cp.Identity)
	if err := a.stillShipped(path, key, cp); err != nil {
		return err
	}
	fd, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("%w: %v", errNotShipped, err)
	}
	same := source.SameContent(fd, cp.Identity)
	fd.Close()
	if !same {
		return fmt.Errorf("%w: its content is not what was read", errNotShipped)
	}
	// Renamed to a name of the agent's own and checked there: what is
	// deleted is the file checked, whatever the app renames meanwhile.
	dir := filepath.Dir(path)
	aside := filepath.Join(dir, removingPrefix+cp.SourceID)
	if path == aside {
		return os.Remove(aside) // checked above under the agent's own name
	}
	if err := unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, aside, unix.RENAME_NOREPLACE); err != nil {
		return fmt.Errorf("rename %s to %s before deleting it: %w", path, aside, err)
	}
	if err := a.stillShipped(aside, key, cp); err != nil {
		// Another file took the name between the check and the rename:
		// it goes back, unless the app made the name anew meanwhile.
		if back := unix.Renameat2(unix.AT_FDCWD, aside, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE); back != nil {
			return fmt.Errorf("%s was replaced while being removed, and cannot go back (%v): it is kept as %s; rename it back by hand", path, back, aside)
		}
		return err
	}
	if err := os.Remove(aside); err != nil {
		return fmt.Errorf("delete %s (moved aside from %s): %w", aside, path, err)
	}
	return nil
}

// stillShipped checks the file at path: a regular file (not a link) with
// key's device and inode, of the size the hub acknowledged, idle for the
// close grace.
func (a *Agent) stillShipped(path string, key fileKey, cp checkpoint.Checkpoint) error {
	k, fi, ok := lstatKey(path)
	switch {
	case !ok:
		return fmt.Errorf("%w: not a regular file (a link is never followed to delete its target)", errNotShipped)
	case k != key:
		return fmt.Errorf("%w: another file has its name now", errNotShipped)
	case fi.Size() != cp.Offset:
		return fmt.Errorf("%w: %d of %d bytes acknowledged", errNotShipped, cp.Offset, fi.Size())
	case time.Since(fi.ModTime()) < a.scfg.CloseGrace:
		return fmt.Errorf("%w (%s ago)", errFresh, time.Since(fi.ModTime()).Round(time.Millisecond))
	}
	return nil
}

// insideVolume refuses a path outside the volume, or one whose folders
// are reached through a symlink: an app's container shares the volume
// and could plant a link to make the agent delete elsewhere.
func (a *Agent) insideVolume(path string) error {
	root := filepath.Clean(a.cfg.Volume)
	dir := filepath.Dir(filepath.Clean(path))
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("not deleting %s: outside the pod's log volume %s", path, root)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("not deleting %s: resolve the volume %s: %w", path, root, err)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("not deleting %s: resolve its folder: %w", path, err)
	}
	if realRel, err := filepath.Rel(realRoot, realDir); err != nil || realRel != rel {
		return fmt.Errorf("not deleting %s: its folder %s is reached through a symlink (it leads to %s)", path, dir, realDir)
	}
	return nil
}
