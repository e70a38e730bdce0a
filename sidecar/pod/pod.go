// Package pod maps the sidecar's view of its pod — the shared volume the
// webhook laid out and the identity the downward API handed over — to what
// each source is: which container it belongs to, how to parse it, and the
// resource attributes of its records.
//
// The volume holds c/<container>/<n>/… (files a container writes, mounted
// at the folder of its loglet.io/paths glob) and stdout/<container>/*.log:
// stdout*.log, CRI-format copies of its stdout and stderr written by loglet
// exec, or api*.log, its pods/log stream spooled by the podlog package.
package pod

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// Names in stdout/<container>/ on the volume: the writers (loglet exec,
// the podlog streams) and the sidecar agree on them here.
const (
	// ExecSpool names loglet exec's CRI copies: stdout.log, stdout-1.log, ….
	ExecSpool = "stdout"
	// APISpool names the spooled pods/log stream: api.log, api-1.log, ….
	APISpool = "api"
	// ExitFile holds the command's exit code once it ended and all its
	// output was copied: a sidecar that is a plain container (no native
	// sidecars) knows from it when to drain and exit, so Jobs complete.
	ExitFile = "exit-code"
	// LostFile holds how many bytes loglet exec could not copy (the
	// volume was full or unwritable); the sidecar reports it as a metric.
	LostFile = "lost-bytes"
)

// Layout is a sidecar's pod.
type Layout struct {
	// Root is where the shared volume is mounted in the sidecar.
	Root string
	// Base are the attributes every record carries (pod identity, host).
	Base []record.KeyValue
	// Images maps container names to their images.
	Images map[string]string
	// Files parses files the containers write; Stdout parses the copies
	// of their stdout (CRI format); API their spooled pods/log streams.
	Files, Stdout, API *parse.Spec
}

// StdoutDir holds a folder per container with its stdout copies.
func (l *Layout) StdoutDir() string { return filepath.Join(l.Root, "stdout") }

// StdoutGlob matches the stdout copies of every container.
func (l *Layout) StdoutGlob() string { return filepath.Join(l.StdoutDir(), "*", "*.log") }

// Select says how to read the source at path and what its records carry;
// it is pipeline.Config.Select.
func (l *Layout) Select(path string) source.Choice {
	spec, container := l.Files, ""
	parts := strings.Split(strings.TrimPrefix(path, strings.TrimSuffix(l.Root, "/")+"/"), "/")
	if len(parts) >= 3 && (parts[0] == "c" || parts[0] == "stdout") {
		container = parts[1]
		if parts[0] == "stdout" {
			spec = l.Stdout
			if strings.HasPrefix(parts[len(parts)-1], APISpool) {
				spec = l.API
			}
		}
	}
	res := slices.Clone(l.Base)
	if container != "" {
		// The path's container replaces an agent-wide one
		// (--container-name): one k8s.container.name, the right one.
		res = Set(res, "k8s.container.name", container)
		if img, ok := l.Images[container]; ok {
			name, tag := SplitImage(img)
			res = Set(res, "container.image.name", name)
			if tag != "" {
				res = Set(res, "container.image.tag", tag)
			}
		}
		if !has(res, "service.name") {
			// The webhook derived none from the pod (ServiceName): the
			// container's name, the OpenTelemetry operator's last choice.
			res = append(res, record.KeyValue{Key: "service.name", Value: container})
		}
	}
	return source.Choice{Parse: spec, Resource: res}
}

// SplitImage splits "registry:5000/repo/name:tag@sha256:…" into the name
// and the tag (empty when the image has none).
func SplitImage(image string) (name, tag string) {
	name, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// WaitForExit returns once every one of containers has ended: loglet exec
// leaves an exit-code file in its stdout folder when its command ended and
// all output was copied. It polls, as the containers' files are on a
// volume that may not deliver file events.
func (l *Layout) WaitForExit(ctx context.Context, containers []string, poll time.Duration) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		done := 0
		for _, c := range containers {
			if _, err := os.Stat(filepath.Join(l.StdoutDir(), c, ExitFile)); err == nil {
				done++
			}
		}
		if done == len(containers) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// LostBytes sums what loglet exec could not copy (the volume was full or
// unwritable), over every container: the sidecar reports it as a metric.
func (l *Layout) LostBytes() float64 {
	files, _ := filepath.Glob(filepath.Join(l.StdoutDir(), "*", LostFile))
	total := 0.0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil {
			total += n
		}
	}
	return total
}

// StdoutContainer tells whether path is one of a container's stdout
// copies (stdout/<container>/<file> below the volume), and whose.
func (l *Layout) StdoutContainer(path string) (string, bool) {
	rel, err := filepath.Rel(l.Root, path)
	if err != nil {
		return "", false
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if len(parts) != 3 || parts[0] != "stdout" || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}
