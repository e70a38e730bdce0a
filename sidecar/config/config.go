// Package config is the agent's configuration: one typed document that
// every mode loads with one function, Load, from flags, LOGLET_* variables
// and the document (a YAML or JSON file, or JSON in LOGLET_CONFIG). Flags
// win over the environment, which wins over the document, which wins over
// the defaults. The webhook builds the sidecar's document and admits a pod
// only if Load accepts what its sidecar will be given. Load builds
// nothing: the modes package wires clients and streams from what it read.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/loglet/loglet/internal/settings"
	"github.com/loglet/loglet/sidecar/node"
	"github.com/loglet/loglet/sidecar/pipeline"
	"github.com/loglet/loglet/sidecar/pod"
	"github.com/loglet/loglet/sidecar/process"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// Agent is the agent's configuration.
type Agent struct {
	Mode     string
	Sink     string
	StateDir string
	// Pipeline holds the settings of reading and delivery; the modes
	// package adds the paths and how each source is read.
	Pipeline pipeline.Config
	// Inputs are what is read: the document's, or one named default from
	// the per-input flags.
	Inputs []Input
	// Processors are the document's own: they run on every input's
	// records after the input's processors.
	Processors []process.Config
	// ProcessOptions are what the processors were compiled with (the
	// redact salt): inputs loaded later, from LogConfigs, are compiled
	// with the same, so their hashes match the other inputs'.
	ProcessOptions process.Options
	// MemoryLimit is memory-limit as given (memlimit.ParseLimit reads it);
	// BufferExplicit: max-buffer-bytes was set, so the limit must not
	// shrink it.
	MemoryLimit    string
	BufferExplicit bool
	// ReleaseStartupPages pages the executable out once the agent started
	// (sidecar/pageout).
	ReleaseStartupPages bool
	MetricsAddr         string
	LogFormat           string
	LogLevel            string
	// Identity is the pod's (downward API): namespace, name, uid,
	// container, node.
	Identity Identity
	// API is how the agent reaches the Kubernetes API (stdout: api, mode
	// node with pod metadata).
	API API
	// Sidecar and Node hold the settings of those modes.
	Sidecar Sidecar
	Node    Node
}

// Identity names where the agent runs.
type Identity struct {
	Namespace, Pod, UID, Container, Node string
}

// API is the Kubernetes API's address and credentials; an empty Server is
// the pod's own (in-cluster).
type API struct {
	Server, TokenFile, CAFile string
}

// Sidecar is the sidecar mode's settings.
type Sidecar struct {
	// Volume is where the shared log volume is mounted; VolumeLimit is
	// its sizeLimit (0: not known).
	Volume      string
	VolumeLimit int64
	// Stdout is how the containers' stdout is captured: wrap, api, auto
	// (api) or off.
	Stdout string
	// Images maps the pod's containers to their images.
	Images map[string]string
	// ExitWhenDone drains and exits once every container ended.
	ExitWhenDone bool
	// LogConfigFile is the rendered LogConfigs of the namespace
	// (logconfig.File), reloaded as it changes; empty: none.
	LogConfigFile string
	// Mounts are each container's folders shared with the sidecar:
	// container → folder in the container → folder on the volume
	// (logconfig.Mounts).
	Mounts map[string]map[string]string
}

// Node is the node mode's settings.
type Node struct {
	PodsDir      string
	PodMetadata  bool
	MetadataWait time.Duration
	ForgetAfter  time.Duration
	RouteLabel   string
	Select       node.Selector
	// LogConfigs applies the LogConfigs and ClusterLogConfigs that select
	// the node's pods (their stdout inputs), watched through the API.
	LogConfigs bool
}

// identity maps the identity settings to resource attributes (semantic
// conventions).
var identity = []struct{ key, attr string }{
	{"pod-namespace", "k8s.namespace.name"},
	{"pod-name", "k8s.pod.name"},
	{"pod-uid", "k8s.pod.uid"},
	{"container-name", "k8s.container.name"},
	{"node-name", "k8s.node.name"},
}

