// Package config turns the agent's flags, LOGLET_* environment variables and
// YAML config file into a checked configuration. Flags win over the
// environment, which wins over the file, which wins over the defaults. Every
// error names the setting that is wrong and the form it wants.
package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/loglet/loglet/sidecar/node"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/pod"
	"github.com/loglet/loglet/sidecar/podlog"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// Agent is the agent's configuration.
type Agent struct {
	Mode           string
	Paths          []string
	Exclude        []string
	StateDir       string
	Sink           string
	BatchBytes     int64
	BatchWait      time.Duration
	MaxLineBytes   int64
	StartAt        string
	MaxBufferBytes int64
	// MemoryLimit is memory-limit as given (memlimit.ParseLimit reads it);
	// BufferExplicit: max-buffer-bytes was set, so the limit must not shrink it.
	MemoryLimit    string
	BufferExplicit bool
	ScanInterval   time.Duration
	MaxOpenFiles   int
	// CloseInactive closes files idle this long; -1: never.
	CloseInactive time.Duration
	MetricsAddr   string
	DrainTimeout  time.Duration
	// CheckpointEvery is the least time between checkpoint rounds.
	CheckpointEvery time.Duration
	Once            bool
	LogFormat       string
	LogLevel        string
	// Parse says how lines become records.
	Parse *parse.Spec
	// Resource holds the resource attributes every record carries.
	Resource []record.KeyValue
	// Links says where a matched file may lie once its symlinks are
	// resolved.
	Links source.LinkPolicy
	// Select decides per source how to parse it and what its records
	// carry (sidecar mode); nil uses Parse and Resource for all.
	Select func(path string) source.Choice
	// Route is where records go when Select names none (Kafka topic,
	// JetStream subject suffix); empty: the sink's.
	Route string
	// LostBytes, when set, reports what loglet exec could not copy.
	LostBytes func() float64
	// StdoutStalls and StdoutGaps, when set, count pods/log follows that
	// stalled and resumes that may have missed a rotated file (stdout: api).
	StdoutStalls, StdoutGaps func() float64
	// Capture, when set, runs beside the pipeline in sidecar mode: it
	// streams the containers' pods/log into the files the agent reads
	// (stdout: api), or watches loglet exec's exit markers (wrap). It
	// returns nil once every container ended and all its output is in the
	// files; once ctx ends, ctx's error after the streams drained.
	Capture func(ctx context.Context) error
	// Synced, when set, must be true for the agent to be ready (node mode:
	// the pod informer has listed the node's pods).
	Synced func() bool
	// ExitWhenDone: drain and exit once Capture saw every container end (a
	// sidecar that is a plain container, so Jobs complete).
	ExitWhenDone bool
}

// identity maps settings to resource attributes (semantic conventions). In
// a pod they come from the downward API as LOGLET_* environment variables.
var identity = []struct{ key, attr string }{
	{"pod-namespace", "k8s.namespace.name"},
	{"pod-name", "k8s.pod.name"},
	{"pod-uid", "k8s.pod.uid"},
	{"container-name", "k8s.container.name"},
	{"node-name", "k8s.node.name"},
}

