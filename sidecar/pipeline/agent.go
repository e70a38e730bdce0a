// Package pipeline runs the agent: it discovers sources, reads them into
// packages, delivers the packages to the sink in order, and checkpoints what
// the hub acknowledged. Data flows source → (parse) → batch → sink; this
// package owns the goroutines and the at-least-once bookkeeping between them.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/metrics"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/sink"
	"github.com/loglet/loglet/sidecar/source"
)

// Config is what the agent needs to run; cmd/loglet fills it from flags,
// environment and the config file.
type Config struct {
	Paths, Exclude []string
	BatchBytes     int
	BatchWait      time.Duration
	MaxLineBytes   int
	// StartAtEnd skips what files found at the first scan already hold
	// when they have no checkpoint. Files that appear later are always read
	// from their start, or rotation would lose lines.
	StartAtEnd     bool
	MaxBufferBytes int64
	ScanInterval   time.Duration
	DrainTimeout   time.Duration
	// CheckpointEvery is the least time between two rounds of checkpoint
	// writes (0: DefaultCheckpointEvery). Each source's checkpoint is a
	// journal record, and records written together share a sync: with
	// hundreds of sources (node mode) a longer interval keeps the writes
	// from costing more than the reading.
	CheckpointEvery time.Duration
	// Once reads every matched file to its current end, delivers,
	// checkpoints and returns.
	Once bool
	// MaxOpenFiles bounds the files read at once (0: DefaultMaxOpenFiles).
	// Further files wait for one to close; idle files then close early.
	MaxOpenFiles int
	// CloseInactive closes a file that did not grow for this long (0:
	// DefaultCloseInactive; negative: never); it is opened again, by its
	// identity, once it changes.
	CloseInactive time.Duration
	// Resource attributes put on every record.
	Resource []record.KeyValue
	// Parse turns lines into records; nil ships lines as they are.
	Parse *parse.Spec
	// Route is where records go (Kafka topic, JetStream subject suffix)
	// when Select names none; empty: the sink's own.
	Route string
	// Links says where a matched file may lie once its symlinks are
	// resolved (the zero value: beneath its own glob's folder).
	Links source.LinkPolicy
	// Select, when set, decides per source (by the path it was found at)
	// whether it is read, how its lines are parsed, which resource
	// attributes its records carry and where they go, instead of Parse,
	// Resource and Route: a pod's sidecar reads each container's files and
	// stdout copies differently; a node agent reads each pod differently.
	// It is called once per new file and may wait a little (for metadata).
	Select func(path string) source.Choice
	// Waits says that records of a source Select chooses may wait for
	// more lines (multiline, container logs' partial lines): the read
	// buffers leave room for the lines that wait.
	Waits bool
	// PathsLater lets the agent start with no paths: a Reselect gives
	// them (a sidecar whose only inputs come from LogConfigs, which may
	// not be rendered yet).
	PathsLater bool
	// Volume is the pod's log volume (mode sidecar): its use is gauged
	// against VolumeLimit (0: not known), and it is the only folder the
	// agent deletes files in (a source's Choice.Remove). Empty: no gauge,
	// nothing deleted.
	Volume      string
	VolumeLimit int64
}

// queueDepth is how many packages may wait for the sink beyond the one it
// is writing. The files are the durable buffer: reading far ahead of the hub
// only costs memory, so a short queue that keeps the sink busy is enough;
// --max-buffer-bytes caps the total when many files emit at once.
const queueDepth = 4

// sweepEvery is how many scans pass between looks for checkpoints whose
// files left the globs (rotated away) and may have grown or vanished.
const sweepEvery = 60

// DefaultMaxOpenFiles and DefaultCloseInactive are the defaults of
// Config.MaxOpenFiles and Config.CloseInactive.
const (
	DefaultMaxOpenFiles  = 1024
	DefaultCloseInactive = 5 * time.Minute
)

// quietScans is how many scan intervals pass between full scans while
// file events work: they find new files and wake growing ones, so the
// periodic scan only covers events that were lost, and a stat of every
// file each interval is most of what ten thousand quiet files cost.
const quietScans = 10

// checkpointWriters is how many checkpoints are written at once. Saves
// that arrive together share one journal write and sync (group commit),
// so a round of thousands of new sources takes a few syncs.
const checkpointWriters = 32

