// Command loglet ships container logs from Kubernetes pods to a log hub.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/loglet/loglet/internal/settings"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	stop := func() {}
	root := &cobra.Command{
		Use:           "loglet",
		Short:         "Ship container logs from Kubernetes pods to a central log hub",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every command drains on the first signal, unless it sets its own
		// PersistentPreRun (loglet exec forwards signals instead).
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			var ctx context.Context
			ctx, stop = withSignals(cmd.Context())
			cmd.SetContext(ctx)
		},
	}
	root.AddCommand(agentCommand(), execCommand(), versionCommand())
	root.AddCommand(fullCommands()...)
	humanHelp(root)
	err := root.ExecuteContext(context.Background())
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loglet:", err)
		os.Exit(1)
	}
}

// withSignals cancels the context on the first SIGTERM or SIGINT (drain)
// and exits at once on the second; checkpoints are written atomically, so
// they stay intact either way.
func withSignals(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case s := <-sigs:
			slog.Info("signal: draining; send again to exit at once", "signal", s.String())
			cancel()
		case <-ctx.Done():
			return
		}
		s := <-sigs
		slog.Warn("second signal: exiting without draining", "signal", s.String())
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(sigs); cancel() }
}

// humanHelp makes help and flag errors speak as a user writes: --version
// on the root, flags listed without [=true|false] and with sizes in units
// (settings.FlagUsages), and an unknown flag answered with the nearest
// one the command has.
func humanHelp(root *cobra.Command) {
	root.Version = version
	root.SetVersionTemplate("loglet {{.Version}}\n")
	cobra.AddTemplateFunc("flagUsages", settings.FlagUsages)
	root.SetUsageTemplate(strings.NewReplacer(
		".LocalFlags.FlagUsages", "flagUsages .LocalFlags",
		".InheritedFlags.FlagUsages", "flagUsages .InheritedFlags",
	).Replace(root.UsageTemplate()))
	root.SetFlagErrorFunc(suggestFlag)
}

// suggestFlag adds to pflag's "unknown flag: --x" the nearest flag of
// the command, or where to find them.
func suggestFlag(cmd *cobra.Command, err error) error {
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok {
		return err
	}
	name, _, _ = strings.Cut(name, "=")
	var known []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			known = append(known, f.Name)
		}
	})
	if near := settings.Suggest(name, known); near != "" {
		return fmt.Errorf("%s; did you mean --%s?", msg, near)
	}
	return fmt.Errorf("%s; %s --help lists the flags", msg, cmd.CommandPath())
}

// buildInfo is what version -o json prints.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				b.Commit = s.Value
			}
		}
	}
	return b
}

func versionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "":
				fmt.Fprintln(cmd.OutOrStdout(), "loglet", version)
				return nil
			case "json":
				e := json.NewEncoder(cmd.OutOrStdout())
				e.SetIndent("", "  ")
				return e.Encode(readBuildInfo())
			}
			return fmt.Errorf("-o %s: want json, or no -o for one line", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json: version, commit (when built from a checkout), Go version and platform as a JSON document")
	return cmd
}
