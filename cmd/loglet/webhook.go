//go:build !slim

package main

import (
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/loglet/loglet/internal/redact"
	"github.com/loglet/loglet/webhook"
)

func webhookCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Run the admission webhook that injects the loglet sidecar into pods that opt in",
		Long: `Run the mutating admission webhook (HTTPS, path /mutate-v1-pod): pods with
loglet.io/inject: "true", or in a namespace labelled loglet.io/inject=enabled,
get the loglet sidecar and a shared log volume. It reaches the API server with
the in-cluster service account (or --kubeconfig / $KUBECONFIG).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := webhook.LoadServerOptions(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			restCfg, err := ctrl.GetConfig()
			if err != nil {
				return err
			}
			log := newLogger("auto", "info")
			ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))
			// client-go's (leader election, informers) and the standard
			// library's messages (the HTTPS server's handshake errors), and
			// the signal's, in the same JSON lines, not klog's or log's text.
			slog.SetDefault(log)
			klog.SetSlogLogger(log)
			if err := crmetrics.Registry.Register(webhook.BuildInfo(version)); err != nil {
				return err
			}
			log.Info("webhook starting", "version", version, "port", opts.Port, "image", opts.Config.Image, "sink", redact.String(opts.Config.Sink))
			return webhook.Serve(cmd.Context(), restCfg, opts)
		},
	}
	webhook.ServerFlags(cmd.Flags())
	return cmd
}
