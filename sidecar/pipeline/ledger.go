package pipeline

import (
	"sync"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/metrics"
	"github.com/loglet/loglet/sidecar/record"
)

// ledger is the agent's view of every checkpoint: what the hub acknowledged
// per source, which sources are being read, and what still has to be
// written to the store. It is indexed by device and inode, as files are
// found: a node has thousands of sources, and every new or changed file
// looks its inode up.
type ledger struct {
	mu      sync.Mutex
	entries map[string]*entry
	byKey   map[fileKey][]*entry
}

type fileKey struct{ dev, ino uint64 }

func keyOf(id record.Identity) fileKey { return fileKey{id.Dev, id.Inode} }

type entry struct {
	cp     checkpoint.Checkpoint
	live   bool // a File reads this source now
	dirty  bool // acknowledged progress not yet written
	forget bool // delete the checkpoint: the file is gone
	// size is the file's size when it was last looked at (for the lag).
	size int64
	// closed is the file's size and modification time when it was closed
	// for being inactive: while both stay the same, it is not opened again.
	closed    bool
	closedAt  int64
	closedMod int64
	// replaced: its inode now holds other content (copytruncate, or the
	// inode reused): the sweep looks for the copy even though the inode
	// is still seen.
	replaced bool
}

func newLedger(cps []checkpoint.Checkpoint) *ledger {
	l := &ledger{entries: make(map[string]*entry, len(cps)), byKey: make(map[fileKey][]*entry, len(cps))}
	for _, cp := range cps {
		l.add(&entry{cp: cp})
	}
	return l
}

func (l *ledger) add(e *entry) {
	l.entries[e.cp.SourceID] = e
	k := keyOf(e.cp.Identity)
	l.byKey[k] = append(l.byKey[k], e)
}

func (l *ledger) remove(e *entry) {
	delete(l.entries, e.cp.SourceID)
	k := keyOf(e.cp.Identity)
	list := l.byKey[k]
	for i, x := range list {
		if x == e {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(l.byKey, k)
	} else {
		l.byKey[k] = list
	}
}

// find returns the checkpoint of a source not being read whose file had
// this device and inode and whose content same confirms. Several
// checkpoints can name one inode: a file truncated in place (copytruncate)
// or an inode the file system reused. Those whose content the inode no
// longer holds are marked replaced, so that the sweep looks for their
// copy: an agent killed after it checkpointed a copytruncated file's new
// content, before it finished the old content from the copy, would
// otherwise leave that tail unread.
func (l *ledger) find(dev, ino uint64, same func(record.Identity) bool) (checkpoint.Checkpoint, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var found *entry
	for _, e := range l.byKey[fileKey{dev, ino}] {
		switch {
		case e.live:
		case found == nil && same(e.cp.Identity):
			found = e
		default:
			e.closed, e.replaced = false, true
		}
	}
	if found == nil {
		return checkpoint.Checkpoint{}, false
	}
	return found.cp, true
}

// reading reports whether a source of this device and inode is being read
// (or drained and not yet acknowledged to its end). An inode cannot be
// reused while its file is open, so such a file is that source.
func (l *ledger) reading(dev, ino uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.byKey[fileKey{dev, ino}] {
		if e.live {
			return true
		}
	}
	return false
}

// quiet reports whether the file of this device and inode was closed for
// being inactive and has not changed since: same size, same modification
// time. It then stays closed.
func (l *ledger) quiet(dev, ino uint64, size, mod int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.byKey[fileKey{dev, ino}] {
		if !e.live && e.closed && e.closedAt == size && e.closedMod == mod {
			return true
		}
	}
	return false
}

// closeInactive records the size and modification time of a source's file
// when it was closed for being inactive.
func (l *ledger) closeInactive(id string, size, mod int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[id]; ok {
		e.closed, e.closedAt, e.closedMod = true, size, mod
	}
}

// claim marks a source as being read, adding it if new (its checkpoint
// was written by the caller). It says whether the source was closed for
// being inactive.
func (l *ledger) claim(cp checkpoint.Checkpoint) (reopened bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[cp.SourceID]
	if !ok {
		e = &entry{cp: cp}
		l.add(e)
	}
	reopened = e.closed
	e.live, e.closed = true, false
	return reopened
}

// rechoose replaces what a source's records carry and where they go (a
// Reselect changed how it is read); the checkpoint is written with them.
func (l *ledger) rechoose(id string, resource []record.KeyValue, route string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[id]; ok {
		e.cp.Resource, e.cp.Route, e.dirty = resource, route, true
	}
}

// closedGone reports whether a source closed for being inactive was not
// seen by the last scan (its file was renamed away or deleted while
// closed), or one's inode now holds other content: the sweep must not wait
// to finish or forget it.
func (l *ledger) closedGone(seen map[fileKey]bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if !e.live && !e.forget && (e.replaced || e.closed && !seen[keyOf(e.cp.Identity)]) {
			return true
		}
	}
	return false
}

// orphans returns the checkpoints no File reads whose files the last scan
// did not see (seen, by device and inode) where the globs look — renamed
// away, copied, or gone — and those whose inode holds other content now.
// A seen file is the scan's to start (it may wait for a descriptor).
func (l *ledger) orphans(seen map[fileKey]bool) []checkpoint.Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []checkpoint.Checkpoint
	for _, e := range l.entries {
		if !e.live && !e.forget && (e.replaced || !seen[keyOf(e.cp.Identity)]) {
			e.closed = false // an orphan now, swept with the others
			out = append(out, e.cp)
		}
	}
	return out
}

// released returns the checkpoints of the sources no File reads (read to
// their end, or closed for being inactive, and acknowledged as such), for
// reap to delete their rotated files.
func (l *ledger) released() []checkpoint.Checkpoint {
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
	if keyOf(p.Identity) != keyOf(e.cp.Identity) {
		l.remove(e)
		e.cp.Identity = p.Identity
		l.add(e)
	}
	next := p.ID
	if p.Len() > 0 {
		next = p.ID + 1
	}
	// A source released with nothing new (a file closed for being
	// inactive) needs no write: its checkpoint says what it did.
	if changed := e.cp.Identity != p.Identity || e.cp.Offset != p.EndOffset || e.cp.NextPackageID != next; changed || p.Forget {
		e.cp.Identity, e.cp.Offset, e.cp.NextPackageID = p.Identity, p.EndOffset, next
		e.cp.Updated = now
		e.dirty = true
	}
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

// ackedAt returns how far the hub acknowledged the file at path with this
// device and inode (-1: no source of it is known).
func (l *ledger) ackedAt(path string, dev, ino uint64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	off := int64(-1)
	for _, e := range l.byKey[fileKey{dev, ino}] {
		if e.cp.Path == path {
			off = max(off, e.cp.Offset)
		}
	}
	return off
}

// observe records a source's file size, for its lag.
func (l *ledger) observe(id string, size int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[id]; ok {
		e.size = size
	}
}

// lags returns what the hub has not acknowledged of each source, as far as
// the last scan saw the files.
func (l *ledger) lags() []metrics.SourceLag {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []metrics.SourceLag
	for _, e := range l.entries {
		if n := e.size - e.cp.Offset; n > 0 && !e.forget {
			out = append(out, metrics.SourceLag{SourceID: e.cp.SourceID, Path: e.cp.Path, Bytes: n})
		}
	}
	return out
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
	for _, e := range l.entries {
		if !e.dirty {
			continue
		}
		e.dirty = false
		out = append(out, change{cp: e.cp, forget: e.forget})
		if e.forget {
			l.remove(e)
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
		l.add(e)
	}
	e.dirty = true
}
