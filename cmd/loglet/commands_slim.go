//go:build slim

package main

import "github.com/spf13/cobra"

// fullCommands: the slim build has only agent and version.
func fullCommands() []*cobra.Command { return nil }