// AgentFlags declares the agent's flags with their defaults and help.
func AgentFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML config file; its keys are the flag names (batch-bytes: 1MiB)")
	fs.String("mode", "local", "where the agent runs: local (files named by --path), sidecar (the pod the webhook injected it into) or node (every pod's container logs under --pods-dir, as a DaemonSet)")
	fs.String("route", "", "route of the records (Kafka topic, JetStream subject suffix): 1 to 64 letters, digits, - or _; empty: the sink's")
	fs.String("pods-dir", "/var/log/pods", "mode node: the kubelet's pod log folder (<namespace>_<pod>_<uid>/<container>/<restart>.log)")
	fs.Bool("pod-metadata", true, "mode node: read the node's pods from the API (labels, images, env, annotations); needs --node-name")
	fs.String("metadata-wait", "2s", "mode node: how long a new file waits for its pod to show up from the API before it is read with what its path tells")
	fs.StringSlice("include-namespace", nil, "mode node: read only pods of these namespaces")
	fs.StringSlice("exclude-namespace", nil, "mode node: leave out pods of these namespaces")
	fs.String("include-pods", "", "mode node: read only pods whose labels match this selector (app=web,tier!=cache)")
	fs.String("exclude-pods", "", "mode node: leave out pods whose labels match this selector")
	fs.StringSlice("include-annotation", nil, "mode node: read only pods with one of these annotations (KEY=VALUE, or KEY for any value)")
	fs.StringSlice("exclude-annotation", nil, "mode node: leave out pods with one of these annotations (KEY=VALUE or KEY); loglet.io/exclude=true always is")
	fs.StringSlice("include-env", nil, "mode node: read only containers with one of these environment variables (KEY=VALUE or KEY)")
	fs.StringSlice("exclude-env", nil, "mode node: leave out containers with one of these environment variables (KEY=VALUE or KEY)")
	fs.String("forget-after", "1h", "mode node: how long a deleted pod's metadata is kept for its logs, which the kubelet keeps for a while")
	fs.String("route-label", "", "mode node: route each pod's records by the value of this pod label (e.g. log_type); pods without it use --route")
	fs.String("stdout", "off", "sidecar: how the containers' stdout is captured: wrap (the copies loglet exec writes), api (pods/log from the Kubernetes API; auto is the same here), off")
	fs.String("api-server", "", "sidecar, stdout: api: Kubernetes API URL; empty: the pod's own (service account, in-cluster)")
	fs.String("api-token-file", "/var/run/secrets/kubernetes.io/serviceaccount/token", "sidecar: bearer token file for --api-server (re-read as it rotates)")
	fs.String("api-ca-file", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "sidecar: CA bundle for --api-server; empty: the system's")
	fs.String("pod-volume", "/var/loglet", "sidecar: where the shared log volume is mounted")
	fs.String("container-images", "", "sidecar: JSON map of container name to image (the webhook sets it)")
	fs.Bool("exit-when-done", false, "sidecar as a plain container: drain and exit 0 once every container has ended (seen in loglet exec's markers, or the pod status with stdout: api), so Jobs complete")
	fs.StringSlice("path", nil, "glob of files to read, absolute (** matches any folders); repeat the flag or separate with commas")
	fs.StringSlice("exclude", nil, "glob of files to leave out; without a slash it matches the file name (*.gz)")
	fs.Bool("follow-symlinks", false, "modes local and node: open matched files whose symlinks lead anywhere; default: only beneath the globs' folders and --link-roots (mode sidecar: only beneath the folder its own glob names, always)")
	fs.StringSlice("link-roots", nil, "modes local and node: folders a matched file's symlinks may lead into besides the globs' folders (mode node adds /var/lib/docker/containers, where the kubelet's links of Docker's json-file logs lead)")
	fs.String("state-dir", "/var/lib/loglet", "writable folder for checkpoints and rejected packages")
	fs.String("sink", "stdout://", "where records go: file:///path, stdout://, null://, http(s)://host/path, kafka://b1,b2/topic")
	fs.String("batch-bytes", "524288", "cut a package at this many bytes of records (512KiB, 1MiB, …)")
	fs.String("batch-wait", "1s", "cut a package this long after its first record")
	fs.String("max-line-bytes", "262144", "split longer lines into parts marked loglet.split.part/last (never dropped)")
	fs.String("start-at", "beginning", "where to start files found at the first start that have no checkpoint: beginning or end")
	fs.String("max-buffer-bytes", "64MiB", "bytes of packages held while the hub has not acknowledged them; reading pauses beyond")
	fs.String("memory-limit", "auto", "the container's memory limit (67108864, 64Mi), from which max-buffer-bytes (a quarter at most, unless set) and GOMEMLIMIT (unless set) follow; auto: the cgroup's; none: no limit")
	fs.String("scan-interval", "1s", "how often the globs are matched again and idle files checked (with file events: every 10th, as events find new and growing files)")
	fs.String("max-open-files", "1024", "most files read at once; further files wait, and idle files close early for them")
	fs.String("close-inactive", "5m", "close a file that has not grown for this long (it is opened again, by its identity, when it changes); 0: never")
	fs.String("checkpoint-interval", "auto", "least time between two rounds of checkpoint writes; a crash re-sends at most what was acknowledged in it (auto: 100ms, 5s in mode node with its hundreds of sources)")
	fs.String("metrics-addr", "", "serve /metrics, /healthz and /readyz here (e.g. :9090); empty: off")
	fs.String("drain-timeout", "25s", "on SIGTERM, time to read to the end, deliver and checkpoint before exiting")
	fs.Bool("once", false, "read every file to its current end, deliver, checkpoint and exit 0 (backfills, benchmarks)")
	fs.String("format", "raw", "how a line becomes a record: raw, json, logfmt, nginx, csv, regex:<RE2 with (?P<name>…) groups>; cri, docker or auto for container logs")
	fs.String("container-format", "none", "container log wrapping to decode before --format: none, cri, docker, auto (per file, from its first line)")
	fs.String("multiline-start", "", "RE2 matching the first line of a record; following lines that do not match join it (stack traces)")
	fs.String("multiline-timeout", "1s", "finish a multiline record after this long without a new line")
	fs.StringSlice("csv-fields", nil, "column names for --format csv")
	fs.String("time-key", "", "field whose value is the record's event time (default: the container line's time, else when it was read)")
	fs.String("time-format", "rfc3339", "how --time-key is written: rfc3339, unix, unix_ms, unix_us, unix_ns or a Go layout (02/Jan/2006:15:04:05 -0700)")
	fs.String("pod-namespace", "", "k8s.namespace.name of every record (in a pod: from the downward API)")
	fs.String("pod-name", "", "k8s.pod.name of every record")
	fs.String("pod-uid", "", "k8s.pod.uid of every record")
	fs.String("container-name", "", "k8s.container.name of every record")
	fs.String("node-name", "", "k8s.node.name of every record")
	fs.String("log-format", "auto", "log format: json, text, or auto (text on a terminal, json otherwise)")
	fs.String("log-level", "info", "log level: debug, info, warn, error")
}

