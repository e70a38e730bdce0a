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
	// writes (0: DefaultCheckpointEvery). Each source's checkpoint is one
	// file: with hundreds of sources (node mode) a longer interval keeps
	// the writes from costing more than the reading.
	CheckpointEvery time.Duration
	// Once reads every matched file to its current end, delivers,
	// checkpoints and returns.
	Once bool
	// Resource attributes put on every record.
	Resource []record.KeyValue
	// Parse turns lines into records; nil ships lines as they are.
	Parse *parse.Spec
	// Route is where records go (Kafka topic, JetStream subject suffix)
	// when Select names none; empty: the sink's own.
	Route string
	// Select, when set, decides per source (by the path it was found at)
	// whether it is read, how its lines are parsed, which resource
	// attributes its records carry and where they go, instead of Parse,
	// Resource and Route: a pod's sidecar reads each container's files and
	// stdout copies differently; a node agent reads each pod differently.
	// It is called once per new file and may wait a little (for metadata).
	Select func(path string) source.Choice
}

// queueDepth is how many packages may wait for the sink beyond the one it
// is writing. The files are the durable buffer: reading far ahead of the hub
// only costs memory, so a short queue that keeps the sink busy is enough;
// --max-buffer-bytes caps the total when many files emit at once.
const queueDepth = 4

// sweepEvery is how many scans pass between looks for checkpoints whose
// files left the globs (rotated away) and may have grown or vanished.
const sweepEvery = 60

// Agent is one running pipeline.
type Agent struct {
	cfg     Config
	sink    sink.Sink
	store   *checkpoint.Store
	log     *slog.Logger
	metrics *metrics.Agent
	match   *source.Matcher
	scfg    source.Config

	stats  source.Stats
	pool   *record.Pool
	budget *budget
	queue  chan *record.Package
	ledger *ledger
	ckWake chan struct{}

	// stateCorrupt: a checkpoint was moved aside at start (set before the
	// first scan), so no file gets --start-at end.
	stateCorrupt bool

	mu     sync.Mutex
	live   map[fileKey]*source.File // by device and inode
	byPath map[string]*source.File
	warned map[string]bool // unreadable paths already reported
	// skip holds the matched paths Select chose not to read, so they are
	// not asked about again while they match (scan goroutine only).
	skip  map[string]bool
	wg    sync.WaitGroup
	ready atomic.Bool
}

type fileKey struct{ dev, ino uint64 }

// New validates cfg and returns an agent delivering to sk and checkpointing
// into store.
func New(cfg Config, sk sink.Sink, store *checkpoint.Store, log *slog.Logger) (*Agent, error) {
	if len(cfg.Paths) == 0 {
		return nil, errors.New("no paths to read: give at least one --path glob, e.g. --path '/var/log/app/*.log'")
	}
	m, err := source.NewMatcher(cfg.Paths, cfg.Exclude)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, sink: sk, store: store, log: log, match: m,
		scfg: source.Config{
			BatchBytes:   cfg.BatchBytes,
			BatchWait:    cfg.BatchWait,
			MaxLineBytes: cfg.MaxLineBytes,
			Poll:         cfg.ScanInterval,
			CloseGrace:   max(5*cfg.ScanInterval, time.Second),
			Parse:        cfg.Parse,
		},
		budget: newBudget(cfg.MaxBufferBytes),
		queue:  make(chan *record.Package, queueDepth),
		ckWake: make(chan struct{}, 1),
		live:   map[fileKey]*source.File{},
		byPath: map[string]*source.File{},
		warned: map[string]bool{},
		skip:   map[string]bool{},
	}
	if cfg.Once {
		a.scfg.CloseGrace = 0
	}
	// A source Select chooses may wait for the rest of a record too.
	waits := cfg.Select != nil || cfg.Parse != nil && cfg.Parse.Multiline()
	a.pool = record.NewPool(source.InitialBufferBytes, source.BufferBytes(cfg.BatchBytes, cfg.MaxLineBytes, waits))
	a.metrics = metrics.NewAgent(func() (int64, int64, int64, int64) {
		return a.stats.Lines.Load(), a.stats.Bytes.Load(), a.stats.Splits.Load(), a.stats.Truncations.Load()
	})
	return a, nil
}

// Metrics returns the agent's metrics, to be served.
func (a *Agent) Metrics() *metrics.Agent { return a.metrics }

