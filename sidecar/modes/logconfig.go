package modes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/loglet/loglet/internal/promtext"
	"github.com/loglet/loglet/logconfig"
	"github.com/loglet/loglet/sidecar/config"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/pipeline"
	"github.com/loglet/loglet/sidecar/pod"
	"github.com/loglet/loglet/sidecar/process"
)

// LogConfigs applies the LogConfigs rendered for the sidecar's namespace
// (the mounted ConfigMap, logconfig.File) to its pod while it runs: the
// inputs whose name holds a / (those the webhook wrote from the same
// configs when it injected) are replaced by what the file renders for the
// pod, each time the kubelet updates it.
type LogConfigs struct {
	file   string
	volume string
	// containers are the pod's (container-images), sorted.
	containers []string
	mounts     logconfig.Mounts
	opts       config.InputOptions
	// processors are the document's own, which run after each input's;
	// popt compiles them (the redact salt).
	processors []process.Config
	popt       process.Options
	side       *sidecarReads

	// What is applied (Run's goroutine, after Wire).
	// data is the file's content applied last; seen: the file existed.
	data []byte
	seen bool
	// bad is the content last refused, not reported again until it
	// changes.
	bad     []byte
	current []lcInput
	// unshared are the files (input, container:glob) the last load found
	// in folders not shared with the sidecar; said holds those reported
	// already.
	unshared [][2]string
	said     map[string]bool
	// first is what reading the file at start found, reported when Run
	// starts (the logger comes after Wire).
	first   error
	applied bool

	reloads *promtext.CounterVec
}

// lcInput is one LogConfig input as loaded, with what it was loaded from:
// an input whose definition did not change keeps its compiled parsing and
// processors, so the files it reads go on untouched.
type lcInput struct {
	def    string
	in     config.Input
	stdout []string // containers whose stdout it reads
	spec   *parse.Spec
}

// Reload results, the label of loglet_logconfig_reloads_total.
const (
	reloadApplied = "applied"
	reloadInvalid = "invalid"
)

// logConfigPoll is how often the file is read when no event came: the
// fallback for a volume without file events.
const logConfigPoll = 5 * time.Second

// Collector is loglet_logconfig_reloads_total, to be registered.
func (l *LogConfigs) Collector() promtext.Collector { return l.reloads }

// newLogConfigs reads the file at start. A file absent (the ConfigMap is
// optional and may come later) or refused leaves the inputs the webhook
// wrote.
func newLogConfigs(c config.Agent, side *sidecarReads) *LogConfigs {
	l := &LogConfigs{
		file: c.Sidecar.LogConfigFile, volume: c.Sidecar.Volume, mounts: c.Sidecar.Mounts,
		opts:       config.InputOptions{MaxLineBytes: int64(c.Pipeline.MaxLineBytes), Salt: c.ProcessOptions.Salt},
		processors: c.Processors, popt: c.ProcessOptions, side: side, said: map[string]bool{},
		reloads: promtext.NewCounterVec("loglet_logconfig_reloads_total",
			"Reads of a changed LogConfig file (the mounted ConfigMap) by result: applied, or invalid (the running inputs kept; the agent's log says why).",
			"result"),
	}
	for _, r := range []string{reloadApplied, reloadInvalid} {
		l.reloads.WithLabelValues(r)
	}
	for ctr := range c.Sidecar.Images {
		l.containers = append(l.containers, ctr)
	}
	slices.Sort(l.containers)
	return l
}

// start loads the file as it is when the agent starts: the inputs to
// begin with, those the webhook wrote (fromWebhook) when there is no file
// yet or it is refused.
func (l *LogConfigs) start(fromWebhook []config.Input) []lcInput {
	for _, in := range fromWebhook {
		l.current = append(l.current, lcInput{in: in})
	}
	data, err := os.ReadFile(l.file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l.current
	case err != nil:
		l.first = err
		return l.current
	}
	l.seen = true
	loaded, err := l.load(data)
	if err != nil {
		l.first, l.bad = err, data
		return l.current
	}
	l.current, l.data, l.applied = loaded, data, true
	return loaded
}

// load reads a rendered document into the inputs it gives this pod. The
// error names the file and what is wrong in it.
func (l *LogConfigs) load(data []byte) ([]lcInput, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil // the ConfigMap was deleted: no LogConfigs now
	}
	r, err := logconfig.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.file, err)
	}
	labels, err := l.labels()
	if err != nil {
		return nil, err
	}
	var (
		docs   []any
		stdout [][]string
	)
	l.unshared = l.unshared[:0]
	for _, pi := range logconfig.PodInputs(logconfig.ForPod(r.Configs, labels), l.containers, l.mounts, l.volume) {
		for _, u := range pi.Unshared {
			l.unshared = append(l.unshared, [2]string{pi.Name, u})
		}
		if len(pi.Input.Files) == 0 && len(pi.Stdout) == 0 {
			continue // nothing of it can be read in this pod
		}
		doc, err := logconfig.Document(pi.Input)
		if err != nil {
			return nil, fmt.Errorf("%s: input %s: %w", l.file, pi.Name, err)
		}
		docs = append(docs, doc)
		stdout = append(stdout, pi.Stdout)
	}
	if len(docs) == 0 {
		return nil, nil
	}
	ins, err := config.LoadInputs(docs, l.opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.file, err)
	}
	out := make([]lcInput, len(ins))
	for i, in := range ins {
		def, err := json.Marshal([]any{docs[i], stdout[i]})
		if err != nil {
			return nil, err
		}
		if old := l.find(in.Name); old != nil && old.def == string(def) {
			out[i] = *old
			continue
		}
		if in.Process, err = process.Compile(in.Name, slices.Concat(in.Processors, l.processors), l.popt); err != nil {
			return nil, fmt.Errorf("%s: input %s: %w", l.file, in.Name, err)
		}
		li := lcInput{def: string(def), in: in, stdout: stdout[i]}
		if len(li.stdout) > 0 && l.side.capture != "off" {
			if li.spec, err = parse.Compile(l.side.stdoutConfig(in.ParseConfig)); err != nil {
				return nil, fmt.Errorf("%s: input %s: stdout: %w", l.file, in.Name, err)
			}
		}
		out[i] = li
	}
	return out, nil
}