// LoadAgent reads the configuration: flags from fs (already parsed), the
// environment, and the config file named by --config or LOGLET_CONFIG.
func LoadAgent(fs *pflag.FlagSet) (Agent, error) {
	r, err := Open(fs)
	if err != nil {
		return Agent{}, err
	}
	c := Agent{
		Mode:           r.OneOf("mode", "local", "sidecar", "node"),
		Paths:          r.List("path"),
		Exclude:        r.List("exclude"),
		StateDir:       r.Str("state-dir"),
		Sink:           r.Str("sink"),
		BatchBytes:     r.Bytes("batch-bytes", 1, 64<<20),
		BatchWait:      r.Duration("batch-wait"),
		MaxLineBytes:   r.Bytes("max-line-bytes", 16, 64<<20),
		StartAt:        r.OneOf("start-at", "beginning", "end"),
		MaxBufferBytes: r.Bytes("max-buffer-bytes", 1<<20, 1<<40),
		MemoryLimit:    r.Str("memory-limit"),
		BufferExplicit: r.v.IsSet("max-buffer-bytes"),
		ScanInterval:   r.Duration("scan-interval"),
		MaxOpenFiles:   r.Int("max-open-files", 1, 1<<20),
		CloseInactive:  r.DurationOrOff("close-inactive"),
		MetricsAddr:    r.Str("metrics-addr"),
		DrainTimeout:   r.Duration("drain-timeout"),
		Once:           r.Bool("once"),
		Route:          r.Str("route"),
		LogFormat:      r.OneOf("log-format", "auto", "json", "text"),
		LogLevel:       r.OneOf("log-level", "debug", "info", "warn", "error"),
	}
	if c.Route != "" && !record.ValidRoute(c.Route) {
		r.Fail("route", c.Route, "1 to 64 letters, digits, - or _, like nginx_access_log")
	}
	c.Resource = []record.KeyValue{{Key: "host.name", Value: Hostname()}}
	for _, id := range identity {
		if v := r.Str(id.key); v != "" {
			c.Resource = append(c.Resource, record.KeyValue{Key: id.attr, Value: v})
		}
	}
	pc := parse.Config{
		Format:           r.Str("format"),
		Container:        r.Str("container-format"),
		MultilineStart:   r.Str("multiline-start"),
		MultilineTimeout: r.Duration("multiline-timeout"),
		CSVFields:        r.List("csv-fields"),
		TimeKey:          r.Str("time-key"),
		TimeFormat:       r.Str("time-format"),
		MaxLineBytes:     int(c.MaxLineBytes),
	}
	if err := r.Err(); err != nil {
		return Agent{}, err
	}
	if c.Parse, err = parse.Compile(pc); err != nil {
		return Agent{}, err
	}
	switch v := r.Str("checkpoint-interval"); {
	case v != "auto":
		c.CheckpointEvery = r.Duration("checkpoint-interval")
	case c.Mode == "node":
		c.CheckpointEvery = 5 * time.Second
	}
	switch c.Mode {
	case "sidecar":
		if err := sidecarMode(r, &c, pc); err != nil {
			return Agent{}, err
		}
	case "node":
		if err := nodeMode(r, &c, pc); err != nil {
			return Agent{}, err
		}
	}
	if err := linkPolicy(r, &c); err != nil {
		return Agent{}, err
	}
	if len(c.Paths) == 0 {
		return Agent{}, errors.New("path: no files to read; give --path '/var/log/app/*.log' (or LOGLET_PATH, or path: in the config file)")
	}
	return c, nil
}

