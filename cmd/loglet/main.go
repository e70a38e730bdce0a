// Command loglet ships container logs from Kubernetes pods to a log hub.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
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

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "loglet", version)
		},
	}
}
