//go:build !slim

package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/loglet/loglet/webhook"
)

func injectCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "inject -f FILE|-",
		Short: "Print Kubernetes manifests as the webhook would mutate them",
		Long: `Print Kubernetes manifests (Pods, and the pod templates of Deployments,
StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs) as the loglet webhook
would mutate them: the preview to run before trusting the webhook. Pods opt in
with the loglet.io/inject: "true" annotation; namespace labels are not known
offline. The sidecar gets its configuration as one document in LOGLET_CONFIG,
checked as the webhook checks it: with the agent's own loader. Invalid
annotations, and ones the sidecar could not start with (loglet.io/format: csv
without loglet.io/csv-fields), exit non-zero with the webhook's message. It
takes the webhook's settings (--config, --image, --sink, --agent-setting, …),
so it previews exactly what that webhook does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var in io.Reader = os.Stdin
			switch file {
			case "":
				return fmt.Errorf("give the manifests with -f FILE, or -f - for standard input")
			case "-":
			default:
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			// The webhook's own settings: the same --config file gives the
			// same pods. Offline, native-sidecar auto means native.
			opts, err := webhook.LoadServerOptions(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			opts.Config.NativeSidecar = opts.NativeSidecar != "never"
			return webhook.InjectManifests(in, cmd.OutOrStdout(), cmd.ErrOrStderr(), opts.Config)
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "manifests to read (- for standard input)")
	webhook.ServerFlags(cmd.Flags())
	return cmd
}