// DockerContainers is where the kubelet's /var/log/pods links lead on
// nodes whose runtime is Docker (json-file logs).
const DockerContainers = "/var/lib/docker/containers"

// linkPolicy decides where matched files may lie once their links are
// resolved. A sidecar shares its volume with the app's containers, which
// can plant links there: it opens only what lies beneath the folder each
// glob names, whatever the flags say.
func linkPolicy(r *Reader, c *Agent) error {
	follow, roots := r.Bool("follow-symlinks"), r.List("link-roots")
	if err := r.Err(); err != nil {
		return err
	}
	c.Links = source.LinkPolicy{Mode: source.LinksGlobRoots, Extra: roots,
		OutsideFix: "move the file beneath the glob's folder, or allow where it leads with --link-roots or --follow-symlinks"}
	switch {
	case c.Mode == "sidecar" && (follow || len(roots) > 0):
		return errors.New("follow-symlinks, link-roots: not in mode sidecar, where the app's containers can plant links on the shared volume; the sidecar opens only files beneath the folder each glob names")
	case c.Mode == "sidecar":
		c.Links = source.LinkPolicy{Mode: source.LinksStrict,
			OutsideFix: "the sidecar opens only files beneath the folder the pod's loglet.io/paths glob names on its volume; write the log file there, not a link to it"}
	case follow:
		c.Links.Mode = source.LinksAny
	}
	if c.Mode == "node" {
		c.Links.Extra = append(c.Links.Extra, DockerContainers)
	}
	return nil
}

var units = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// ParseBytes parses a byte count: a plain number or one with a unit
// (KiB, MiB, GiB, TiB, KB, MB, GB; K, M, G as binary units).
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// FormatBytes prints n with the largest binary unit that divides it.
func FormatBytes(n int64) string {
	for _, u := range units[:4] {
		if n >= u.mult && n%u.mult == 0 && (n/u.mult < 1024 || u.suffix == "TiB") {
			return fmt.Sprintf("%d%s", n/u.mult, u.suffix)
		}
	}
	return strconv.FormatInt(n, 10)
}

// Hostname is the host name for the resource attributes, or "unknown".
func Hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// nodeMode reads every container log of the node, in CRI or Docker
// format (recognised per file) unless --container-format says otherwise,
// each source with the pod and container its path names and, from the
// API, the pod's labels and images; the selection leaves pods out.
func nodeMode(r *Reader, c *Agent, pc parse.Config) error {
	if pc.Container == "none" {
		pc.Container = "auto"
	}
	root := r.Str("pods-dir")
	if !filepath.IsAbs(root) {
		r.Fail("pods-dir", root, "an absolute folder like /var/log/pods")
	}
	sel, err := node.ParseSelector(r.Str("include-pods"), r.Str("exclude-pods"))
	if err != nil {
		return err
	}
	sel.IncludeNamespaces, sel.ExcludeNamespaces = r.List("include-namespace"), r.List("exclude-namespace")
	sel.IncludeAnnotations, sel.ExcludeAnnotations = r.List("include-annotation"), r.List("exclude-annotation")
	sel.IncludeEnv, sel.ExcludeEnv = r.List("include-env"), r.List("exclude-env")
	d := &node.Dir{Root: root, Base: c.Resource, Parse: pc, Select: sel, RouteLabel: r.Str("route-label")}
	if err := r.Err(); err != nil {
		return err
	}
	if r.Bool("pod-metadata") {
		name := r.Str("node-name")
		if name == "" {
			return errors.New("mode node needs node-name to ask the API for this node's pods (the DaemonSet sets LOGLET_NODE_NAME from spec.nodeName), or --pod-metadata=false")
		}
		client, err := apiClient(r)
		if err != nil {
			return err
		}
		d.Pods, d.Wait = node.NewPods(client, name, r.Duration("forget-after")), r.Duration("metadata-wait")
		c.Capture = func(ctx context.Context) error {
			d.Pods.Run(ctx)
			return ctx.Err()
		}
		c.Synced = d.Pods.Synced
	}
	c.Paths = append(c.Paths, d.Glob())
	c.Select = d.Choose
	return r.Err()
}

