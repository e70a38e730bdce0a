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
offline. Invalid annotations exit non-zero with the webhook's message.`,
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
			return webhook.InjectManifests(in, cmd.OutOrStdout(), cmd.ErrOrStderr(), webhook.DefaultConfig())
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "manifests to read (- for standard input)")
	return cmd
}