// Agent is one running pipeline.
type Agent struct {
	cfg  Config
	sink sink.Sink
	// retry bounds the wait between failed deliveries (deliver).
	retry   retryBounds
	store   *checkpoint.Store
	log     *slog.Logger
	metrics *metrics.Agent
	match   *source.Matcher
	opener  *source.Opener
	scfg    source.Config

	stats  source.Stats
	pool   *record.Pool
	budget *budget
	queue  chan *record.Package
	ledger *ledger
	// published is ledger for the metrics' scrapes, which may come while
	// Run makes it.
	published atomic.Pointer[ledger]
	ckWake    chan struct{}

	// done counts what the hub took, for the summary --once ends with.
	done struct {
		records, bytes, rejected, files atomic.Int64
	}

	// stateCorrupt: a checkpoint was moved aside at start (set before the
	// first scan), so no file gets --start-at end.
	stateCorrupt bool

	mu     sync.Mutex
	live   map[fileKey]*source.File // by device and inode
	byPath map[string]*source.File
	warned map[string]bool // unreadable paths already reported
	// refused holds the matched paths the opener refused, with the file
	// they led to: tried again only once that changes (scan goroutine).
	refused map[string]fileKey
	// skip holds the matched paths Select chose not to read, so they are
	// not asked about again while they match (scan goroutine only).
	skip map[string]bool
	// open counts the Files holding a descriptor; waiting holds the paths
	// that found none free (in the order found), started as Files close.
	open      int
	waiting   []string
	crowded   atomic.Bool
	slotFreed chan struct{}
	// events tells whether file events work (else every file is polled).
	events bool
	// reading holds what run knows of each File it started: the choice it
	// was opened with, and how to finish it when a Reselect changes it.
	reading map[*source.File]*reader
	// retiring are the sources a Reselect finished whose release the hub
	// has not acknowledged yet: once it has, a scan may open their files
	// again under the new selection. rechoose are those a Reselect
	// finished that were not opened again since: the resource and route
	// their checkpoints fixed give way to the new choice's.
	retiring, rechoose map[string]bool
	// reselects takes Reselect's selections to Run's loop, which owns the
	// matcher, the opener and the scan state; rescanWake asks it to scan.
	reselects  chan reselection
	rescanWake chan struct{}
	// reapWake asks Run's loop to look for rotated files to delete (a
	// source was released); matchedAt is where the last scan found each
	// matched file (Run's goroutine only).
	// reapAgain: a file was too fresh to delete, reap looks again a scan
	// interval later (Run's goroutine only).
	reapWake  chan struct{}
	matchedAt map[fileKey]string
	reapAgain bool
	wg        sync.WaitGroup
	started   chan struct{} // closed once the first scan is done
}

// New validates cfg and returns an agent delivering to sk and checkpointing
// into store.
func New(cfg Config, sk sink.Sink, store *checkpoint.Store, log *slog.Logger) (*Agent, error) {
	if len(cfg.Paths) == 0 && !cfg.PathsLater {
		return nil, errors.New("no paths to read: give at least one --path glob, e.g. --path '/var/log/app/*.log'")
	}
	m, err := source.NewMatcher(cfg.Paths, cfg.Exclude)
	if err != nil {
		return nil, err
	}
	opener, err := source.NewOpener(cfg.Paths, cfg.Links)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		retry: retryBounds{first: 200 * time.Millisecond, max: 30 * time.Second},
		cfg:   cfg, sink: sk, store: store, log: log, match: m, opener: opener,
		refused: map[string]fileKey{}, started: make(chan struct{}),
		scfg: source.Config{
			BatchBytes:   cfg.BatchBytes,
			BatchWait:    cfg.BatchWait,
			MaxLineBytes: cfg.MaxLineBytes,
			Poll:         cfg.ScanInterval,
			CloseGrace:   max(5*cfg.ScanInterval, time.Second),
			Parse:        cfg.Parse,
			Log:          log,
		},
		budget:     newBudget(cfg.MaxBufferBytes),
		queue:      make(chan *record.Package, queueDepth),
		ckWake:     make(chan struct{}, 1),
		slotFreed:  make(chan struct{}, 1),
		live:       map[fileKey]*source.File{},
		byPath:     map[string]*source.File{},
		warned:     map[string]bool{},
		skip:       map[string]bool{},
		reading:    map[*source.File]*reader{},
		retiring:   map[string]bool{},
		rechoose:   map[string]bool{},
		reselects:  make(chan reselection),
		rescanWake: make(chan struct{}, 1),
		reapWake:   make(chan struct{}, 1),
	}
	if a.cfg.MaxOpenFiles <= 0 {
		a.cfg.MaxOpenFiles = DefaultMaxOpenFiles
	}
	switch {
	case cfg.Once:
		a.scfg.CloseGrace = 0
	case a.cfg.CloseInactive == 0:
		a.scfg.CloseInactive = DefaultCloseInactive
	case a.cfg.CloseInactive > 0:
		a.scfg.CloseInactive = a.cfg.CloseInactive
	}
	a.scfg.Crowded = a.crowded.Load
	a.scfg.Open = opener.Open
	waits := cfg.Waits || cfg.Parse != nil && cfg.Parse.Multiline()
	a.pool = record.NewPool(source.InitialBufferBytes, source.BufferBytes(cfg.BatchBytes, cfg.MaxLineBytes, waits))
	a.metrics = metrics.NewAgent(func() metrics.Reading {
		return metrics.Reading{Lines: a.stats.Lines.Load(), Bytes: a.stats.Bytes.Load(), Splits: a.stats.Splits.Load(),
			Truncations: a.stats.Truncations.Load(), Reads: a.stats.Reads.Load()}
	})
	a.metrics.ServeLag(func() []metrics.SourceLag {
		if l := a.published.Load(); l != nil {
			return l.lags()
		}
		return nil
	})
	a.metrics.ServeInvalidText(a.invalidText)
	return a, nil
}