// sidecarMode reads the pod as the webhook laid it out: the files of
// LOGLET_PATH, and the containers' stdout — the copies loglet exec writes
// (wrap) or the spool of their pods/log streams (api) — each source with
// its container.
func sidecarMode(r *Reader, c *Agent, pc parse.Config) error {
	l := &pod.Layout{Root: r.Str("pod-volume"), Files: c.Parse}
	labels, err := l.LabelAttributes()
	if err != nil {
		return err
	}
	c.Resource = append(c.Resource, labels...)
	l.Base = c.Resource
	c.Select = l.Select // sees the stdout specs set below
	if images := r.Str("container-images"); images != "" {
		if err := json.Unmarshal([]byte(images), &l.Images); err != nil {
			r.Fail("container-images", images, `a JSON object like {"app":"nginx:1.27"}`)
			return r.Err()
		}
	}
	containers := slices.Sorted(maps.Keys(l.Images))
	stdout := r.OneOf("stdout", "auto", "wrap", "api", "off")
	c.ExitWhenDone = r.Bool("exit-when-done")
	if stdout == "off" {
		if c.ExitWhenDone {
			return errors.New("exit-when-done: needs stdout: wrap or api, to see the containers end")
		}
		return r.Err()
	}
	if len(containers) == 0 && (stdout != "wrap" || c.ExitWhenDone) {
		return fmt.Errorf("stdout: %s needs container-images, the containers to capture (the webhook sets it); or set stdout: off", stdout)
	}
	c.Paths = append(c.Paths, l.StdoutGlob())
	if stdout == "wrap" {
		pc.Container = "cri"
		spec, err := parse.Compile(pc)
		if err != nil {
			return err
		}
		l.Stdout = spec
		c.LostBytes = l.LostBytes
		if c.ExitWhenDone {
			c.Capture = func(ctx context.Context) error { return l.WaitForExit(ctx, containers, 100*time.Millisecond) }
		}
		return r.Err()
	}
	pc.Container = "timestamps"
	spec, err := parse.Compile(pc)
	if err != nil {
		return err
	}
	l.API = spec
	ns, name := r.Str("pod-namespace"), r.Str("pod-name")
	if ns == "" || name == "" {
		return fmt.Errorf("stdout: %s needs pod-namespace and pod-name (the webhook sets them from the downward API)", stdout)
	}
	client, err := apiClient(r)
	if err != nil {
		return err
	}
	// The streams reach their end first, then the files are drained.
	c.DrainTimeout /= 2
	streams, err := podlog.New(podlog.Options{Client: client, Namespace: ns, Pod: name, Containers: containers,
		Dir: l.StdoutDir(), DrainTimeout: c.DrainTimeout})
	if err != nil {
		return err
	}
	c.Capture = streams.Run
	c.StdoutStalls, c.StdoutGaps = streams.Stalls, streams.Gaps
	return r.Err()
}

// apiClient is how the agent reaches the Kubernetes API (core/v1): in a
// pod, with its service account (the default); elsewhere, with the server,
// token and CA files given.
func apiClient(r *Reader) (rest.Interface, error) {
	server := r.Str("api-server")
	if server == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("the Kubernetes API (stdout: api, mode node) outside a pod needs --api-server and --api-token-file: %w", err)
		}
		return podlog.NewClient(rc)
	}
	client, err := podlog.NewClient(&rest.Config{Host: server, BearerTokenFile: r.Str("api-token-file"),
		TLSClientConfig: rest.TLSClientConfig{CAFile: r.Str("api-ca-file")}})
	if err != nil {
		return nil, fmt.Errorf("api-server %s: %w", server, err)
	}
	return client, nil
}
