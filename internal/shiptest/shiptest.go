// Package shiptest ships test records into a hub with the real agent
// pipeline, for the tests of the packages that read the hub back (query,
// console).
package shiptest

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/pipeline"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/sink"
	"github.com/loglet/loglet/sidecar/source"
)

// Pods runs the agent once over dir's files named <namespace>_<pod>.log,
// parsed as JSON (time in ts), each with its namespace, pod and container
// (app) as resource; a file without "_" in its name (host.log) has none.
// Packages are cut at batchBytes, so a test chooses how many it gets.
func Pods(t testing.TB, sinkURL, dir string, batchBytes int) {
	t.Helper()
	spec, err := parse.Compile(parse.Config{Format: "json", TimeKey: "ts", MaxLineBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	Ship(t, sinkURL, dir, batchBytes, spec)
}

// Ship is Pods with the lines parsed by spec (nil: raw lines).
func Ship(t testing.TB, sinkURL, dir string, batchBytes int, spec *parse.Spec) {
	t.Helper()
	store, err := checkpoint.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sk, err := sink.Open(context.Background(), sinkURL, sink.Options{Timeout: 30 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	a, err := pipeline.New(pipeline.Config{
		Paths: []string{dir + "/*.log"}, BatchBytes: batchBytes, BatchWait: time.Second, MaxLineBytes: 1 << 16,
		MaxBufferBytes: 64 << 20, ScanInterval: time.Second, DrainTimeout: time.Minute, Once: true,
		Select: func(path string) source.Choice {
			ns, pod, ok := strings.Cut(strings.TrimSuffix(filepath.Base(path), ".log"), "_")
			if !ok {
				return source.Choice{Parse: spec}
			}
			return source.Choice{Parse: spec, Resource: []record.KeyValue{
				{Key: "k8s.namespace.name", Value: ns}, {Key: "k8s.pod.name", Value: pod}, {Key: "k8s.container.name", Value: "app"},
			}}
		},
	}, sk, store, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