// Ready reports whether the first scan is done.
func (a *Agent) Ready() bool { return a.ready.Load() }

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
	}
	watched := map[string]bool{}

	a.scan(ctx, drain, true, watcher, watched)
	a.sweep(ctx, drain)
	a.ready.Store(true)

	if !a.cfg.Once {
		tick := time.NewTicker(a.cfg.ScanInterval)
		defer tick.Stop()
		for n := 1; ctx.Err() == nil; {
			rescan := false
			select {
			case <-ctx.Done():
			case <-tick.C:
				rescan = true
			case ev := <-events:
				rescan = a.onEvent(ev, watcher, watched)
			case err := <-watchErrs:
				// Usually an overflowed event queue: events were lost, so look.
				a.log.Debug("file events", "err", err)
				rescan = true
			}
			if rescan && ctx.Err() == nil {
				a.scan(ctx, drain, false, watcher, watched)
				if n++; n%sweepEvery == 0 {
					a.sweep(ctx, drain)
				}
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
	return nil
}

// onEvent wakes the file an event is about and says whether the folder
// needs a scan (a file appeared, moved or vanished). A new folder where
// matching files may go is watched at once, with what it already holds: a
// pod's folder gets its containers' folders one by one, later.
func (a *Agent) onEvent(ev fsnotify.Event, w *fsnotify.Watcher, watched map[string]bool) bool {
	a.mu.Lock()
	f := a.byPath[ev.Name]
	a.mu.Unlock()
	if f != nil {
		f.Wake()
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

// scan matches the globs, starts a File for every new file and tells the
// others whether they still match.
func (a *Agent) scan(ctx, drain context.Context, first bool, w *fsnotify.Watcher, watched map[string]bool) {
	now := time.Now()
	if w != nil {
		// Before the glob is expanded: a file that appears after it is
		// then seen by its event.
		for _, r := range a.match.Roots() {
			watch(w, watched, r)
		}
	}
	paths := a.match.Expand()
	seen := make(map[fileKey]bool, len(paths))
	byPath := make(map[string]*source.File, len(paths))
	dirs := map[string]bool{}
	skipped := map[string]bool{}
	for _, p := range paths {
		dirs[filepath.Dir(p)] = true
		if a.skip[p] {
			skipped[p] = true
			continue
		}
		info, err := source.StatPath(p)
		if err != nil {
			continue
		}
		key := fileKey{info.Dev, info.Inode}
		seen[key] = true
		a.mu.Lock()
		f := a.live[key]
		a.mu.Unlock()
		if f == nil {
			choice := a.choose(p)
			if choice.Later {
				continue
			}
			if choice.Skip {
				skipped[p] = true
				a.log.Info("not reading: left out by the selection", "path", p)
				continue
			}
			f = a.start(ctx, drain, p, first, choice)
		}
		if f == nil {
			continue
		}
		byPath[p] = f
		f.SetMatched(true, now)
		if off, ok := a.ledger.acked(f.Origin().SourceID); ok {
			a.metrics.Lag.WithLabelValues(f.Origin().SourceID, f.Origin().Path).Set(float64(max(info.Size-off, 0)))
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
	a.metrics.OpenFiles.Set(float64(len(a.live)))
	a.mu.Unlock()
	a.metrics.BufferedBytes.Set(float64(a.budget.inUse()))
	if w != nil {
		for d := range dirs {
			watch(w, watched, d)
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
func (a *Agent) start(ctx, drain context.Context, path string, first bool, choice source.Choice) *source.File {
	fd, err := os.Open(path)
	if err != nil {
		a.warnOnce(path, "cannot open log file; fix its permissions or leave it out with --exclude", err)
		return nil
	}
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
		cp.Identity = id
	} else {
		cp = checkpoint.Checkpoint{SourceID: newSourceID(), Path: path, Identity: id, Updated: time.Now(), Resource: choice.Resource, Route: choice.Route}
		if first && a.cfg.StartAtEnd && !a.stateCorrupt {
			cp.Offset = info.Size
		}
		// Written before the first line is read, so the source id
		// survives a crash and re-sent lines keep it.
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
	a.ledger.claim(cp)
	if cp.Resource != nil {
		choice.Resource, choice.Route = cp.Resource, cp.Route
	}
	scfg := a.scfg
	scfg.Parse = choice.Parse
	origin := record.NewOrigin(cp.SourceID, cp.Path, choice.Resource)
	origin.Route = choice.Route
	st := source.State{Identity: cp.Identity, Offset: cp.Offset, NextPackageID: cp.NextPackageID}
	f := source.NewFile(scfg, fd, cp.Path, origin, st, a.emit, a.pool, &a.stats)
	if a.cfg.Once {
		f.SetOnce()
	}
	if !matched {
		f.SetMatched(false, time.Now())
	}
	key := fileKey{info.Dev, info.Inode}
	a.mu.Lock()
	a.live[key] = f
	a.mu.Unlock()
	a.log.Info("reading", "path", cp.Path, "source_id", cp.SourceID, "offset", cp.Offset, "next_package_id", cp.NextPackageID)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := f.Run(ctx, drain); err != nil && drain.Err() == nil {
			a.log.Error("source stopped", "path", cp.Path, "source_id", cp.SourceID, "err", err)
		}
		a.mu.Lock()
		if a.live[key] == f {
			delete(a.live, key)
		}
		a.mu.Unlock()
		a.metrics.Lag.DeleteLabelValues(cp.SourceID, cp.Path)
	}()
	return f
}

// sweep finds the files of checkpoints no File reads: a file renamed out of
// the globs (perhaps while the agent was down) or the copy copytruncate made
// is read to its end; a checkpoint whose file is gone is removed.
func (a *Agent) sweep(ctx, drain context.Context) {
	for _, cp := range a.ledger.orphans() {
		skip := func(ino uint64) bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.live[fileKey{cp.Identity.Dev, ino}] != nil
		}
		fd := source.FindCopy(filepath.Dir(cp.Path), cp.Identity, cp.Offset, skip)
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
		choice := a.choose(cp.Path)
		if choice.Later || choice.Skip {
			fd.Close()
			continue
		}
		a.log.Info("finishing a rotated file", "file", fd.Name(), "path", cp.Path, "source_id", cp.SourceID, "offset", cp.Offset)
		a.run(ctx, drain, fd, cp, info, false, choice)
	}
	a.wakeCheckpoints()
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