// invalidText is what the files being read counted of records with text
// that did not decode: a file read again after it closed counts anew.
func (a *Agent) invalidText() []metrics.SourceInvalid {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []metrics.SourceInvalid
	for _, f := range a.live {
		if n := f.InvalidRecords(); n > 0 {
			o := f.Origin()
			out = append(out, metrics.SourceInvalid{Input: o.Input, SourceID: o.SourceID, Path: o.Path, Records: n})
		}
	}
	return out
}

// Metrics returns the agent's metrics, to be served.
func (a *Agent) Metrics() *metrics.Agent { return a.metrics }

// Wake has the source reading path read now, if one does. The inbox
// calls it after each append it made durable: a push is then read at
// once, not when its file event gets through the event gap that other
// files' writes opened (a pushed record would wait up to a batch wait
// more: BenchmarkPush's p99 went from 1.24 to 1.95 s).
func (a *Agent) Wake(path string) {
	a.mu.Lock()
	f := a.byPath[path]
	a.mu.Unlock()
	if f != nil {
		f.Wake()
	}
}

// Acknowledged returns how far the hub acknowledged the file found at path
// with this device and inode (-1: the agent knows no such source, or has
// not started): the push inputs remove what their inboxes hold once it
// is. The path guards against an inode reused by a new file while the
// checkpoint of a removed one is still kept.
func (a *Agent) Acknowledged(path string, dev, ino uint64) int64 {
	l := a.published.Load()
	if l == nil {
		return -1
	}
	return l.ackedAt(path, dev, ino)
}

// Ready reports whether the first scan is done.
func (a *Agent) Ready() bool {
	select {
	case <-a.started:
		return true
	default:
		return false
	}
}

// Started is closed once Ready is true.
func (a *Agent) Started() <-chan struct{} { return a.started }

