// Package checkpoint keeps, per source, how far the hub has acknowledged it.
//
// Checkpoints live in one append-only journal, <state>/checkpoints/journal:
// a save or a removal is a record appended to it, and Save returns once its
// record is synced. Saves that arrive together share one write and one
// fsync (group commit), so thousands of new sources cost a few syncs, not
// a temp file, a sync, a rename and a folder sync each (the format before,
// one file per source under <state>/sources, which is still read and moved
// into the journal). A crash in the middle of an append leaves a torn tail,
// which the next start cuts off; damage anywhere else keeps the records
// before it and moves the journal aside. When the journal holds much more
// than its live checkpoints it is rewritten as a snapshot of them (temp
// file, fsync, rename, fsync of the folder), so it stays bounded and a
// start replays little.
package checkpoint

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
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

// Version is the checkpoint format this loglet writes and the newest it
// reads. 1 is a file per source (without a version field in its first
// releases); 2 is the journal. A later format must keep the journal's first
// frame as it is (the framing and the header's "version"), and a
// "version" in each record, so that an older loglet can refuse it rather
// than misread or destroy it.
const Version = 2

// CorruptSuffix is appended to the name of a damaged state file moved
// aside, which is then never read again.
const CorruptSuffix = ".corrupt"

const (
	// journalDir is the journal's folder inside the state dir: its own, so
	// that the folder syncs of a snapshot touch nothing else.
	journalDir  = "checkpoints"
	journalName = "journal"
	// legacyDir holds the checkpoints of format 1, a file per source.
	legacyDir = "sources"
)

// Store is the checkpoint journal of one state dir.
//
// One process writes a state dir's journal. Others may Load it while it
// runs (a test, a debugging tool): a load changes the journal only when it
// finds damage or checkpoints of the format before, which a running writer
// has already dealt with at its own start.
type Store struct {
	dir  string // <state>/checkpoints
	path string // the journal

	mu   sync.Mutex
	cond *sync.Cond // broadcast when a batch is written or the journal freed
	// busy says one goroutine owns the journal (the leader of a write, or a
	// load): the fields below are its alone until it clears busy.
	busy bool
	// open collects the records of calls that wait for the next write.
	open *batch

	j journal
	// lock, once Lock took it, is held open for the process's life.
	lock *os.File
}

