// Package checkpoint keeps, per source, how far the hub has acknowledged it.
// A checkpoint is replaced atomically (temp file, fsync, rename, fsync of the
// folder) so that a crash at any moment leaves either the old or the new one.
package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// Load returns every checkpoint. An unreadable or corrupt checkpoint is an
// error naming the file: guessing would re-send or skip a whole file.
func (s *Store) Load() ([]Checkpoint, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoints %s: %w", s.dir, err)
	}
	var out []Checkpoint
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			// Leftover temp file of a write a crash interrupted.
			os.Remove(filepath.Join(s.dir, name))
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(s.dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", path, err)
		}
		var cp Checkpoint
		if err := json.Unmarshal(b, &cp); err != nil {
			return nil, fmt.Errorf("checkpoint %s is corrupt: %w (delete it to re-read that source from its start)", path, err)
		}
		out = append(out, cp)
	}
	return out, nil
}

// Save replaces the checkpoint of cp.SourceID atomically.
func (s *Store) Save(cp Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	path := s.file(cp.SourceID)
	if err := atomicfile.Write(path, 0o640, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// Remove deletes a source's checkpoint.
func (s *Store) Remove(id string) error {
	if err := os.Remove(s.file(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checkpoint %s: %w", s.file(id), err)
	}
	return atomicfile.SyncDir(s.dir)
}
