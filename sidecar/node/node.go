// Package node reads a node's container logs as the kubelet lays them
// out, for `loglet agent --mode=node`:
//
//	<pods-dir>/<namespace>_<pod>_<uid>/<container>/<restart>.log
//
// in CRI format. A source's pod and container come from its path, so a
// file can be read (and its pod known) before, or without, the API.
package node

import (
	"cmp"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/loglet/loglet/sidecar/podapi"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/pod"
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
	// Parse is how lines are parsed (CRI, then the agent's format); a
	// pod's loglet.io/format, loglet.io/multiline-start and
	// loglet.io/multiline (a preset's name) change it for that pod.
	Parse parse.Config
	// Pods tells the pods' labels, annotations, images and env; nil: what
	// the path tells only.
	Pods *Pods
	// Select picks the containers to read.
	Select Selector
	// RouteLabel names the pod label whose value routes its records.
	RouteLabel string
	// Wait is how long a file whose pod the API has not told is held
	// before it is read with what its path tells.
	Wait time.Duration
	// Log reports sources left out; nil: slog's default.
	Log *slog.Logger
	// Inputs, when set, may change how a container's log is read, given
	// its pod (LogConfigs' stdout inputs that select it): c is the choice
	// made without them.
	Inputs func(meta *podapi.Pod, container string, c source.Choice) source.Choice

	mu    sync.Mutex
	specs map[multilineKey]*parse.Spec
	held  map[string]time.Time // path → first asked, while its pod is unknown
}

// Glob matches every container log file below Root.
func (d *Dir) Glob() string { return filepath.Join(d.Root, "*", "*", "*.log") }

// Choose decides how to read the file at path (pipeline's Select): its
// pod and container from the path, the rest from the API.
func (d *Dir) Choose(path string) source.Choice {
	log := cmp.Or(d.Log, slog.Default())
	src, ok := ParsePath(d.Root, path)
	if !ok {
		return source.Choice{Parse: d.spec(d.agentParse()), Resource: d.Base}
	}
	var meta *podapi.Pod
	if d.Pods != nil {
		if meta, ok = d.Pods.Lookup(src.UID); !ok && d.hold(path) {
			return source.Choice{Later: true}
		} else if !ok {
			log.Warn("pod not known to the API: reading its logs with what the path tells", "path", path, "namespace", src.Namespace, "pod", src.Pod)
		}
	}
	if why := d.Select.skip(src, meta); why != "" {
		log.Info("not reading", "path", path, "why", why)
		return source.Choice{Skip: true}
	}
	// The path's pod and container replace what the agent-wide identity
	// flags say (the DaemonSet's own pod): one of each, the source's.
	res := slices.Clone(d.Base)
	for _, kv := range []record.KeyValue{
		{Key: "k8s.namespace.name", Value: src.Namespace},
		{Key: "k8s.pod.name", Value: src.Pod},
		{Key: "k8s.pod.uid", Value: src.UID},
		{Key: "k8s.container.name", Value: src.Container},
		{Key: "k8s.container.restart_count", Value: strconv.Itoa(src.Restart)},
	} {
		res = pod.Set(res, kv.Key, kv.Value)
	}
	c := source.Choice{Parse: d.spec(d.agentParse()), Resource: res}
	if meta == nil {
		// Whether the path's pod name was generated, only the API tells:
		// service.name is the container's (pod.ServiceName's last choice).
		c.Resource = pod.Set(c.Resource, "service.name", src.Container)
		return c
	}
	// The workload and service.name from the pod, as the webhook derives
	// them for a sidecar at admission; a name the API server generated
	// (generateName) is no service's name, as it is absent at admission.
	workload := pod.Workload(meta.OwnerReferences, meta.Labels, meta.CreationTimestamp.Time)
	for _, kv := range workload {
		c.Resource = pod.Set(c.Resource, kv.Key, kv.Value)
	}
	given := meta.Name
	if meta.GenerateName != "" {
		given = ""
	}
	c.Resource = pod.Set(c.Resource, "service.name", cmp.Or(pod.ServiceName(meta.Annotations, meta.Labels, workload, given), src.Container))
	if k := container(meta, src.Container); k != nil {
		name, tag := pod.SplitImage(k.Image)
		c.Resource = append(c.Resource, record.KeyValue{Key: "container.image.name", Value: name})
		if tag != "" {
			c.Resource = append(c.Resource, record.KeyValue{Key: "container.image.tag", Value: tag})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(meta.Labels)) {
		c.Resource = append(c.Resource, record.KeyValue{Key: "k8s.pod.label." + k, Value: meta.Labels[k]})
	}
	if v, ok := meta.Labels[d.RouteLabel]; ok && d.RouteLabel != "" && v != "" {
		c.Route = record.RouteFrom(v)
	}
	k := d.agentParse()
	if f, ok := meta.Annotations[annotationFormat]; ok {
		k.format = f
	}
	if m, ok := meta.Annotations[annotationMultilineStart]; ok {
		k.start, k.preset = m, ""
	}
	if m, ok := meta.Annotations[annotationMultiline]; ok {
		k.start, k.preset = "", m
	}
	c.Parse = d.spec(k)
	if c.Parse == nil {
		log.Warn("pod's format annotations do not compile: using the agent's format", "path", path,
			annotationFormat, meta.Annotations[annotationFormat], annotationMultilineStart, meta.Annotations[annotationMultilineStart],
			annotationMultiline, meta.Annotations[annotationMultiline])
		c.Parse = d.spec(d.agentParse())
	}
	if d.Inputs != nil {
		c = d.Inputs(meta, src.Container, c)
	}
	return c
}

// hold says whether path is still to wait for its pod: the kubelet writes
// the logs of pods the API has, so it is the informer that is behind (or
// not synced yet, at start). Holding is per scan, never blocking one.
func (d *Dir) hold(path string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.held == nil {
		d.held = map[string]time.Time{}
	}
	now := time.Now()
	first, ok := d.held[path]
	if !ok {
		for p, t := range d.held { // files that went away while held
			if now.Sub(t) > 2*d.Wait+time.Minute {
				delete(d.held, p)
			}
		}
		d.held[path] = now
		return true
	}
	if now.Sub(first) < d.Wait {
		return true
	}
	delete(d.held, path)
	return false
}

// multilineKey is what a pod's annotations may change of the agent's
// parse settings.
type multilineKey struct{ format, start, preset string }

// agentParse is the agent's own format and multiline.
func (d *Dir) agentParse() multilineKey {
	return multilineKey{d.Parse.Format, d.Parse.MultilineStart, d.Parse.MultilinePreset}
}

// spec compiles the agent's parse settings with k's format and multiline
// once; nil if they do not compile.
func (d *Dir) spec(k multilineKey) *parse.Spec {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.specs[k]; ok {
		return s
	}
	pc := d.Parse
	pc.Format, pc.MultilineStart, pc.MultilinePreset = k.format, k.start, k.preset
	if k.start != "" || k.preset != "" {
		// A pod's own multiline replaces the agent's patterns.
		pc.MultilineEnd, pc.MultilineContinue = "", ""
	}
	s, err := parse.Compile(pc)
	if err != nil {
		s = nil
	}
	if d.specs == nil {
		d.specs = map[multilineKey]*parse.Spec{}
	}
	d.specs[k] = s
	return s
}
