//go:build !slim

package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
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
				if q.count {
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
			if q.count {
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

// logsQuery holds the flags of logs tail.
type logsQuery struct {
	f                query.Filter
	grep, severity   string
	since            time.Duration
	sinceTime, until string
	where            []string
	last             int
	follow, count    bool
}

func (q *logsQuery) flags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVarP(&q.f.Namespace, "namespace", "n", "", "only records of this namespace")
	fs.StringVar(&q.f.Pod, "pod", "", "only records of this pod")
	fs.StringVarP(&q.f.Container, "container", "c", "", "only records of this container")
	fs.StringVar(&q.f.Route, "route", "", "only records of this route")
	fs.DurationVar(&q.since, "since", 0, "only records of the last duration (e.g. 10m, 2h)")
	fs.StringVar(&q.sinceTime, "since-time", "", "only records at or after this time (RFC 3339, e.g. 2026-12-01T10:00:00Z)")
	fs.StringVar(&q.until, "until", "", "only records at or before this time (RFC 3339, or a duration ago, e.g. 5m)")
	fs.IntVar(&q.last, "tail", 0, "only the last N records the query selects (0: all)")
	fs.StringVar(&q.severity, "severity", "", "only records of this severity and above (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)")
	fs.StringArrayVar(&q.where, "where", nil, "key=value, key!=value or key~=RE2 on a resource or attribute key, e.g. k8s.pod.label.app=shop (repeat: all must hold)")
	fs.StringVar(&q.grep, "grep", "", "only records whose body, severity or an attribute value matches this RE2")
	fs.BoolVarP(&q.follow, "follow", "f", false, "keep printing new records")
	fs.BoolVar(&q.count, "count", false, "print how many records the query selects, not the records")
}

// build checks the flags and makes the query.
func (q *logsQuery) build(now time.Time) (query.Filter, query.Options, error) {
	f := q.f
	o := query.Options{Last: q.last, Follow: q.follow}
	if q.last < 0 {
		return f, o, fmt.Errorf("tail %d: want a number of records, 0 for all", q.last)
	}
	if q.count && q.follow {
		return f, o, errors.New("--count counts what the hub holds; it cannot be used with -f")
	}
	switch {
	case q.since < 0:
		return f, o, fmt.Errorf("since %s: want a positive duration, e.g. 10m", q.since)
	case q.since > 0 && q.sinceTime != "":
		return f, o, errors.New("--since and --since-time both set: use one")
	case q.since > 0:
		f.Since = now.Add(-q.since)
	case q.sinceTime != "":
		t, err := time.Parse(time.RFC3339Nano, q.sinceTime)
		if err != nil {
			return f, o, fmt.Errorf("since-time %q: want an RFC 3339 time such as 2026-12-01T10:00:00Z", q.sinceTime)
		}
		f.Since = t
	}
	if q.until != "" {
		if d, err := time.ParseDuration(q.until); err == nil && d >= 0 {
			f.Until = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339Nano, q.until); err == nil {
			f.Until = t
		} else {
			return f, o, fmt.Errorf("until %q: want an RFC 3339 time such as 2026-12-01T10:00:00Z, or a duration ago such as 5m", q.until)
		}
		if !f.Since.IsZero() && f.Until.Before(f.Since) {
			return f, o, fmt.Errorf("until %s is before since %s", f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
		}
	}
	if q.severity != "" {
		sev, err := query.SeverityFlag(q.severity)
		if err != nil {
			return f, o, err
		}
		f.MinSeverity = sev
	}
	for _, w := range q.where {
		c, err := query.ParseCond(w)
		if err != nil {
			return f, o, err
		}
		f.Where = append(f.Where, c)
	}
	if q.grep != "" {
		re, err := regexp.Compile(q.grep)
		if err != nil {
			return f, o, fmt.Errorf("grep %q: %w", q.grep, err)
		}
		f.Grep = re
	}
	return f, o, nil
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