// Open prepares dir (creating it) and checks that checkpoints can be written
// there, so a read-only or mis-owned state dir fails at start, not after the
// first package. The journal is read on the first Load, Save or Remove.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("state dir is empty: set --state-dir (LOGLET_STATE_DIR) to a writable folder")
	}
	jdir := filepath.Join(dir, journalDir)
	if err := os.MkdirAll(jdir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir %s: %w (set --state-dir to a writable folder)", dir, err)
	}
	// The folder made here must last as the journal in it does.
	if err := atomicfile.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	probe, err := os.CreateTemp(jdir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("state dir %s is not writable: %w (set --state-dir to a writable folder, e.g. an emptyDir or hostPath volume)", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	s := &Store{dir: jdir, path: filepath.Join(jdir, journalName)}
	s.cond = sync.NewCond(&s.mu)
	s.j = journal{path: s.path, legacy: filepath.Join(dir, legacyDir)}
	return s, nil
}

// Dir is the folder the journal lives in, inside the state dir.
func (s *Store) Dir() string { return s.dir }

// Path is the journal file.
func (s *Store) Path() string { return s.path }

// Loaded is what Load found in the store.
type Loaded struct {
	// Checkpoints are the intact checkpoints, by source id.
	Checkpoints []Checkpoint
	// Corrupt lists the damaged state files Load moved aside. Sources whose
	// newest checkpoint was in the damaged part resume from an older one or,
	// without any, are read again from their start.
	Corrupt []Corrupt
}

// Corrupt is a damaged state file that was moved aside.
type Corrupt struct {
	// Path is the damaged file; MovedTo is where it is kept for inspection,
	// empty if it could not be moved (Err says why).
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

// Load returns every intact checkpoint; damaged state is moved aside (see
// LoadAll).
func (s *Store) Load() ([]Checkpoint, error) {
	l, err := s.LoadAll()
	return l.Checkpoints, err
}

// LoadAll reads the journal and returns every intact checkpoint.
//
// A torn tail (a crash in the middle of an append) is not damage: its
// records were never reported written, and it is cut off before the next
// append. Damage elsewhere keeps the records before it: the journal is
// moved aside as <journal>.corrupt and rewritten with them. A damaged
// checkpoint cannot say where its source was, and stopping would put a
// pod's sidecar in a crash loop nobody can mend by hand; a source that
// lost its newest checkpoint resumes from an older one or its start, which
// can re-send lines but never skips one.
//
// Checkpoints of format 1 (<state>/sources/<id>.json) are moved into the
// journal, synced, and only then deleted; damaged ones are moved aside as
// <id>.json.corrupt. A journal, record or file of a newer format is an
// error (*VersionError), and then nothing is changed: the state dir is a
// newer loglet's.
func (s *Store) LoadAll() (Loaded, error) {
	s.acquire()
	defer s.release()
	l, err := s.j.load()
	// Damage found by a Save or Remove that came first is reported here.
	l.Corrupt = append(s.j.unreported, l.Corrupt...)
	s.j.unreported = nil
	slices.SortFunc(l.Checkpoints, func(a, b Checkpoint) int { return cmp.Compare(a.SourceID, b.SourceID) })
	return l, err
}

// Save records cp as the checkpoint of cp.SourceID. It returns once the
// record is synced to disk.
func (s *Store) Save(cp Checkpoint) error {
	if err := validate(cp); err != nil {
		// Written, it would read back as damage and cost the records after it.
		return fmt.Errorf("checkpoint of source %q not saved: %w", cp.SourceID, err)
	}
	b, err := encodeSave(cp)
	if err != nil {
		return fmt.Errorf("checkpoint of source %q: %w", cp.SourceID, err)
	}
	if len(b) > maxRecord {
		return fmt.Errorf("checkpoint of source %q not saved: %d bytes, more than the %d a checkpoint may have (its resource attributes are too many or too long)", cp.SourceID, len(b), maxRecord)
	}
	return s.commit(change{id: cp.SourceID, rec: b})
}

// Remove forgets a source's checkpoint. It returns once that is synced.
func (s *Store) Remove(id string) error {
	if err := validID(id); err != nil {
		return fmt.Errorf("checkpoint of source %q not removed: %w", id, err)
	}
	return s.commit(change{id: id})
}

// batch is the records of the calls that one write makes durable.
type batch struct {
	changes []change
	done    bool
	err     error
}

// change is one record: a save (rec, its encoding) or a removal (rec nil).
type change struct {
	id  string
	rec []byte
}

// commit adds c to the open batch and waits until that batch is written.
// No goroutine writes in the background: the first caller to find the
// journal free leads, writing its batch with every record that joined it
// meanwhile, while later callers gather in the next batch; when the leader
// is done one of them leads the next write.
func (s *Store) commit(c change) error {
	s.mu.Lock()
	if s.open == nil {
		s.open = &batch{}
	}
	b := s.open
	b.changes = append(b.changes, c)
	for s.busy && !b.done {
		s.cond.Wait()
	}
	if b.done {
		s.mu.Unlock()
		return b.err
	}
	// Only a leader takes the open batch, and none was running: b is still
	// the open one.
	s.busy = true
	s.open = nil
	s.mu.Unlock()

	err := s.j.write(b.changes)

	s.mu.Lock()
	b.done, b.err = true, err
	s.cond.Broadcast()
	s.mu.Unlock()
	if err == nil {
		// After the batch's callers are released: a snapshot is one
		// leader's extra work, not every waiter's.
		s.j.maybeCompact()
	}
	s.release()
	return err
}

// Close releases the journal's open file once the writes under way are
// done. Nothing runs in the background, so a process need not call it; a
// later call reopens the file.
func (s *Store) Close() error {
	s.acquire()
	defer s.release()
	return s.j.close()
}

func (s *Store) acquire() {
	s.mu.Lock()
	for s.busy {
		s.cond.Wait()
	}
	s.busy = true
	s.mu.Unlock()
}

func (s *Store) release() {
	s.mu.Lock()
	s.busy = false
	s.cond.Broadcast()
	s.mu.Unlock()
}
