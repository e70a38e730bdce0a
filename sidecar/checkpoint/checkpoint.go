// Package checkpoint keeps, per source, how far the hub has acknowledged it.
// A checkpoint is replaced atomically (temp file, fsync, rename, fsync of the
// folder) so that a crash at any moment leaves either the old or the new one.
package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/loglet/loglet/sidecar/atomicfile"
	"github.com/loglet/loglet/sidecar/record"
)

// Checkpoint is the acknowledged position of one source.
type Checkpoint struct {
	SourceID string          `json:"source_id"`
	Path     string          `json:"path"`
	Identity record.Identity `json:"identity"`
	// Offset is where reading resumes: every byte before it is acknowledged.
	Offset int64 `json:"offset"`
	// NextPackageID is the id the next package of the source gets.
	NextPackageID uint64    `json:"next_package_id"`
	Updated       time.Time `json:"updated"`
	// Resource and Route are what the source's records carry and where they
	// go, fixed when it was first read: a node's pod may be gone from the
	// API when the agent resumes its last lines after a restart.
	Resource []record.KeyValue `json:"resource,omitempty"`
	Route    string            `json:"route,omitempty"`
}

// Store is a folder of checkpoints, one file per source.
type Store struct {
	dir string
}

// Open prepares dir (creating it) and checks that checkpoints can be written
// there, so a read-only or mis-owned state dir fails at start, not after the
// first package.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("state dir is empty: set --state-dir (LOGLET_STATE_DIR) to a writable folder")
	}
	sdir := filepath.Join(dir, "sources")
	if err := os.MkdirAll(sdir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir %s: %w (set --state-dir to a writable folder)", dir, err)
	}
	probe, err := os.CreateTemp(sdir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("state dir %s is not writable: %w (set --state-dir to a writable folder, e.g. an emptyDir or hostPath volume)", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &Store{dir: sdir}, nil
}

// Dir is the folder checkpoints live in.
func (s *Store) Dir() string { return s.dir }

func (s *Store) file(id string) string { return filepath.Join(s.dir, id+".json") }

// Version is the checkpoint format this loglet writes and the newest it
// reads. A file without a version field is version 1 (the format before
// versions). A later format must keep "version" at the top level of a JSON
// object, so that an older loglet can refuse it rather than misread it.
const Version = 1

// maxFileBytes bounds what Load reads of one checkpoint. loglet's own are
// a few KiB (the pod's labels are the bulk); a bigger file is not one it
// wrote, and reading it whole could take the agent's memory.
const maxFileBytes = 4 << 20

// CorruptSuffix is appended to the name of a damaged checkpoint moved
// aside. Load reads only *.json, so it is not loaded again.
const CorruptSuffix = ".corrupt"

// file is a checkpoint as written: the format version first, then the
// checkpoint's own fields.
type file struct {
	Version int `json:"version"`
	Checkpoint
}

// Loaded is what Load found in the store.
type Loaded struct {
	Checkpoints []Checkpoint
	// Corrupt lists the damaged checkpoints Load moved aside. Their sources
	// now have no checkpoint, so they are read again from their start.
	Corrupt []Corrupt
}

// Corrupt is a damaged checkpoint that was moved aside.
type Corrupt struct {
	// Path is the checkpoint file; MovedTo is where it is kept for
	// inspection, empty if it could not be moved (Err says why).
	Path, MovedTo string
	Err           error
}

// VersionError says a checkpoint has a format newer than this loglet
// reads. It is not corruption: the state belongs to a newer loglet, and a
// downgrade must neither misread nor destroy it.
type VersionError struct {
	Path    string
	Version int64
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("checkpoint %s has format version %d; this loglet reads up to %d: upgrade loglet or delete the state dir", e.Path, e.Version, Version)
}

// Load returns every intact checkpoint; damaged ones are moved aside (see
// LoadAll).
func (s *Store) Load() ([]Checkpoint, error) {
	l, err := s.LoadAll()
	return l.Checkpoints, err
}

// LoadAll returns every intact checkpoint and moves damaged ones aside as
// <name>.corrupt. A damaged checkpoint cannot say where its source was,
// and stopping would put a pod's sidecar in a crash loop nobody can mend by
// hand; without it the source is read again from its start, which can
// re-send lines but never skips one. A checkpoint of a newer format is an
// error (*VersionError), and then nothing is moved: the state dir is a
// newer loglet's.
func (s *Store) LoadAll() (Loaded, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return Loaded{}, fmt.Errorf("checkpoints %s: %w", s.dir, err)
	}
	var out Loaded
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			// Leftover temp file of a write a crash interrupted.
			os.Remove(filepath.Join(s.dir, name))
			continue
		}
		id, ok := strings.CutSuffix(name, ".json")
		if !ok {
			continue
		}
		path := filepath.Join(s.dir, name)
		cp, err := readFile(path, id, e.Type())
		var verr *VersionError
		switch {
		case errors.As(err, &verr):
			return Loaded{}, err
		case errors.Is(err, errCorrupt):
			out.Corrupt = append(out.Corrupt, Corrupt{Path: path, Err: err})
		case err != nil:
			// Unreadable, not damaged (permissions, I/O): guessing would
			// re-send or skip a whole file.
			return Loaded{}, fmt.Errorf("checkpoint %s: %w", path, err)
		default:
			out.Checkpoints = append(out.Checkpoints, cp)
		}
	}
	for i := range out.Corrupt {
		c := &out.Corrupt[i]
		if err := os.Rename(c.Path, c.Path+CorruptSuffix); err != nil {
			c.Err = fmt.Errorf("%w; moving it aside failed: %w", c.Err, err)
			continue
		}
		c.MovedTo = c.Path + CorruptSuffix
	}
	if len(out.Corrupt) > 0 {
		if err := atomicfile.SyncDir(s.dir); err != nil {
			return out, fmt.Errorf("checkpoints %s: %w", s.dir, err)
		}
	}
	return out, nil
}

