package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/loglet/loglet/internal/promtext"
	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/config"
	"github.com/loglet/loglet/sidecar/memlimit"
	"github.com/loglet/loglet/sidecar/metrics"
	"github.com/loglet/loglet/sidecar/modes"
	"github.com/loglet/loglet/sidecar/pageout"
	"github.com/loglet/loglet/sidecar/pipeline"
	"github.com/loglet/loglet/sidecar/sink"
)

func agentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Tail log files and ship them to the hub, at least once",
		Long: `Tail log files and ship them to the hub, at least once.

Every setting is a flag, a LOGLET_* environment variable (LOGLET_BATCH_BYTES)
and a key of the configuration document (batch-bytes), a YAML or JSON file
named by --config or the document itself as JSON in LOGLET_CONFIG; flags win
over the environment, which wins over the document. A document may list
inputs, each with its own files, format and route (docs/configuration.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			wired, err := modes.Wire(cfg)
			if err != nil {
				return err
			}
			log := newLogger(cfg.LogFormat, cfg.LogLevel)
			slog.SetDefault(log)
			klog.SetSlogLogger(log) // client-go's own messages (stdout: api) in the same format
			// Fit the buffer and the Go heap into the container's memory
			// limit, so a hub outage pauses reading instead of getting the
			// agent OOM-killed; what the user set explicitly wins.
			var userLimit int64
			if os.Getenv("GOMEMLIMIT") != "" {
				userLimit = debug.SetMemoryLimit(-1)
			}
			self, _ := os.ReadFile("/proc/self/cgroup")
			mem, err := memlimit.Resolve(cfg.MemoryLimit, cfg.Pipeline.MaxBufferBytes, cfg.BufferExplicit, userLimit, os.DirFS("/sys/fs/cgroup"), string(self))
			if err != nil {
				return err
			}
			for _, w := range mem.Warnings {
				log.Warn(w)
			}
			wired.Pipeline.MaxBufferBytes = mem.Buffer
			if mem.GoMemLimit > 0 {
				debug.SetMemoryLimit(mem.GoMemLimit)
			}
			log.Info("memory budget", "limit", memlimit.Format(mem.Limit), "limit_from", mem.From,
				"max_buffer_bytes", memlimit.Format(mem.Buffer), "gomemlimit", memlimit.Format(debug.SetMemoryLimit(-1)))
			store, err := checkpoint.Open(cfg.StateDir)
			if err != nil {
				return err
			}
			// One writer per state dir: a DaemonSet's update may start the
			// new agent while the old one still drains.
			if err := store.Lock(cmd.Context(), func(holder string) {
				log.Warn("the state dir is written by another loglet agent: waiting for it to exit (give each agent its own --state-dir)",
					"state_dir", cfg.StateDir, "holder", holder)
			}); err != nil {
				return err
			}
			sk, err := sink.Open(cmd.Context(), cfg.Sink, sink.Options{Logger: log})
			if err != nil {
				return err
			}
			defer sk.Close()
			agent, err := pipeline.New(wired.Pipeline, sk, store, log)
			if err != nil {
				return err
			}
			if wired.LostBytes != nil {
				agent.Metrics().Registry.MustRegister(promtext.NewGaugeFunc(
					"loglet_stdout_lost_bytes", "Bytes of stdout that loglet exec could not copy (volume full or unwritable).", wired.LostBytes))
			}
			if wired.StdoutStalls != nil {
				agent.Metrics().Registry.MustRegister(
					promtext.NewCounterFunc("loglet_stdout_stalls_total",
						"pods/log follows that went silent at a log rotation and were resumed (stdout: api).", wired.StdoutStalls),
					promtext.NewCounterFunc("loglet_stdout_gaps_total",
						"pods/log resumes whose first line came after a gap long enough to hold a rotated file the API no longer serves (stdout: api).", wired.StdoutGaps))
			}
			if err := metrics.RegisterBuildInfo(agent.Metrics().Registry, version); err != nil {
				return err
			}
			if wired.Reload != nil {
				agent.Metrics().Registry.MustRegister(wired.Reload.Collector())
			}
			if len(wired.Processors) > 0 {
				agent.Metrics().ServeProcessors(wired.Processors)
			}
			if wired.Push != nil {
				// Bound before the agent says it started: an address in
				// use is an error now, not a silent input later.
				if err := wired.Push.Listen(agent.Acknowledged, agent.Wake); err != nil {
					return err
				}
				agent.Metrics().ServePush(wired.Push.Metrics())
				for input, addr := range wired.Push.Addrs() {
					log.Info("listening", "input", input, "addr", addr)
				}
			}
			if cfg.MetricsAddr != "" {
				ready := agent.Ready
				if wired.Synced != nil {
					ready = func() bool { return agent.Ready() && wired.Synced() }
				}
				addr, err := metrics.Serve(cmd.Context(), cfg.MetricsAddr, agent.Metrics().Registry, ready, log)
				if err != nil {
					return fmt.Errorf("metrics-addr %s: %w", cfg.MetricsAddr, err)
				}
				log.Info("serving metrics", "addr", addr.String())
			}
			if cfg.ReleaseStartupPages {
				go releaseStartupPages(cmd.Context(), agent.Started(), log)
			}
			log.Info("agent starting", "version", version, "mode", cfg.Mode, "inputs", len(cfg.Inputs), "paths", wired.Pipeline.Paths, "sink", sink.Addr(sk), "state_dir", cfg.StateDir)
			// The pipeline stops once the signal came and the capture of
			// the containers' stdout drained, or, with exit-when-done,
			// once every container ended.
			signalled := cmd.Context()
			ctx, stop := context.WithCancel(context.WithoutCancel(signalled))
			defer stop()
			// The inputs that listen stop taking pushes at the signal (or
			// once every container ended, with exit-when-done); what their
			// inboxes hold is drained with the files.
			listening, stopListening := context.WithCancel(signalled)
			defer stopListening()
			pushed := make(chan struct{})
			go func() {
				defer close(pushed)
				if wired.Push == nil {
					return
				}
				if err := wired.Push.Serve(listening, log); err != nil {
					log.Error("an input stopped listening", "err", err)
				}
			}()
			// LogConfig changes are applied while the pipeline runs; its
			// drain reads what was selected last.
			reloaded := make(chan struct{})
			go func() {
				defer close(reloaded)
				// --once reads what the file said at start.
				if wired.Reload != nil && !cfg.Pipeline.Once {
					wired.Reload.Run(ctx, agent.Reselect, log)
				}
			}()
			defer func() { <-reloaded }()
			go func() {
				defer stop()
				defer func() { stopListening(); <-pushed }()
				if wired.Capture != nil && wired.Capture(signalled) == nil {
					if wired.ExitWhenDone {
						log.Info("every container has ended: draining")
						return
					}
					log.Info("every container has ended and its output was read")
				}
				<-signalled.Done()
			}()
			return agent.Run(ctx)
		},
	}
	config.AgentFlags(cmd.Flags())
	return cmd
}

// newLogger logs JSON in clusters and text on a terminal.
func newLogger(format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "auto" {
		format = "json"
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// releaseStartupPages pages out the executable once the agent has opened
// its files (sidecar/pageout): what only the start ran leaves the pod's
// resident memory.
func releaseStartupPages(ctx context.Context, started <-chan struct{}, log *slog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-started:
	}
	before, after, err := pageout.Release()
	if err != nil {
		log.Info("startup pages kept (release-startup-pages)", "err", err)
		return
	}
	mib := func(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }
	log.Info("startup pages released", "rss_before", mib(before), "rss_after", mib(after))
}