// workloadResource adds to res what OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME say: the webhook hands a sidecar its pod's workload
// (k8s.deployment.name, …) and service.name in them, as the OpenTelemetry
// operator does for the containers it instruments (pod.Workload,
// pod.ServiceName). The pod's identity in res wins over them;
// OTEL_SERVICE_NAME over a service.name in OTEL_RESOURCE_ATTRIBUTES, as
// the specification says.
func workloadResource(res []record.KeyValue, environ []string) ([]record.KeyValue, error) {
	var attrs, service string
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, pod.ResourceEnv+"="); ok {
			attrs = v
		} else if v, ok := strings.CutPrefix(kv, pod.ServiceNameEnv+"="); ok {
			service = v
		}
	}
	extra, err := pod.ParseResourceEnv(attrs)
	if err != nil {
		return nil, err
	}
	if service != "" {
		extra = pod.Set(extra, "service.name", service)
	}
	for _, kv := range extra {
		if pod.Get(res, kv.Key) == "" {
			res = append(res, kv)
		}
	}
	return res, nil
}

// DockerContainers is where the kubelet's /var/log/pods links lead on
// nodes whose runtime is Docker (json-file logs).
const DockerContainers = "/var/lib/docker/containers"

// Load reads the configuration from fs (declared by AgentFlags, already
// parsed), the environment (os.Environ-style) and the document named by
// --config or LOGLET_CONFIG. It refuses what the agent could not run
// with, naming the setting and the fix, and names nearby keys for unknown
// ones.
func Load(fs *pflag.FlagSet, environ []string) (Agent, error) {
	r, doc, err := settings.Open(fs, environ, []string{"inputs", "version", "processors", "multiline"}, otherVariables)
	if err != nil {
		return Agent{}, err
	}
	if err := flattenMultiline(doc, "config"); err != nil {
		return Agent{}, err
	}
	if v, ok := doc["version"]; ok && fmt.Sprint(v) != fmt.Sprint(Version) {
		return Agent{}, fmt.Errorf("config document: version %v: this loglet reads version %d; upgrade loglet, or write the document for version %d", v, Version, Version)
	}
	c := Agent{
		Mode:                r.OneOf("mode", "local", "sidecar", "node"),
		StateDir:            r.Str("state-dir"),
		Sink:                r.Str("sink"),
		MemoryLimit:         r.Str("memory-limit"),
		ReleaseStartupPages: r.Bool("release-startup-pages"),
		BufferExplicit:      r.IsSet("max-buffer-bytes"),
		MetricsAddr:         r.Str("metrics-addr"),
		LogFormat:           r.OneOf("log-format", "auto", "json", "text"),
		LogLevel:            r.OneOf("log-level", "debug", "info", "warn", "error"),
		Identity: Identity{Namespace: r.Str("pod-namespace"), Pod: r.Str("pod-name"), UID: r.Str("pod-uid"),
			Container: r.Str("container-name"), Node: r.Str("node-name")},
		API: API{Server: r.Str("api-server"), TokenFile: r.Str("api-token-file"), CAFile: r.Str("api-ca-file")},
	}
	maxLine := r.Bytes("max-line-bytes", 16, 64<<20)
	popt := process.Options{Salt: r.Str("redact-salt")}
	c.ProcessOptions = popt
	c.Pipeline = pipeline.Config{
		BatchBytes:     int(r.Bytes("batch-bytes", 1, 64<<20)),
		BatchWait:      r.Duration("batch-wait"),
		MaxLineBytes:   int(maxLine),
		StartAtEnd:     r.OneOf("start-at", "beginning", "end") == "end",
		MaxBufferBytes: r.Bytes("max-buffer-bytes", 1<<20, 1<<40),
		ScanInterval:   r.Duration("scan-interval"),
		MaxOpenFiles:   r.Int("max-open-files", 1, 1<<20),
		CloseInactive:  r.DurationOrOff("close-inactive"),
		DrainTimeout:   r.Duration("drain-timeout"),
		Once:           r.Bool("once"),
	}
	c.Pipeline.Resource = []record.KeyValue{{Key: "host.name", Value: Hostname()}}
	for _, id := range identity {
		if v := r.Str(id.key); v != "" {
			c.Pipeline.Resource = append(c.Pipeline.Resource, record.KeyValue{Key: id.attr, Value: v})
		}
	}
	if c.Mode != "node" {
		// A node agent's own variables describe the DaemonSet, not the
		// pods whose records it reads (those come from its informer).
		if c.Pipeline.Resource, err = workloadResource(c.Pipeline.Resource, environ); err != nil {
			return Agent{}, err
		}
	}
	switch v := r.Str("checkpoint-interval"); {
	case v != "auto":
		c.Pipeline.CheckpointEvery = r.Duration("checkpoint-interval")
	case c.Mode == "node":
		c.Pipeline.CheckpointEvery = 5 * time.Second
	}
	if err := r.Err(); err != nil {
		return Agent{}, err
	}
	if list, ok := doc["inputs"]; ok {
		if set := inputFlagsSet(r); len(set) > 0 {
			return Agent{}, fmt.Errorf("%s: given outside inputs while the document has inputs; set %s in each input instead (the flags and LOGLET_* variables describe the single input of a document without inputs)",
				strings.Join(set, ", "), set[0])
		}
		if c.Inputs, err = readInputs(fs, list, maxLine, popt); err != nil {
			return Agent{}, err
		}
	} else {
		in, err := readInput(r, DefaultInput, maxLine)
		if err != nil {
			return Agent{}, err
		}
		c.Inputs = []Input{in}
	}
	if err := compileProcessors(doc, &c, popt); err != nil {
		return Agent{}, err
	}
	switch c.Mode {
	case "sidecar":
		err = readSidecar(r, &c)
	case "node":
		err = readNode(r, &c)
	}
	if err != nil {
		return Agent{}, err
	}
	if c.Mode != "sidecar" {
		for _, in := range c.Inputs {
			if in.RemoveShipped != "never" {
				return Agent{}, fmt.Errorf("input %s: remove-shipped: %s: only in mode sidecar, where the agent deletes on the pod's own log volume; in mode %s leave removing rotated files to logrotate (remove-shipped: never)", in.Name, in.RemoveShipped, c.Mode)
			}
		}
	}
	if err := readLinks(r, &c); err != nil {
		return Agent{}, err
	}
	if err := checkListeners(c.Inputs, c.Pipeline.Once); err != nil {
		return Agent{}, err
	}
	if c.Mode == "local" && !slices.ContainsFunc(c.Inputs, readsSomething) {
		return Agent{}, errors.New("path: no files to read; give --path '/var/log/app/*.log' (or LOGLET_PATH, path: in the config file, or files: in an input)")
	}
	return c, nil
}

