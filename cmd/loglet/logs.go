//go:build !slim

package main

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/loglet/loglet/hub/query"
)

func logsCommand() *cobra.Command {
	var hubURL, output string
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Read records from a hub: tail, or the context around one record",
	}
	cmd.PersistentFlags().StringVar(&hubURL, "hub", "nats://127.0.0.1:4222/LOGLET", "the hub to read (nats://host:4222/STREAM)")
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "text", "text (time, pod/container, body) or json (one record per line)")

	var (
		f             query.Filter
		grep          string
		follow        bool
		before, after int
	)
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print the records the hub holds (and, with -f, new ones as they come)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grep != "" {
				re, err := regexp.Compile(grep)
				if err != nil {
					return fmt.Errorf("grep %q: %w", grep, err)
				}
				f.Grep = re
			}
			r, err := query.Open(cmd.Context(), hubURL)
			if err != nil {
				return err
			}
			defer r.Close()
			out := cmd.OutOrStdout()
			return r.Tail(cmd.Context(), f, follow, func(rec query.Record) error { return printRecord(out, output, rec) })
		},
	}
	tail.Flags().StringVarP(&f.Namespace, "namespace", "n", "", "only records of this namespace")
	tail.Flags().StringVar(&f.Pod, "pod", "", "only records of this pod")
	tail.Flags().StringVarP(&f.Container, "container", "c", "", "only records of this container")
	tail.Flags().StringVar(&f.Route, "route", "", "only records of this route")
	tail.Flags().StringVar(&grep, "grep", "", "only records whose body matches this RE2")
	tail.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new records")

	context := &cobra.Command{
		Use:   "context SOURCE_ID PACKAGE_ID OFFSET",
		Short: "Print a record with the records before and after it from the same source",
		Long: `Print a record with the records before and after it from the same source,
in order, across package boundaries. Every record printed by tail -o json
carries the three ids (loglet.source_id, loglet.package_id, loglet.offset).`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			pkg, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil {
				return fmt.Errorf("PACKAGE_ID %q: want a number", args[1])
			}
			off, err := strconv.Atoi(args[2])
			if err != nil {
				return fmt.Errorf("OFFSET %q: want a number", args[2])
			}
			r, err := query.Open(cmd.Context(), hubURL)
			if err != nil {
				return err
			}
			defer r.Close()
			recs, at, err := r.Context(cmd.Context(), args[0], pkg, off, before, after)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for i, rec := range recs {
				if output == "text" && i == at {
					fmt.Fprint(out, "> ")
				} else if output == "text" {
					fmt.Fprint(out, "  ")
				}
				if err := printRecord(out, output, rec); err != nil {
					return err
				}
			}
			return nil
		},
	}
	context.Flags().IntVar(&before, "before", 20, "records before it")
	context.Flags().IntVar(&after, "after", 20, "records after it")
	cmd.AddCommand(tail, context)
	return cmd
}

// printRecord prints one record as text or as its JSON.
func printRecord(w io.Writer, format string, rec query.Record) error {
	if format == "json" {
		_, err := fmt.Fprintf(w, "%s\n", rec.Raw)
		return err
	}
	if format != "text" {
		return fmt.Errorf("output %q: want text or json", format)
	}
	where := rec.Resource["k8s.pod.name"] + "/" + rec.Resource["k8s.container.name"]
	if where == "/" {
		p, _ := rec.Attributes["log.file.path"].(string)
		where = filepath.Base(p)
	}
	_, err := fmt.Fprintf(w, "%s %s %s\n", rec.Time, where, rec.Body)
	return err
}