// Run reads and delivers until ctx ends, then drains: every file is read to
// its current end, delivered and checkpointed within the drain timeout.
// With Once it returns after one pass.
func (a *Agent) Run(ctx context.Context) error {
	loaded, err := a.store.LoadAll()
	if err != nil {
		return err
	}
	for _, c := range loaded.Corrupt {
		a.metrics.StateCorrupt.Inc()
		a.log.Error("checkpoint is damaged: moved aside, its source is read again from its start", "file", c.Path, "moved_to", c.MovedTo, "err", c.Err)
	}
	// Such a source looks new: start-at=end must not skip it.
	a.stateCorrupt = len(loaded.Corrupt) > 0
	a.ledger = newLedger(loaded.Checkpoints)
	a.published.Store(a.ledger)

	// Delivery outlives ctx by at most the drain timeout.
	drain, stopDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDrain()
	stopTimer := context.AfterFunc(ctx, func() { time.AfterFunc(a.cfg.DrainTimeout, stopDrain) })
	defer stopTimer()

	dispatched := make(chan struct{})
	go func() { defer close(dispatched); a.dispatch(drain) }()
	ckStop := make(chan struct{})
	ckDone := make(chan struct{})
	go func() { defer close(ckDone); a.checkpoints(ckStop) }()

	var (
		events    <-chan fsnotify.Event
		watchErrs <-chan error
	)
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		a.log.Warn("file events unavailable, polling only", "interval", a.cfg.ScanInterval, "err", err)
	} else {
		defer watcher.Close()
		events, watchErrs = watcher.Events, watcher.Errors
		a.events = !a.cfg.Once
	}
	if a.events {
		a.scfg.IdlePoll = quietScans * a.cfg.ScanInterval
	}
	watched := map[string]bool{}

	a.sweep(ctx, drain, a.scan(ctx, drain, true, watcher, watched))
	close(a.started)
	if a.cfg.Volume != "" && !a.cfg.Once {
		volDone := make(chan struct{})
		defer func() { <-volDone }()
		go func() { defer close(volDone); a.watchVolume(ctx) }()
	}

	if a.cfg.Once {
		// Files beyond --max-open-files start as others finish.
		for a.hasWaiting() && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-a.slotFreed:
				a.startWaiting(ctx, drain)
			}
		}
	} else {
		// With file events the full scan is every quietScans intervals,
		// and so is the tick: an idle agent wakes for nothing between.
		every := a.cfg.ScanInterval
		if a.events {
			every *= quietScans
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		// reapRetry is armed while a file was too fresh to delete: reap
		// looks again a scan interval later.
		var reapRetry <-chan time.Time
		// A file written 100 times a second makes 100 write events a
		// second, each a wake-up of the watcher's goroutine, this loop
		// and the file's reader, whatever the bytes. After a write event,
		// events are not taken for eventGap: the watcher's goroutine then
		// waits to hand over the next one and leaves the kernel's queue
		// alone, where the writes' events merge into one (inotify merges
		// an event that repeats the last queued one). A growing file is
		// then read about twice per batch wait: when its write wakes it
		// and when the package that read began is due (the file's own
		// timer reads to the end before it cuts), so a record waits at
		// most eventGap longer, and usually not at all.
		pause := time.NewTimer(time.Hour)
		pause.Stop()
		defer pause.Stop()
		paused := false
		// reselected is closed once a Reselect's scan is done.
		var reselected chan struct{}
		for n := 1; ctx.Err() == nil; {
			rescan := false
			evs, resume := events, (<-chan time.Time)(nil)
			if paused {
				evs, resume = nil, pause.C
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
				rescan = true
			case <-reapRetry:
				reapRetry = nil
				a.reap()
			case <-resume:
				paused = false
			case ev := <-evs:
				rescan = a.onEvent(ctx, drain, ev, watcher, watched)
				write := ev.Op == fsnotify.Write
				// Take what the watcher has at hand before pausing: it
				// reads the kernel's events in batches, and one event a
				// pause would leave the files of a busy folder ever
				// further behind (a file truncated by copytruncate
				// meanwhile loses what was not read).
				for range maxEventBatch {
					runtime.Gosched() // the watcher's goroutine hands over its next event
					more := false
					select {
					case ev := <-events:
						rescan = a.onEvent(ctx, drain, ev, watcher, watched) || rescan
						write, more = write || ev.Op == fsnotify.Write, true
					default:
					}
					if !more {
						break
					}
				}
				if write && !rescan {
					paused = true
					pause.Reset(a.eventGap())
				}
			case err := <-watchErrs:
				// Usually an overflowed event queue: events were lost, so look.
				a.log.Debug("file events", "err", err)
				rescan = true
			case <-a.slotFreed:
				a.startWaiting(ctx, drain)
			case r := <-a.reselects:
				a.reselect(r)
				reselected, rescan = r.done, true
			case <-a.rescanWake:
				rescan = true
			case <-a.reapWake:
				a.reap()
			}
			if rescan && ctx.Err() == nil {
				seen := a.scan(ctx, drain, false, watcher, watched)
				if n++; n%sweepEvery == 0 || a.ledger.closedGone(seen) || reselected != nil {
					a.sweep(ctx, drain, seen)
				}
			}
			if reselected != nil {
				close(reselected)
				reselected = nil
			}
			if a.reapAgain && reapRetry == nil {
				reapRetry = time.After(a.cfg.ScanInterval)
			}
		}
		// Files that appeared since the last scan are read too: the drain
		// covers everything written before the signal.
		a.scan(ctx, drain, false, nil, watched)
	}
	a.wg.Wait()
	close(a.queue)
	<-dispatched
	close(ckStop)
	<-ckDone
	if drain.Err() != nil {
		return fmt.Errorf("drain did not finish within %s: packages not acknowledged by the hub will be sent again on the next start", a.cfg.DrainTimeout)
	}
	if a.cfg.Once {
		// What a backfill did, said once: the metrics are gone with the
		// process.
		a.log.Info("once: every matched file read to its end and delivered", "files", a.done.files.Load(),
			"records", a.done.records.Load(), "bytes", a.done.bytes.Load(), "rejected_packages", a.done.rejected.Load())
	}
	return nil
}

// maxEventGap bounds eventGap; maxEventBatch bounds the events taken
// at once before a pause.
const (
	maxEventGap   = time.Second
	maxEventBatch = 1024
)

// eventGap is how long write events wait after one was taken: the batch
// wait, no more than maxEventGap. Reads in between would only add to the
// package the file cuts when it is due, reading to the end first; a quarter
// of the batch wait read a file written every 10 ms four times as often,
// and cost a sidecar at 100 KB/s almost twice the CPU (110 against 45 context
// switches a second, BenchmarkWakeups).
func (a *Agent) eventGap() time.Duration { return min(a.cfg.BatchWait, maxEventGap) }

