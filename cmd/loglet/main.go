// Command loglet ships container logs from Kubernetes pods to a log hub.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
			ctx, stop = withSignals(cmd.Context(), quietSignal(cmd))
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

// signalAnnotation on a command (or a parent) set to signalStop says the
// first signal only stops it: it has nothing to drain, and says nothing.
const (
	signalAnnotation = "loglet/signal"
	signalStop       = "stop"
)

// quietSignal reports whether cmd or a parent is annotated signalStop.
func quietSignal(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		if c.Annotations[signalAnnotation] == signalStop {
			return true
		}
	}
	return false
}

// withSignals cancels the context on the first SIGTERM or SIGINT (drain)
// and exits at once on the second; checkpoints are written atomically, so
// they stay intact either way. quiet: the first signal is not announced.
func withSignals(parent context.Context, quiet bool) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case s := <-sigs:
			if !quiet {
				slog.Info("signal: draining; send again to exit at once", "signal", s.String())
			}
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
// one the command has. Help is written by functions, not cobra's
// templates: text/template calls methods by name, which keeps the linker
// from dropping any unused method (it grew the slim build by 6 MB).
func humanHelp(root *cobra.Command) {
	var showVersion bool
	root.Flags().BoolVarP(&showVersion, "version", "v", false, "print the version, as loglet version does")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if showVersion {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "loglet", version)
			return err
		}
		return cmd.Help()
	}
	root.SetUsageFunc(usage)
	root.SetFlagErrorFunc(suggestFlag)
}

// usage writes the usage of c as cobra's default does, with the flags
// listed by settings.FlagUsages.
func usage(c *cobra.Command) error {
	var b strings.Builder
	b.WriteString("Usage:")
	if c.Runnable() {
		b.WriteString("\n  " + c.UseLine())
	}
	if c.HasAvailableSubCommands() {
		b.WriteString("\n  " + c.CommandPath() + " [command]")
	}
	if len(c.Aliases) > 0 {
		b.WriteString("\n\nAliases:\n  " + c.NameAndAliases())
	}
	if c.HasExample() {
		b.WriteString("\n\nExamples:\n" + c.Example)
	}
	if c.HasAvailableSubCommands() {
		b.WriteString("\n\nAvailable Commands:")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() || sub.Name() == "help" {
				fmt.Fprintf(&b, "\n  %-*s %s", sub.NamePadding(), sub.Name(), sub.Short)
			}
		}
	}
	if c.HasAvailableLocalFlags() {
		b.WriteString("\n\nFlags:\n" + strings.TrimRight(settings.FlagUsages(c.LocalFlags()), " \n"))
	}
	if c.HasAvailableInheritedFlags() {
		b.WriteString("\n\nGlobal Flags:\n" + strings.TrimRight(settings.FlagUsages(c.InheritedFlags()), " \n"))
	}
	if c.HasHelpSubCommands() {
		b.WriteString("\n\nAdditional help topics:")
		for _, sub := range c.Commands() {
			if sub.IsAdditionalHelpTopicCommand() {
				fmt.Fprintf(&b, "\n  %-*s %s", sub.CommandPathPadding(), sub.CommandPath(), sub.Short)
			}
		}
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\n\nUse \"%s [command] --help\" for more information about a command.", c.CommandPath())
	}
	b.WriteString("\n")
	_, err := io.WriteString(c.OutOrStderr(), b.String())
	return err
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
