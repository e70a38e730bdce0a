package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/loglet/loglet/sidecar/atomicfile"
)

// Format 1 kept a file per source, <state>/sources/<id>.json, each
// replaced atomically. A start moves them into the journal.

// maxFileBytes bounds what is read of one format-1 checkpoint. loglet's
// own are a few KiB (the pod's labels are the bulk); a bigger file is not
// one it wrote, and reading it whole could take the agent's memory.
const maxFileBytes = 4 << 20

// legacy is what the format-1 folder holds.
type legacy struct {
	dir         string
	checkpoints []legacyEntry
	corrupt     []Corrupt
	// temps are the leftovers of writes a crash interrupted: deleted, with
	// the intact checkpoints' files, once the journal holds them.
	temps []string
}

type legacyEntry struct {
	file string
	cp   Checkpoint
}

// readLegacy reads the format-1 checkpoints in dir without changing them.
func readLegacy(dir string) (legacy, error) {
	l := legacy{dir: dir}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, nil
	case err != nil:
		return l, fmt.Errorf("checkpoints %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if strings.HasPrefix(name, ".") {
			l.temps = append(l.temps, path)
			continue
		}
		id, ok := strings.CutSuffix(name, ".json")
		if !ok {
			continue
		}
		cp, err := readFile(path, id, e.Type())
		var verr *VersionError
		switch {
		case errors.As(err, &verr):
			return legacy{}, err
		case errors.Is(err, errCorrupt):
			l.corrupt = append(l.corrupt, Corrupt{Path: path, Err: err})
		case err != nil:
			// Unreadable, not damaged (permissions, I/O): guessing would
			// re-send or skip a whole file.
			return legacy{}, fmt.Errorf("checkpoint %s: %w", path, err)
		default:
			l.checkpoints = append(l.checkpoints, legacyEntry{file: path, cp: cp})
		}
	}
	return l, nil
}

// clean deletes the format-1 checkpoints, which the journal now holds, and
// moves the damaged ones aside, adding them to out.
func (l legacy) clean(out *Loaded) error {
	if len(l.checkpoints)+len(l.temps)+len(l.corrupt) == 0 {
		return nil
	}
	files := slices.Clone(l.temps)
	for _, e := range l.checkpoints {
		files = append(files, e.file)
	}
	for _, p := range files {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("checkpoint %s is in the journal now, but deleting it failed: %w", p, err)
		}
	}
	for _, c := range l.corrupt {
		to, err := moveAside(c.Path)
		if err != nil {
			c.Err = fmt.Errorf("%w; moving it aside failed: %w", c.Err, err)
		}
		c.MovedTo = to
		out.Corrupt = append(out.Corrupt, c)
	}
	if err := atomicfile.SyncDir(l.dir); err != nil {
		return fmt.Errorf("checkpoints %s: %w", l.dir, err)
	}
	// Empty now unless damage is kept there; the next start would find it
	// empty anyway, so this needs no sync.
	os.Remove(l.dir)
	return nil
}

// file is a format-1 checkpoint: the format version first (absent in the
// first releases), then the checkpoint's own fields.
type file struct {
	Version int `json:"version,omitempty"`
	Checkpoint
}

// readFile reads and checks the format-1 checkpoint of source id at path.
func readFile(path, id string, typ fs.FileMode) (Checkpoint, error) {
	if !typ.IsRegular() {
		// Not a file loglet wrote (a folder, a link): not followed.
		return Checkpoint{}, fmt.Errorf("%w: not a regular file (%s)", errCorrupt, typ.Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return Checkpoint{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return Checkpoint{}, err
	}
	if len(b) > maxFileBytes {
		return Checkpoint{}, fmt.Errorf("%w: larger than %d bytes", errCorrupt, maxFileBytes)
	}
	return decodeFile(path, id, b)
}

// decodeFile parses a format-1 checkpoint file's bytes. The version is
// read on its own first: a newer format may change any other field, and
// must be refused rather than reported as damage.
func decodeFile(path, id string, b []byte) (Checkpoint, error) {
	var head struct {
		Version *int64 `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if head.Version != nil {
		switch v := *head.Version; {
		case v > Version:
			return Checkpoint{}, &VersionError{Path: path, Version: v}
		case v < 1:
			return Checkpoint{}, fmt.Errorf("%w: format version %d", errCorrupt, v)
		}
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	cp := f.Checkpoint
	if cp.SourceID != id {
		// Format 1 named the file after the source: anything else is
		// damage (and would make two files claim one source).
		return Checkpoint{}, fmt.Errorf("%w: source_id %q does not match the file name", errCorrupt, cp.SourceID)
	}
	if err := validate(cp); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return cp, nil
}