// onEvent wakes the file an event is about and says whether the folder
// needs a scan (a file appeared, moved or vanished). A file closed for
// being inactive that is written to is opened again. A new folder where
// matching files may go is watched at once, with what it already holds: a
// pod's folder gets its containers' folders one by one, later.
func (a *Agent) onEvent(ctx, drain context.Context, ev fsnotify.Event, w *fsnotify.Watcher, watched map[string]bool) bool {
	a.mu.Lock()
	f := a.byPath[ev.Name]
	a.mu.Unlock()
	if f != nil {
		f.Wake()
	} else if ev.Has(fsnotify.Write) && a.match.Match(ev.Name) && !a.skip[ev.Name] {
		if f := a.consider(ctx, drain, ev.Name, false); f != nil {
			a.mu.Lock()
			a.byPath[ev.Name] = f
			a.mu.Unlock()
		}
	}
	switch {
	case ev.Has(fsnotify.Create) && a.match.Leads(ev.Name):
		a.watchTree(w, watched, ev.Name)
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		// The watch went with the folder: forget it too, so a node's pods
		// that come and go leave nothing behind, and a folder made again
		// is watched again.
		delete(watched, ev.Name)
	}
	return ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove)
}

// watchTree watches dir and the folders below it that may hold matching
// files.
func (a *Agent) watchTree(w *fsnotify.Watcher, watched map[string]bool, dir string) {
	if fi, err := os.Stat(dir); watched[dir] || err != nil || !fi.IsDir() || w.Add(dir) != nil {
		return
	}
	watched[dir] = true
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if p := filepath.Join(dir, e.Name()); e.IsDir() && a.match.Leads(p) {
			a.watchTree(w, watched, p)
		}
	}
}

// scan matches the globs, starts a File for every new or changed file and
// tells the others whether they still match. It returns the device and
// inode of every matched file.
func (a *Agent) scan(ctx, drain context.Context, first bool, w *fsnotify.Watcher, watched map[string]bool) map[fileKey]bool {
	now := time.Now()
	if w != nil {
		// Before the glob is expanded: a file that appears after it is
		// then seen by its event.
		for _, r := range a.match.Roots() {
			watch(w, watched, r)
		}
	}
	found := a.match.Expand()
	seen := make(map[fileKey]bool, len(found))
	byPath := make(map[string]*source.File, len(found))
	dirs := map[string]bool{}
	skipped := map[string]bool{}
	var (
		waiting []string
		starts  []startReq
		batched = map[fileKey]int{} // index in starts
	)
	matchedAt := make(map[fileKey]string, len(found))
	for _, m := range found {
		p, info := m.Path, m.Info
		dirs[filepath.Dir(p)] = true
		if a.skip[p] {
			skipped[p] = true
			continue
		}
		key := fileKey{info.Dev, info.Inode}
		seen[key] = true
		matchedAt[key] = p
		a.mu.Lock()
		f := a.live[key]
		a.mu.Unlock()
		if f == nil {
			req, ok, wait := a.admit(p, info, first, skipped)
			if wait {
				waiting = append(waiting, p)
			}
			if i, dup := batched[key]; ok && dup {
				// Another name of a file started in this scan: tried if
				// that name is refused (a link leading out).
				a.release()
				starts[i].alts = append(starts[i].alts, req)
			} else if ok {
				batched[key] = len(starts)
				starts = append(starts, req)
			}
			continue
		}
		byPath[p] = f
		f.SetMatched(true, now)
		a.ledger.observe(f.Origin().SourceID, info.Size)
	}
	for _, r := range a.startAll(ctx, drain, starts) {
		if r.f != nil {
			byPath[r.path] = r.f
			r.f.SetMatched(true, now)
		}
	}
	a.mu.Lock()
	for key, f := range a.live {
		if !seen[key] {
			f.SetMatched(false, now)
		}
	}
	a.byPath = byPath
	a.skip = skipped
	a.matchedAt = matchedAt
	a.waiting = waiting
	if len(a.refused) > 0 {
		// Forget refusals of paths that no longer match, so links an app
		// keeps making under new names cannot grow the map.
		matched := make(map[string]bool, len(found))
		for _, m := range found {
			matched[m.Path] = true
		}
		for p := range a.refused {
			if !matched[p] {
				delete(a.refused, p)
			}
		}
	}
	a.crowded.Store(len(waiting) > 0)
	if len(waiting) > 0 {
		// Files that wait for a descriptor make idle ones close early:
		// wake them to look.
		for _, f := range a.live {
			f.Wake()
		}
	}
	a.metrics.OpenFiles.Set(float64(a.open))
	a.mu.Unlock()
	if len(waiting) > 0 {
		// Files started in this scan may have ended before the waiting
		// list was set, freeing descriptors without saying so.
		a.freed()
	}
	a.metrics.BufferedBytes.Set(float64(a.budget.inUse()))
	if w != nil {
		for d := range dirs {
			watch(w, watched, d)
		}
	}
	return seen
}

// startReq is a matched file admitted to be started.
type startReq struct {
	path   string
	info   source.FileInfo
	first  bool
	choice source.Choice
	alts   []startReq // other names of the same file
}

