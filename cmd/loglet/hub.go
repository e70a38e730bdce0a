//go:build !slim

package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/loglet/loglet/hub"
	"github.com/loglet/loglet/internal/settings"
)

func hubCommand() *cobra.Command {
	var (
		listen, dataDir, maxBytes string
		maxAge                    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run the embedded log hub (NATS JetStream, stored on disk)",
		Long: `Run the embedded log hub: a NATS server with JetStream storing the LOGLET
stream on disk. Agents ship to the URL it prints; loglet logs reads from it.
The same stream layout works on an external NATS cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			limit, err := settings.ParseBytes(maxBytes)
			if err != nil {
				return fmt.Errorf("max-bytes %q: want a size like 10GiB", maxBytes)
			}
			h, err := hub.Start(cmd.Context(), hub.Options{Listen: listen, DataDir: dataDir, MaxAge: maxAge, MaxBytes: limit})
			if err != nil {
				return err
			}
			defer h.Shutdown()
			fmt.Fprintf(cmd.OutOrStdout(), "hub ready: agents use --sink %s\n", h.SinkURL())
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:4222", "host:port to serve NATS on (port 0: any free port)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "loglet-hub-data", "folder for the stream's files")
	cmd.Flags().DurationVar(&maxAge, "max-age", 24*time.Hour, "drop records older than this (0: keep)")
	cmd.Flags().StringVar(&maxBytes, "max-bytes", "10GiB", "drop the oldest records beyond this size (0: no limit)")
	return cmd
}
