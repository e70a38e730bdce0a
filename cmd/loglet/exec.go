package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/loglet/loglet/sidecar/wrap"
)

func execCommand() *cobra.Command {
	var (
		o       wrap.Options
		install string
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] -- COMMAND [ARGS...]",
		Short: "Run a command, passing its output through and copying it for the sidecar",
		Long: `Run a command with its stdout and stderr passed through unchanged (so kubectl
logs keeps working) and copied in CRI format into --dir, which the loglet sidecar
tails. Signals go to the command; the exit code is the command's (128+signal if
a signal ended it). If the copy cannot be written, output still passes through
and the lost bytes are counted in --dir/lost-bytes. The webhook's stdout: wrap
mode rewrites a container's command to this.`,
		Args: cobra.ArbitraryArgs,
		// No drain-on-signal here: wrap.Run forwards every signal to the
		// command, which decides how to end.
		PersistentPreRun: func(*cobra.Command, []string) {},
		RunE: func(cmd *cobra.Command, args []string) error {
			if install != "" {
				return wrap.Install(install)
			}
			if len(args) == 0 {
				return fmt.Errorf("no command: use loglet exec -- COMMAND [ARGS...]")
			}
			code, err := wrap.Run(cmd.Context(), args, os.Stdin, os.Stdout, os.Stderr, o)
			if err != nil {
				fmt.Fprintln(os.Stderr, "loglet exec:", err)
			}
			os.Exit(code)
			return nil
		},
	}
	dir := os.Getenv("LOGLET_STDOUT_DIR")
	if dir == "" {
		dir = filepath.Join("/var/loglet/stdout", os.Getenv("LOGLET_CONTAINER_NAME"))
	}
	cmd.Flags().StringVar(&o.Dir, "dir", dir, "folder for the copy (default $LOGLET_STDOUT_DIR, or /var/loglet/stdout/$LOGLET_CONTAINER_NAME)")
	cmd.Flags().Int64Var(&o.MaxFileBytes, "max-file-bytes", 10<<20, "rotate the copy beyond this size")
	cmd.Flags().IntVar(&o.MaxFiles, "max-files", 5, "rotated copies to keep")
	cmd.Flags().StringVar(&install, "install", "", "copy this binary to DIR/loglet and exit (the webhook's init container does this)")
	return cmd
}