// started is the File a startReq started, and the name it was opened by.
type started struct {
	path string
	f    *source.File
}

// admit decides whether the matched file at path (info is its stat) is to
// be started: not while it is being read already, was closed for being
// inactive and has not changed since, or Select leaves it out (then
// skipped gets it). wait says that no descriptor was free: it is to be
// started later. A descriptor is taken for an admitted file.
func (a *Agent) admit(path string, info source.FileInfo, first bool, skipped map[string]bool) (req startReq, ok, wait bool) {
	if a.ledger.reading(info.Dev, info.Inode) || a.ledger.quiet(info.Dev, info.Inode, info.Size, info.ModTime) {
		return req, false, false
	}
	a.mu.Lock()
	k, refused := a.refused[path]
	full := a.open >= a.cfg.MaxOpenFiles
	if !full {
		a.open++ // given back by run's goroutine, or by startAll when not started
	}
	a.mu.Unlock()
	switch {
	case refused && k == (fileKey{info.Dev, info.Inode}):
	case full:
		return req, false, true
	default:
		choice := a.choose(path)
		if choice.Skip {
			skipped[path] = true
			a.log.Info("not reading: left out by the selection", "path", path)
		}
		if !choice.Later && !choice.Skip {
			return startReq{path: path, info: info, first: first, choice: choice}, true, false
		}
	}
	a.release()
	return req, false, false
}

// release gives back a descriptor admit took for a file not started.
func (a *Agent) release() {
	a.mu.Lock()
	a.open--
	a.mu.Unlock()
}

// startAll starts the admitted files, checkpointWriters at a time: a new
// source's checkpoint is written (and synced) before its first line is
// read, so that a crash and a rotation while the agent is down cannot
// lose it; with thousands of new files those writes overlap to share
// journal syncs.
func (a *Agent) startAll(ctx, drain context.Context, reqs []startReq) []started {
	files := make([]started, len(reqs))
	inParallel(len(reqs), checkpointWriters, func(i int) {
		for _, r := range append([]startReq{reqs[i]}, reqs[i].alts...) {
			if f := a.start(ctx, drain, r.path, r.info, r.first, r.choice); f != nil {
				files[i] = started{r.path, f}
				return
			}
		}
		a.release()
	})
	return files
}

// inParallel calls do(0) … do(n-1), on at most workers goroutines at once,
// and returns when all returned.
func inParallel(n, workers int, do func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range work {
				do(i)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// consider opens one matched path outside a scan: a file closed for being
// inactive that changed.
func (a *Agent) consider(ctx, drain context.Context, path string, first bool) *source.File {
	req, f, ok := a.admitPath(path, first)
	if !ok {
		return f
	}
	if f = a.start(ctx, drain, req.path, req.info, req.first, req.choice); f == nil {
		a.release()
	}
	return f
}

// admitPath is admit for a path found outside a scan: f is its File when
// one reads it already; a path no descriptor was free for waits.
func (a *Agent) admitPath(path string, first bool) (req startReq, f *source.File, ok bool) {
	info, err := source.StatPath(path)
	if err != nil {
		return req, nil, false
	}
	a.mu.Lock()
	f = a.live[fileKey{info.Dev, info.Inode}]
	a.mu.Unlock()
	if f != nil {
		return req, f, false
	}
	req, ok, wait := a.admit(path, info, first, a.skip)
	if wait {
		a.mu.Lock()
		a.waiting = append(a.waiting, path)
		a.crowded.Store(true)
		a.mu.Unlock()
	}
	return req, nil, ok
}

// freed tells Run that a descriptor may be free for a waiting file.
func (a *Agent) freed() {
	select {
	case a.slotFreed <- struct{}{}:
	default:
	}
}

// hasWaiting says whether files wait for a descriptor.
func (a *Agent) hasWaiting() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.waiting) > 0
}

// startWaiting starts the files that waited for a descriptor, as far as
// descriptors are free, together: each new source's checkpoint is synced
// before its first read, and thousands of them one after another would
// take seconds.
func (a *Agent) startWaiting(ctx, drain context.Context) {
	for {
		a.mu.Lock()
		free := a.cfg.MaxOpenFiles - a.open
		if len(a.waiting) == 0 || free <= 0 {
			a.crowded.Store(len(a.waiting) > 0)
			a.mu.Unlock()
			return
		}
		batch := a.waiting[:min(free, len(a.waiting))]
		a.waiting = a.waiting[len(batch):]
		a.mu.Unlock()
		var reqs []startReq
		for _, p := range batch {
			if req, _, ok := a.admitPath(p, false); ok {
				reqs = append(reqs, req)
			}
		}
		now := time.Now()
		for _, r := range a.startAll(ctx, drain, reqs) {
			if r.f != nil {
				a.mu.Lock()
				a.byPath[r.path] = r.f
				a.mu.Unlock()
				r.f.SetMatched(true, now)
			}
		}
	}
}

