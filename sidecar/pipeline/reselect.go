package pipeline

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"

	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// Selection is what the agent reads and how: Config's Paths, Exclude and
// Select, which Reselect replaces while the agent runs.
type Selection struct {
	Paths, Exclude []string
	Select         func(path string) source.Choice
}

// reselection is a Selection checked and on its way to Run's loop; done
// is closed once the loop applied it and scanned.
type reselection struct {
	sel    Selection
	match  *source.Matcher
	opener *source.Opener
	done   chan struct{}
}

// Reselect makes the agent read what s says from now on, without a
// restart (a sidecar's LogConfigs changed):
//   - files s matches that are not being read start, from their
//     checkpoints when they have one, else from their start;
//   - a file being read whose choice s changes — it no longer matches, or
//     Select gives it another input, parsing, processors, route or
//     resource — is read to its current end, delivered and released, its
//     checkpoint kept; the next scan opens it again under s if s matches
//     it, from that checkpoint, so nothing is lost or read twice;
//   - the other files go on untouched.
//
// Select keeps the same compiled parse.Spec and process.Chain for what
// did not change, as files are compared by them. A file that no input
// matches any more is not read again, not even what is written to it
// later, unless a later selection matches it (then from its checkpoint).
// Reselect returns once Run applied s and scanned, or ctx ended.
func (a *Agent) Reselect(ctx context.Context, s Selection) error {
	m, err := source.NewMatcher(s.Paths, s.Exclude)
	if err != nil {
		return err
	}
	opener, err := source.NewOpener(s.Paths, a.cfg.Links)
	if err != nil {
		return err
	}
	if a.cfg.Once {
		return errors.New("reselect: not with once, which reads what it matched at start")
	}
	r := reselection{sel: s, match: m, opener: opener, done: make(chan struct{})}
	select {
	case a.reselects <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reselect applies r in Run's loop, which alone uses the matcher, the
// opener and Select; the scan that follows starts what r adds.
func (a *Agent) reselect(r reselection) {
	a.cfg.Paths, a.cfg.Exclude, a.cfg.Select = r.sel.Paths, r.sel.Exclude, r.sel.Select
	a.match, a.opener = r.match, r.opener
	a.scfg.Open = r.opener.Open
	// What the old selection left out or the old opener refused is
	// looked at again.
	a.skip = map[string]bool{}
	a.mu.Lock()
	a.refused = map[string]fileKey{}
	files := make(map[*source.File]*reader, len(a.reading))
	for f, rd := range a.reading {
		files[f] = rd
	}
	a.mu.Unlock()
	finished := 0
	for f, rd := range files {
		if rd.retired.Load() {
			continue
		}
		now := source.Choice{Skip: true}
		if a.match.Match(rd.path) {
			now = a.choose(rd.path)
		}
		if now.Later || sameChoice(rd.choice, now) {
			continue
		}
		a.mu.Lock()
		a.retiring[f.Origin().SourceID] = true
		a.rechoose[f.Origin().SourceID] = true
		a.mu.Unlock()
		rd.retired.Store(true)
		rd.cancel()
		finished++
		a.log.Info("finishing a file the new selection reads otherwise or not at all", "path", rd.path,
			"source_id", f.Origin().SourceID, "input", rd.choice.Input)
	}
	a.log.Info("selection changed", "paths", r.sel.Paths, "finishing", finished)
}

// sameChoice reports whether a source opened with choice was would be
// read just the same under now.
func sameChoice(was, now source.Choice) bool {
	return !now.Skip && was.Input == now.Input && was.Parse == now.Parse && was.Process == now.Process &&
		was.Route == now.Route && was.Inbox == now.Inbox && slices.Equal(was.Resource, now.Resource)
}

// reader is what run knows of a File it started.
type reader struct {
	path   string
	choice source.Choice
	cancel context.CancelFunc
	// retired: a Reselect finished the File (cancel) to release it.
	retired atomic.Bool
	// last describes the last package the File emitted (its goroutine
	// only, until Run returned).
	last lastEmitted
}

// lastEmitted is what the release of a source needs of the last package
// it emitted: the package id that follows, its identity and end offset,
// and whether it released the source already.
type lastEmitted struct {
	id        uint64
	identity  record.Identity
	endOffset int64
	end       bool
}

// emitter wraps emit to remember the last package: once emitted, a
// package belongs to delivery (and its pool), so it is read before.
func (r *reader) emitter(emit func(context.Context, *record.Package) error) func(context.Context, *record.Package) error {
	return func(ctx context.Context, p *record.Package) error {
		next := p.ID
		if p.Len() > 0 {
			next++
		}
		l := lastEmitted{id: next, identity: p.Identity, endOffset: p.EndOffset, end: p.End}
		if err := emit(ctx, p); err != nil {
			return err
		}
		r.last = l
		return nil
	}
}

// releaseRetired releases the source of a File a Reselect finished: what
// it read up to its current end was emitted when its context ended (an
// unterminated last line is left for whoever reads the file next); an
// empty last package, as a file leaving the globs ends with, marks the
// source as no longer read once the hub acknowledged everything before.
func (a *Agent) releaseRetired(drain context.Context, f *source.File, r *reader) {
	if r.last.end {
		return
	}
	p := &record.Package{Origin: f.Origin(), ID: r.last.id, Identity: r.last.identity, EndOffset: r.last.endOffset, End: true}
	if err := a.emit(drain, p); err != nil {
		// The drain deadline passed: the source is read again from its
		// checkpoint on the next start.
		a.log.Warn("a finished file's release was not delivered", "path", r.path, "err", err)
		return
	}
	a.log.Info("released a finished file", "path", r.path, "source_id", p.Origin.SourceID, "offset", p.EndOffset)
}

// released is told that the hub acknowledged a source's release: if a
// Reselect finished it, a scan may open its file again.
func (a *Agent) released(sourceID string) {
	a.mu.Lock()
	retiring := a.retiring[sourceID]
	delete(a.retiring, sourceID)
	a.mu.Unlock()
	if retiring {
		select {
		case a.rescanWake <- struct{}{}:
		default:
		}
	}
}

// rechosen reports (once) whether a Reselect finished the source since it
// was last opened.
func (a *Agent) rechosen(sourceID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok := a.rechoose[sourceID]
	delete(a.rechoose, sourceID)
	return ok
}
