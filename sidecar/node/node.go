// Package node reads a node's container logs as the kubelet lays them
// out, for `loglet agent --mode=node`:
//
//	<pods-dir>/<namespace>_<pod>_<uid>/<container>/<restart>.log
//
// in CRI format. A source's pod and container come from its path, so a
// file can be read (and its pod known) before, or without, the API.
package node

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// Source is what a log file's path tells.
type Source struct {
	Namespace, Pod, UID, Container string
	// Restart is the container's restart count (the file name).
	Restart int
}

// ParsePath reads a file's path below root; ok is false for paths of
// another shape. Names and namespaces cannot hold "_" (DNS labels), so
// the folder name splits in exactly three.
func ParsePath(root, path string) (s Source, ok bool) {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return Source{}, false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) != 3 {
		return Source{}, false
	}
	pod := strings.Split(parts[0], "_")
	if len(pod) != 3 || slices.Contains(pod, "") || parts[1] == "" || parts[1] == ".." {
		return Source{}, false
	}
	n, found := strings.CutSuffix(parts[2], ".log")
	restart, err := strconv.Atoi(n)
	if !found || err != nil || restart < 0 {
		return Source{}, false
	}
	return Source{Namespace: pod[0], Pod: pod[1], UID: pod[2], Container: parts[1], Restart: restart}, true
}

// Dir is a node's pod log folder.
type Dir struct {
	// Root is the folder, /var/log/pods on a node.
	Root string
	// Base are the resource attributes of every record (host, node).
	Base []record.KeyValue
	// Spec parses the files: CRI, then the agent's format.
	Spec *parse.Spec
}

// Glob matches every container log file below Root.
func (d *Dir) Glob() string { return filepath.Join(d.Root, "*", "*", "*.log") }

// Select gives a file's parser and the resource attributes its path tells
// (pipeline's per-source choice).
func (d *Dir) Select(path string) source.Choice {
	res := slices.Clone(d.Base)
	if s, ok := ParsePath(d.Root, path); ok {
		res = append(res,
			record.KeyValue{Key: "k8s.namespace.name", Value: s.Namespace},
			record.KeyValue{Key: "k8s.pod.name", Value: s.Pod},
			record.KeyValue{Key: "k8s.pod.uid", Value: s.UID},
			record.KeyValue{Key: "k8s.container.name", Value: s.Container},
			record.KeyValue{Key: "k8s.container.restart_count", Value: strconv.Itoa(s.Restart)},
		)
	}
	return source.Choice{Parse: d.Spec, Resource: res}
}