// watch adds folder d to the file events or, while d does not exist yet,
// its nearest existing parent. The folders a pod's files go into often
// appear after the agent started (a container's subPath on the shared
// volume): their creation then triggers the scan that finds the files,
// rather than the next scan interval.
func watch(w *fsnotify.Watcher, watched map[string]bool, d string) {
	for ; !watched[d]; d = filepath.Dir(d) {
		err := w.Add(d)
		if err == nil {
			watched[d] = true
			return
		}
		if !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
			return
		}
	}
}

// start opens path and starts reading it: from its checkpoint when one
// matches its identity, else as a new source.
func (a *Agent) start(ctx, drain context.Context, path string, found source.FileInfo, first bool, choice source.Choice) *source.File {
	fd, err := a.opener.Open(path)
	var refused *source.RefusedError
	switch {
	case errors.As(err, &refused):
		// Counted and logged once per path and file it leads to.
		a.mu.Lock()
		a.refused[path] = fileKey{found.Dev, found.Inode}
		a.mu.Unlock()
		a.metrics.FilesRefused.WithLabelValues(refused.Reason).Inc()
		a.log.Error("not reading a matched file", "path", path, "target", refused.Target, "reason", refused.Reason, "err", err)
		return nil
	case err != nil:
		a.warnOnce(path, "cannot open log file; fix its permissions or leave it out with --exclude", err)
		return nil
	}
	a.mu.Lock()
	delete(a.refused, path)
	a.mu.Unlock()
	id, info, err := source.Identify(fd)
	if err != nil {
		fd.Close()
		a.warnOnce(path, "cannot read log file; fix its permissions or leave it out with --exclude", err)
		return nil
	}
	if a.ledger.reading(info.Dev, info.Inode) {
		fd.Close() // its source is draining; it is not a new file
		return nil
	}
	cp, ok := a.ledger.find(info.Dev, info.Inode, func(id record.Identity) bool { return source.SameContent(fd, id) })
	if ok {
		if info.Size == cp.Offset && !a.cfg.Once {
			// Nothing new (a restart, or a file closed for being
			// inactive that was touched): it stays closed until it grows.
			fd.Close()
			a.ledger.closeInactive(cp.SourceID, info.Size, info.ModTime)
			return nil
		}
		// The head may have grown past what was fingerprinted; the tail
		// stays what the checkpoint says until the next package.
		cp.Identity.Fingerprint, cp.Identity.FingerprintLen = id.Fingerprint, id.FingerprintLen
	} else {
		cp = checkpoint.Checkpoint{SourceID: newSourceID(), Path: path, Identity: id, Updated: time.Now(), Resource: choice.Resource, Route: choice.Route}
		if first && a.cfg.StartAtEnd && !a.stateCorrupt && !choice.Inbox {
			cp.Offset = info.Size
		}
		// Written before the first line is read, so that the file is
		// found again after a crash even if it is rotated out of the
		// globs meanwhile, and re-sent lines keep their source id.
		if err := a.store.Save(cp); err != nil {
			fd.Close()
			a.log.Error("cannot write checkpoint; source not started", "path", path, "err", err)
			return nil
		}
	}
	return a.run(ctx, drain, fd, cp, info, true, choice)
}

// choose is Select's choice for path, or the agent's own settings.
func (a *Agent) choose(path string) source.Choice {
	c := source.Choice{Parse: a.cfg.Parse, Resource: a.cfg.Resource}
	if a.cfg.Select != nil {
		c = a.cfg.Select(path)
	}
	if c.Route == "" {
		c.Route = a.cfg.Route
	}
	return c
}