// errCorrupt marks the errors of a checkpoint whose content is damaged.
var errCorrupt = errors.New("corrupt checkpoint")

// readFile reads and checks the checkpoint of source id at path.
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
	return decode(path, id, b)
}

// decode parses a checkpoint file's bytes. The version is read on its own
// first: a newer format may change any other field, and must be refused
// rather than reported as damage.
func decode(path, id string, b []byte) (Checkpoint, error) {
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
	switch {
	case cp.SourceID != id:
		// Save names the file after the source: anything else is damage
		// (and would make two files claim one source).
		return Checkpoint{}, fmt.Errorf("%w: source_id %q does not match the file name", errCorrupt, cp.SourceID)
	case cp.Offset < 0:
		return Checkpoint{}, fmt.Errorf("%w: negative offset %d", errCorrupt, cp.Offset)
	case !filepath.IsAbs(cp.Path):
		// The folder of the path is where a rotated copy is looked for.
		return Checkpoint{}, fmt.Errorf("%w: path %q is not absolute", errCorrupt, cp.Path)
	}
	return cp, nil
}

// Save replaces the checkpoint of cp.SourceID atomically.
func (s *Store) Save(cp Checkpoint) error {
	b, err := encode(cp)
	if err != nil {
		return err
	}
	path := s.file(cp.SourceID)
	if err := atomicfile.Write(path, 0o640, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// encode is a checkpoint file's bytes.
func encode(cp Checkpoint) ([]byte, error) {
	return json.Marshal(file{Version: Version, Checkpoint: cp})
}

// Remove deletes a source's checkpoint.
func (s *Store) Remove(id string) error {
	if err := os.Remove(s.file(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checkpoint %s: %w", s.file(id), err)
	}
	return atomicfile.SyncDir(s.dir)
}
