//go:build !slim

package main

import "github.com/spf13/cobra"

// fullCommands are the commands the slim sidecar build leaves out: they
// link the NATS server and the readers.
func fullCommands() []*cobra.Command {
	return []*cobra.Command{hubCommand(), logsCommand(), injectCommand(), webhookCommand(), statusCommand()}
}