func (a *Agent) run(ctx, drain context.Context, fd *os.File, cp checkpoint.Checkpoint, info source.FileInfo, matched bool, choice source.Choice) *source.File {
	if a.rechosen(cp.SourceID) {
		// Released by a Reselect that changed how it is read: its records
		// carry what the new choice says from here on.
		cp.Resource, cp.Route = choice.Resource, choice.Route
		a.ledger.rechoose(cp.SourceID, choice.Resource, choice.Route)
		a.wakeCheckpoints()
	}
	reopened := a.ledger.claim(cp)
	picked := choice // as Select gave it, for Reselect to compare
	if cp.Resource != nil {
		choice.Resource, choice.Route = cp.Resource, cp.Route
	}
	scfg := a.scfg
	scfg.Parse, scfg.Process = choice.Parse, choice.Process
	newOrigin := record.NewInputOrigin
	if choice.Inbox {
		newOrigin = record.NewInboxOrigin
	}
	origin := newOrigin(cp.SourceID, cp.Path, choice.Input, choice.Resource)
	origin.Route = choice.Route
	st := source.State{Identity: cp.Identity, Offset: cp.Offset, NextPackageID: cp.NextPackageID}
	r := &reader{path: cp.Path, choice: picked, last: lastEmitted{id: cp.NextPackageID, identity: cp.Identity, endOffset: cp.Offset}}
	fctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	f := source.NewFile(scfg, fd, cp.Path, origin, st, r.emitter(a.emit), a.pool, &a.stats)
	if a.cfg.Once {
		f.SetOnce()
	}
	if !matched {
		f.SetMatched(false, time.Now())
	}
	key := fileKey{info.Dev, info.Inode}
	a.mu.Lock()
	a.live[key] = f
	a.reading[f] = r
	a.mu.Unlock()
	level := slog.LevelInfo
	if reopened {
		level = slog.LevelDebug // a file closed for being inactive grew again
	}
	a.done.files.Add(1)
	a.log.Log(ctx, level, "reading", "path", cp.Path, "source_id", cp.SourceID, "offset", cp.Offset, "next_package_id", cp.NextPackageID)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		err := f.Run(fctx, drain)
		// Finished by a Reselect: the source is released (after it left
		// the live files, so that the scan its release wakes opens the
		// file again if the new selection reads it).
		retired := err == nil && r.retired.Load() && ctx.Err() == nil
		switch {
		case retired:
		case errors.Is(err, source.ErrInactive):
			info := f.Info()
			a.ledger.closeInactive(cp.SourceID, info.Size, info.ModTime)
		case err != nil && drain.Err() == nil:
			a.log.Error("source stopped", "path", cp.Path, "source_id", cp.SourceID, "err", err)
		}
		a.mu.Lock()
		if a.live[key] == f {
			delete(a.live, key)
		}
		delete(a.reading, f)
		a.open--
		waiting := len(a.waiting) > 0
		a.mu.Unlock()
		if retired {
			a.releaseRetired(drain, f, r)
		}
		if waiting {
			a.freed()
		}
		// Its release may have been acknowledged before it left the live
		// files, where reap does not touch it.
		a.wakeReap()
	}()
	return f
}

// sweep finds the files of checkpoints no File reads that the last scan
// did not see (seen): a file renamed out of the globs (perhaps while the
// agent was down) or the copy copytruncate made is read to its end; a
// checkpoint whose file is gone is removed.
func (a *Agent) sweep(ctx, drain context.Context, seen map[fileKey]bool) {
	for _, cp := range a.ledger.orphans(seen) {
		skip := func(ino uint64) bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.live[fileKey{cp.Identity.Dev, ino}] != nil
		}
		fd := source.FindCopy(filepath.Dir(cp.Path), cp.Identity, cp.Offset, skip, a.opener.Open)
		if fd == nil {
			a.log.Info("source file is gone; forgetting its checkpoint", "path", cp.Path, "source_id", cp.SourceID, "offset", cp.Offset)
			a.ledger.drop(cp.SourceID)
			continue
		}
		info, err := source.StatFile(fd)
		if err != nil || info.Size <= cp.Offset {
			fd.Close()
			continue // read to its end already; kept until it is gone
		}
		if !a.match.Match(cp.Path) {
			// Its input was removed (a Reselect, or another configuration
			// since the last start): what it read is kept, what was
			// written since is not read unless an input takes the path
			// again, which then resumes from the checkpoint.
			fd.Close()
			a.log.Debug("not finishing a file no input reads now", "path", cp.Path, "source_id", cp.SourceID, "offset", cp.Offset)
			continue
		}
		choice := a.choose(cp.Path)
		if choice.Later || choice.Skip {
			fd.Close()
			continue
		}
		a.log.Info("finishing a rotated file", "file", fd.Name(), "path", cp.Path, "source_id", cp.SourceID, "offset", cp.Offset)
		a.mu.Lock()
		a.open++ // a rotated file is finished whatever the limit: it cannot wait
		a.mu.Unlock()
		a.run(ctx, drain, fd, cp, info, false, choice)
	}
	a.wakeCheckpoints()
	a.reap() // rotated files released before a restart
}

func (a *Agent) warnOnce(path, msg string, err error) {
	a.mu.Lock()
	seen := a.warned[path]
	a.warned[path] = true
	a.mu.Unlock()
	if !seen {
		a.log.Error(msg, "path", path, "err", err)
	}
}

// emit is how a File hands a package to delivery; it waits while the
// buffer budget is spent.
func (a *Agent) emit(ctx context.Context, p *record.Package) error {
	n := int64(cap(p.Data))
	if err := a.budget.acquire(ctx, n); err != nil {
		return err
	}
	select {
	case a.queue <- p:
		return nil
	case <-ctx.Done():
		a.budget.release(n)
		return ctx.Err()
	}
}

func newSourceID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