// find is the input of this name applied now, or nil.
func (l *LogConfigs) find(name string) *lcInput {
	for i := range l.current {
		if l.current[i].in.Name == name && l.current[i].def != "" {
			return &l.current[i]
		}
	}
	return nil
}

// labels are the pod's, from the downward API's file on the volume (read
// at each reload: the kubelet updates it when the labels change); none
// when it is absent.
func (l *LogConfigs) labels() (map[string]string, error) {
	path := filepath.Join(l.volume, pod.LabelsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pod labels: %w", err)
	}
	labels, err := pod.ParseLabels(b)
	if err != nil {
		return nil, fmt.Errorf("pod labels %s: %w", path, err)
	}
	return labels, nil
}

// Run applies the file's changes until ctx ends: apply gets the new
// selection (pipeline.Agent.Reselect). It watches the file's folder, as
// the kubelet updates a ConfigMap volume by swapping the folder's ..data
// symlink (the file's own watch would stay on the old content), and reads
// the file every logConfigPoll too, in case events are lost or the volume
// gives none.
func (l *LogConfigs) Run(ctx context.Context, apply func(context.Context, pipeline.Selection) error, log *slog.Logger) {
	switch {
	case l.first != nil:
		l.reloads.WithLabelValues(reloadInvalid).Inc()
		log.Error("LogConfig file refused: the inputs the webhook wrote are read until it is fixed", "file", l.file, "err", l.first)
	case l.applied:
		l.reloads.WithLabelValues(reloadApplied).Inc()
		log.Info("LogConfigs applied", "file", l.file, "inputs", l.names())
		l.report(log)
	default:
		log.Info("no LogConfig file yet: the inputs the webhook wrote are read until it appears", "file", l.file)
	}
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
	)
	if w, err := fsnotify.NewWatcher(); err != nil {
		log.Warn("file events unavailable: the LogConfig file is polled", "file", l.file, "interval", logConfigPoll, "err", err)
	} else {
		defer w.Close()
		if err := w.Add(filepath.Dir(l.file)); err != nil {
			log.Warn("cannot watch the LogConfig folder: the file is polled", "folder", filepath.Dir(l.file), "interval", logConfigPoll, "err", err)
		}
		events, errs = w.Events, w.Errors
	}
	tick := time.NewTicker(logConfigPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
		case <-errs: // events were lost (the queue overflowed): look
		case <-tick.C:
		}
		l.check(ctx, apply, log)
	}
}

// check reads the file and applies it when it changed.
func (l *LogConfigs) check(ctx context.Context, apply func(context.Context, pipeline.Selection) error, log *slog.Logger) {
	data, err := os.ReadFile(l.file)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !l.seen:
		return // not rendered yet: the webhook's inputs go on
	case errors.Is(err, fs.ErrNotExist):
		data = nil // the ConfigMap is gone: no LogConfigs now
	case err != nil:
		log.Warn("cannot read the LogConfig file", "file", l.file, "err", err)
		return
	}
	l.seen = true
	if l.applied && bytes.Equal(data, l.data) || l.bad != nil && bytes.Equal(data, l.bad) {
		return
	}
	loaded, err := l.load(data)
	if err == nil {
		err = apply(ctx, l.side.selection(loaded))
	}
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		l.bad = slices.Clone(data)
		l.reloads.WithLabelValues(reloadInvalid).Inc()
		log.Error("LogConfig file refused: the running inputs are kept", "file", l.file, "err", err)
		return
	}
	l.current, l.data, l.bad, l.applied = loaded, slices.Clone(data), nil, true
	l.reloads.WithLabelValues(reloadApplied).Inc()
	log.Info("LogConfigs applied", "file", l.file, "inputs", l.names())
	l.report(log)
}

// report logs, once each, the files the applied inputs cannot read: the
// pod must be created again for the webhook to share their folders.
func (l *LogConfigs) report(log *slog.Logger) {
	for _, u := range l.unshared {
		if key := u[0] + " " + u[1]; !l.said[key] {
			l.said[key] = true
			log.Warn("a LogConfig input's files are in a folder not shared with the sidecar: they are read once the pod is created again (the webhook shares the folders the pod's LogConfigs name when it injects)",
				"input", u[0], "file", u[1])
		}
	}
}

// names are the LogConfig inputs applied.
func (l *LogConfigs) names() string {
	var names []string
	for _, c := range l.current {
		names = append(names, c.in.Name)
	}
	return strings.Join(names, ",")
}
