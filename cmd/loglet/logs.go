//go:build !slim

package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/loglet/loglet/hub/query"
)

func logsCommand() *cobra.Command {
	var hubURL, output string
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Read records from a hub: tail, or the context around one record",
		// A reader has nothing to drain: Ctrl-C just stops it.
		Annotations: map[string]string{signalAnnotation: signalStop},
	}
	cmd.PersistentFlags().StringVar(&hubURL, "hub", "nats://127.0.0.1:4222/LOGLET", "the hub to read (nats://host:4222/STREAM)")
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "text", "text (time, severity, namespace/pod/container, body), json (one record per line) or raw (the body)")

	var (
		q             logsQuery
		before, after int
	)
	tail := &cobra.Command{
		Use:     "tail",
		Aliases: []string{"search"},
		Short:   "Print the records a query selects (and, with -f, new ones as they come)",
		Long: `Print the records a query selects, oldest first: all the hub holds, those of
a time range (--since, --until), or the last N (--tail); with -f, new ones as
they come. --namespace, --pod, --container and --route are filtered by the hub
(NATS subjects); --severity, --where and --grep by loglet logs.`,
		Example: `  loglet logs tail -n shop --since 5m --severity WARN
  loglet logs search --grep 'order 4711' --where k8s.pod.label.app=checkout -o json
  loglet logs tail --tail 20 -f -c nginx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, o, err := q.build(time.Now())
			if err != nil {
				return err
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			r, err := query.Open(cmd.Context(), hubURL)
			if err != nil {
				return err
			}
			defer r.Close()
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			defer out.Flush()
			skipped := 0
			o.Skipped = func(s query.Skipped) {
				skipped++
				fmt.Fprintf(cmd.ErrOrStderr(), "skipped %s\n", s)
			}
			count := 0
			err = r.Tail(cmd.Context(), f, o, func(rec query.Record) error {
				count++
				if q.Count {
					return nil
				}
				if err := printRecord(out, output, rec); err != nil {
					return err
				}
				if o.Follow {
					return out.Flush()
				}
				return nil
			})
			if q.Count {
				fmt.Fprintln(out, count)
			}
			if skipped > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "skipped %d message(s) that are not loglet packages\n", skipped)
			}
			return err
		},
	}
	q.flags(tail)

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
			if err := checkOutput(output); err != nil {
				return err
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

// logsQuery holds the flags of logs tail: query.Params, which the
// console's API reads from a URL by the same names.
type logsQuery struct {
	query.Params
}

func (q *logsQuery) flags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVarP(&q.Namespace, "namespace", "n", "", "only records of this namespace")
	fs.StringVar(&q.Pod, "pod", "", "only records of this pod")
	fs.StringVarP(&q.Container, "container", "c", "", "only records of this container")
	fs.StringVar(&q.Route, "route", "", "only records of this route")
	fs.DurationVar(&q.Since, "since", 0, "only records of the last duration (e.g. 10m, 2h)")
	fs.StringVar(&q.SinceTime, "since-time", "", "only records at or after this time (RFC 3339, e.g. 2026-12-01T10:00:00Z)")
	fs.StringVar(&q.Until, "until", "", "only records at or before this time (RFC 3339, or a duration ago, e.g. 5m)")
	fs.IntVar(&q.Tail, "tail", 0, "only the last N records the query selects (0: all)")
	fs.StringVar(&q.Severity, "severity", "", "only records of this severity and above (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)")
	fs.StringArrayVar(&q.Where, "where", nil, "key=value, key!=value or key~=RE2 on a resource or attribute key, e.g. k8s.pod.label.app=shop (repeat: all must hold)")
	fs.StringVar(&q.Grep, "grep", "", "only records whose body, severity or an attribute value matches this RE2")
	fs.BoolVarP(&q.Follow, "follow", "f", false, "keep printing new records")
	fs.BoolVar(&q.Count, "count", false, "print how many records the query selects, not the records")
}

// build checks the flags and makes the query.
func (q *logsQuery) build(now time.Time) (query.Filter, query.Options, error) {
	return q.Params.Build(now)
}

// checkOutput checks -o before anything is read (root's PersistentPreRun
// handles signals: logs has none of its own).
func checkOutput(format string) error {
	switch format {
	case "text", "json", "raw":
		return nil
	}
	return fmt.Errorf("output %q: want text, json or raw", format)
}

// printRecord prints one record: its JSON, its body alone (raw), or text
// (time, severity, where from, body).
func printRecord(w io.Writer, format string, rec query.Record) error {
	switch format {
	case "json":
		_, err := fmt.Fprintf(w, "%s\n", rec.Raw)
		return err
	case "raw":
		_, err := fmt.Fprintln(w, rec.Body)
		return err
	}
	where := rec.Resource["k8s.namespace.name"] + "/" + rec.Resource["k8s.pod.name"] + "/" + rec.Resource["k8s.container.name"]
	if where == "//" {
		p, _ := rec.Attributes["log.file.path"].(string)
		where = filepath.Base(p)
	}
	_, err := fmt.Fprintf(w, "%s %-5s %s %s\n", rec.Time, cmp.Or(rec.Severity, "-"), where, rec.Body)
	return err
}
