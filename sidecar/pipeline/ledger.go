package pipeline

import (
	"sync"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/record"
)

// ledger is the agent's view of every checkpoint: what the hub acknowledged
// per source, which sources are being read, and what still has to be
// written to the store.
type ledger struct {
	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	cp     checkpoint.Checkpoint
	live   bool // a File reads this source now
	dirty  bool // acknowledged progress not yet written
	forget bool // delete the checkpoint: the file is gone
}

func newLedger(cps []checkpoint.Checkpoint) *ledger {
	l := &ledger{entries: make(map[string]*entry, len(cps))}
	for _, cp := range cps {
		l.entries[cp.SourceID] = &entry{cp: cp}
	}
	return l
}

// find returns the checkpoint of a source not being read whose file had
// this device and inode and whose content same confirms. Several
// checkpoints can name one inode: a file truncated in place (copytruncate)
// or an inode the file system reused.
func (l *ledger) find(dev, ino uint64, same func(record.Identity) bool) (checkpoint.Checkpoint, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if !e.live && e.cp.Identity.Dev == dev && e.cp.Identity.Inode == ino && same(e.cp.Identity) {
			return e.cp, true
		}
	}
	return checkpoint.Checkpoint{}, false
}

// reading reports whether a source of this device and inode is being read
// (or drained and not yet acknowledged to its end). An inode cannot be
// reused while its file is open, so such a file is that source.
func (l *ledger) reading(dev, ino uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if e.live && e.cp.Identity.Dev == dev && e.cp.Identity.Inode == ino {
			return true
		}
	}
	return false
}

// claim marks a source as being read, adding it if new.
func (l *ledger) claim(cp checkpoint.Checkpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[cp.SourceID]
	if !ok {
		e = &entry{cp: cp}
		l.entries[cp.SourceID] = e
	}
	e.live = true
}

// orphans returns the checkpoints no File reads.
func (l *ledger) orphans() []checkpoint.Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []checkpoint.Checkpoint
	for _, e := range l.entries {
		if !e.live && !e.forget {
			out = append(out, e.cp)
		}
	}
	return out
}

// ack records that the hub acknowledged p (and so everything before it).
func (l *ledger) ack(p *record.Package, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[p.Origin.SourceID]
	if !ok {
		return
	}
	e.cp.Identity = p.Identity
	e.cp.Offset = p.EndOffset
	e.cp.NextPackageID = p.ID
	if p.Len() > 0 {
		e.cp.NextPackageID = p.ID + 1
	}
	e.cp.Updated = now
	e.dirty = true
	if p.End {
		e.live = false
		e.forget = p.Forget
	}
}

// drop marks a checkpoint for deletion.
func (l *ledger) drop(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[id]; ok && !e.live {
		e.forget, e.dirty = true, true
	}
}

// acked returns the acknowledged offset of a source.
func (l *ledger) acked(id string) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[id]
	if !ok {
		return 0, false
	}
	return e.cp.Offset, true
}

// change is one checkpoint to write or delete.
type change struct {
	cp     checkpoint.Checkpoint
	forget bool
}

// takeDirty returns the pending changes and clears them.
func (l *ledger) takeDirty() []change {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []change
	for id, e := range l.entries {
		if !e.dirty {
			continue
		}
		e.dirty = false
		out = append(out, change{cp: e.cp, forget: e.forget})
		if e.forget {
			delete(l.entries, id)
		}
	}
	return out
}

// retry marks a change whose write failed as pending again.
func (l *ledger) retry(c change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[c.cp.SourceID]
	if !ok {
		e = &entry{cp: c.cp, forget: c.forget}
		l.entries[c.cp.SourceID] = e
	}
	e.dirty = true
}