// readsSomething reports whether an input reads files or listens.
func readsSomething(in Input) bool {
	kind, _ := in.Push()
	return len(in.Files) > 0 || kind != ""
}

// compileProcessors reads the document's processors and compiles each
// input's chain: its own processors, then the document's.
func compileProcessors(doc map[string]any, c *Agent, popt process.Options) error {
	if list, ok := doc["processors"]; ok {
		var err error
		if c.Processors, err = process.Parse(list, "processors", popt); err != nil {
			return err
		}
	}
	for i := range c.Inputs {
		in := &c.Inputs[i]
		chain, err := process.Compile(in.Name, slices.Concat(in.Processors, c.Processors), popt)
		if err != nil {
			return fmt.Errorf("input %s: %w", in.Name, err)
		}
		in.Process = chain
	}
	return nil
}

// readSidecar reads the sidecar's settings: the pod as the webhook laid it
// out, with its containers' stdout read with the first input's parsing.
func readSidecar(r *settings.Reader, c *Agent) error {
	c.Sidecar = Sidecar{
		Volume:        r.Str("pod-volume"),
		Stdout:        r.OneOf("stdout", "auto", "wrap", "api", "off"),
		ExitWhenDone:  r.Bool("exit-when-done"),
		LogConfigFile: r.Str("logconfig-file"),
		VolumeLimit:   r.Bytes("volume-size-limit", 0, 1<<50),
	}
	if mounts := r.Str("container-mounts"); mounts != "" {
		if err := json.Unmarshal([]byte(mounts), &c.Sidecar.Mounts); err != nil {
			r.Fail("container-mounts", mounts, `a JSON object like {"app":{"/var/log/app":"c/app/0"}}`)
		}
	}
	if images := r.Str("container-images"); images != "" {
		if err := json.Unmarshal([]byte(images), &c.Sidecar.Images); err != nil {
			r.Fail("container-images", images, `a JSON object like {"app":"nginx:1.27"}`)
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	switch s := c.Sidecar.Stdout; {
	case s == "off" && c.Sidecar.ExitWhenDone:
		return errors.New("exit-when-done: needs stdout: wrap or api, to see the containers end")
	case s != "off" && len(c.Sidecar.Images) == 0 && (s != "wrap" || c.Sidecar.ExitWhenDone):
		return fmt.Errorf("stdout: %s needs container-images, the containers to capture (the webhook sets it); or set stdout: off", s)
	case (s == "api" || s == "auto") && (c.Identity.Namespace == "" || c.Identity.Pod == ""):
		return fmt.Errorf("stdout: %s needs pod-namespace and pod-name (the webhook sets them from the downward API)", s)
	case s == "off" && !slices.ContainsFunc(c.Inputs, readsSomething) && c.Sidecar.LogConfigFile == "":
		return errors.New("path: no files to read and stdout: off; the sidecar has nothing to do (the webhook sets LOGLET_PATH from loglet.io/paths)")
	}
	return nil
}

// readNode reads the node mode's settings: every container log of the
// node, read with the first input's parsing, per pod as it says.
func readNode(r *settings.Reader, c *Agent) error {
	n := Node{
		PodsDir:      r.Str("pods-dir"),
		PodMetadata:  r.Bool("pod-metadata"),
		MetadataWait: r.Duration("metadata-wait"),
		ForgetAfter:  r.Duration("forget-after"),
		RouteLabel:   r.Str("route-label"),
		LogConfigs:   r.Bool("logconfigs"),
	}
	if !filepath.IsAbs(n.PodsDir) {
		r.Fail("pods-dir", n.PodsDir, "an absolute folder like /var/log/pods")
	}
	sel, err := node.ParseSelector(r.Str("include-pods"), r.Str("exclude-pods"))
	if err != nil {
		return err
	}
	sel.IncludeNamespaces, sel.ExcludeNamespaces = r.List("include-namespace"), r.List("exclude-namespace")
	sel.IncludeAnnotations, sel.ExcludeAnnotations = r.List("include-annotation"), r.List("exclude-annotation")
	sel.IncludeEnv, sel.ExcludeEnv = r.List("include-env"), r.List("exclude-env")
	n.Select = sel
	if err := r.Err(); err != nil {
		return err
	}
	if n.LogConfigs && !n.PodMetadata {
		return errors.New("logconfigs: needs pod-metadata, the pods' labels that LogConfigs select by; or --logconfigs=false")
	}
	if n.PodMetadata && c.Identity.Node == "" {
		return errors.New("mode node needs node-name to ask the API for this node's pods (the DaemonSet sets LOGLET_NODE_NAME from spec.nodeName), or --pod-metadata=false")
	}
	c.Node = n
	return nil
}

// readLinks decides where matched files may lie once their links are
// resolved. A sidecar shares its volume with the app's containers, which
// can plant links there: it opens only what lies beneath the folder each
// glob names, whatever the flags say.
func readLinks(r *settings.Reader, c *Agent) error {
	follow, roots := r.Bool("follow-symlinks"), r.List("link-roots")
	if err := r.Err(); err != nil {
		return err
	}
	links := source.LinkPolicy{Mode: source.LinksGlobRoots, Extra: roots,
		OutsideFix: "move the file beneath the glob's folder, or allow where it leads with --link-roots or --follow-symlinks"}
	switch {
	case c.Mode == "sidecar" && (follow || len(roots) > 0):
		return errors.New("follow-symlinks, link-roots: not in mode sidecar, where the app's containers can plant links on the shared volume; the sidecar opens only files beneath the folder each glob names")
	case c.Mode == "sidecar":
		links = source.LinkPolicy{Mode: source.LinksStrict,
			OutsideFix: "the sidecar opens only files beneath the folder the pod's loglet.io/paths glob names on its volume; write the log file there, not a link to it"}
	case follow:
		links.Mode = source.LinksAny
	}
	if c.Mode == "node" {
		links.Extra = append(links.Extra, DockerContainers)
	}
	for _, root := range links.Extra {
		if !filepath.IsAbs(root) {
			return fmt.Errorf("link-roots: %q is not an absolute folder", root)
		}
	}
	c.Pipeline.Links = links
	return nil
}

// Hostname is the host name for the resource attributes, or "unknown".
func Hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
