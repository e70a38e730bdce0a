// Package modes wires an agent for where it runs, from its configuration:
// which files it reads, how each source is parsed and what its records
// carry (the inputs, the pod's containers, the node's pods), and what runs
// beside the pipeline (the pods/log streams, the node's pod informer).
package modes

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/internal/promtext"
	"github.com/loglet/loglet/sidecar/config"
	"github.com/loglet/loglet/sidecar/decode"
	"github.com/loglet/loglet/sidecar/node"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/pipeline"
	"github.com/loglet/loglet/sidecar/pod"
	"github.com/loglet/loglet/sidecar/podapi"
	"github.com/loglet/loglet/sidecar/podlog"
	"github.com/loglet/loglet/sidecar/process"
	"github.com/loglet/loglet/sidecar/source"
)

// Agent is an agent wired for its mode.
type Agent struct {
	// Pipeline is the configuration's, with the paths to read and how
	// each source is read.
	Pipeline pipeline.Config
	// Capture, when set, runs beside the pipeline: it streams the
	// containers' pods/log into the files the agent reads (stdout: api),
	// watches loglet exec's exit markers (wrap), or keeps the node's pods
	// current. It returns nil once every container ended and all its
	// output is in the files; once ctx ends, ctx's error after the
	// streams drained.
	Capture func(ctx context.Context) error
	// Synced, when set, must be true for the agent to be ready (node mode:
	// the pod informer has listed the node's pods).
	Synced func() bool
	// ExitWhenDone: drain and exit once Capture saw every container end.
	ExitWhenDone bool
	// LostBytes reports what loglet exec could not copy (wrap);
	// StdoutStalls and StdoutGaps count pods/log follows that stalled and
	// resumes that may have missed a rotated file (api). Nil when the
	// mode has none.
	LostBytes, StdoutStalls, StdoutGaps func() float64
	// Processors are the inputs' processor chains, for their counters.
	Processors []*process.Chain
	// Push, when set, runs the inputs that listen; the pipeline reads
	// their inboxes.
	Push *Push
	// Reload, when set, applies LogConfigs' changes while the agent runs:
	// a sidecar's logconfig-file (LogConfigs), a node agent's informer.
	Reload Reloader
}

// Reloader changes what the agent reads while it runs: Run calls apply
// (pipeline.Agent.Reselect) with each new selection until ctx ends.
type Reloader interface {
	Run(ctx context.Context, apply func(context.Context, pipeline.Selection) error, log *slog.Logger)
	// Collector counts the reloads, to be registered.
	Collector() promtext.Collector
}

// Wire builds the agent c describes. It reaches nothing yet: clients
// connect when Capture runs.
func Wire(c config.Agent) (*Agent, error) {
	c.Inputs = slices.Clone(c.Inputs) // push inputs get their inbox as files
	a := &Agent{Pipeline: c.Pipeline, Push: newPush(&c)}
	for _, in := range c.Inputs {
		if in.Process != nil {
			a.Processors = append(a.Processors, in.Process)
		}
	}
	in := newInputs(c.Inputs)
	a.Pipeline.Paths, a.Pipeline.Exclude = in.paths(), in.exclude()
	a.Pipeline.Select = in.choose(nil, source.Choice{Resource: a.Pipeline.Resource})
	// Container logs have partial lines; the inputs may have multiline.
	a.Pipeline.Waits = c.Mode != "local" || slices.ContainsFunc(c.Inputs, func(in config.Input) bool { return in.Parse.Multiline() })
	var err error
	switch c.Mode {
	case "sidecar":
		err = wireSidecar(a, c, in)
	case "node":
		err = wireNode(a, c, in)
	}
	return a, err
}

// wireSidecar reads the pod as the webhook laid it out: the inputs' files
// on the shared volume, and the containers' stdout — the copies loglet
// exec writes (wrap) or the spool of their pods/log streams (api) — with
// the first input's parsing; each source with its container. With a
// LogConfig file, the inputs from LogConfigs come from it (see
// LogConfigs), and one that reads stdout reads its containers' copies
// with its own parsing instead.
func wireSidecar(a *Agent, c config.Agent, in *inputs) error {
	base, fromWebhook := c.Inputs, []config.Input(nil)
	if c.Sidecar.LogConfigFile != "" {
		// The LogConfigs' inputs come after the pod's own (the webhook
		// writes them so): the mode's files belong to the first of the
		// pod's own, whatever the LogConfigs become.
		base = slices.DeleteFunc(slices.Clone(c.Inputs), isLogConfigInput)
		for _, i := range c.Inputs {
			if isLogConfigInput(i) {
				fromWebhook = append(fromWebhook, i)
			}
		}
	}
	first, err := modeInput(config.Agent{Inputs: base, Pipeline: c.Pipeline})
	if err != nil {
		return err
	}
	// The volume is the pod's: its use is gauged, and rotated files an
	// input asks to remove are deleted there and nowhere else.
	a.Pipeline.Volume, a.Pipeline.VolumeLimit = c.Sidecar.Volume, c.Sidecar.VolumeLimit
	l := &pod.Layout{Root: c.Sidecar.Volume, Files: first.Parse, Images: c.Sidecar.Images}
	labels, err := l.LabelAttributes()
	if err != nil {
		return err
	}
	a.Pipeline.Resource = append(a.Pipeline.Resource, labels...)
	l.Base = a.Pipeline.Resource
	side := &sidecarReads{layout: l, capture: c.Sidecar.Stdout, base: base, mode: firstFiles(base)}
	if side.capture == "auto" {
		side.capture = "api"
	}
	a.ExitWhenDone = c.Sidecar.ExitWhenDone
	if err := wireStdout(a, c, side, first); err != nil {
		return err
	}
	if c.Sidecar.LogConfigFile == "" {
		a.Pipeline.Select = in.choose(l.Select, source.Choice{})
		if side.capture != "off" {
			a.Pipeline.Paths = append(a.Pipeline.Paths, l.StdoutGlob())
		}
		return nil
	}
	lc := newLogConfigs(c, side)
	a.Reload = lc
	sel := side.selection(lc.start(fromWebhook))
	a.Pipeline.Paths, a.Pipeline.Exclude, a.Pipeline.Select = sel.Paths, sel.Exclude, sel.Select
	// Inputs may all come from LogConfigs rendered later.
	a.Pipeline.PathsLater = true
	return nil
}

// isLogConfigInput tells an input from LogConfigs (logconfig.Entry
// InputName: <config>/<input>) from the pod's own.
func isLogConfigInput(in config.Input) bool { return strings.Contains(in.Name, "/") }

// wireStdout compiles the mode input's parsing of the containers' stdout
// copies and sets up their capture: loglet exec's exit markers (wrap) or
// the pods/log streams (api).
func wireStdout(a *Agent, c config.Agent, side *sidecarReads, first config.Input) error {
	l := side.layout
	if side.capture == "off" {
		return nil
	}
	containers := slices.Sorted(maps.Keys(l.Images))
	spec, err := parse.Compile(side.stdoutConfig(first.ParseConfig))
	if err != nil {
		return err
	}
	if side.capture == "wrap" {
		l.Stdout = spec
		a.LostBytes = l.LostBytes
		if a.ExitWhenDone {
			a.Capture = func(ctx context.Context) error { return l.WaitForExit(ctx, containers, 100*time.Millisecond) }
		}
		return nil
	}
	l.API = spec
	client, err := apiClient(c.API)
	if err != nil {
		return err
	}
	// The streams reach their end first, then the files are drained.
	a.Pipeline.DrainTimeout /= 2
	streams, err := podlog.New(podlog.Options{Client: client, Namespace: c.Identity.Namespace, Pod: c.Identity.Pod,
		Containers: containers, Dir: l.StdoutDir(), DrainTimeout: a.Pipeline.DrainTimeout})
	if err != nil {
		return err
	}
	a.Capture = streams.Run
	a.StdoutStalls, a.StdoutGaps = streams.Stalls, streams.Gaps
	return nil
}

// sidecarReads is how a sidecar reads its pod: the layout, how the
// containers' stdout is captured, and the pod's own inputs, which come
// before those of its LogConfigs.
type sidecarReads struct {
	layout *pod.Layout
	// capture is wrap, api or off.
	capture string
	base    []config.Input
	// mode is the index in base of the input the mode's files belong to
	// (-1: none).
	mode int
}

// stdoutConfig is an input's parsing for the containers' stdout copies:
// in the capture's container format, and UTF-8 lines — the app's text
// inside may be in a legacy encoding, never in UTF-16 (that is for the
// input's files).
func (s *sidecarReads) stdoutConfig(pc parse.Config) parse.Config {
	if enc, err := decode.Lookup(pc.Encoding); err == nil {
		if wide, _ := enc.Wide(); wide {
			pc.Encoding = ""
		}
	}
	pc.Container = "timestamps"
	if s.capture == "wrap" {
		pc.Container = "cri"
	}
	return pc
}

// selection is what the sidecar reads with these LogConfig inputs: the
// pod's inputs first, then the LogConfigs' in order (a file two match is
// read by the first); a container's stdout copies by the first
// LogConfig input that reads its stdout, else as the mode's.
func (s *sidecarReads) selection(lc []lcInput) pipeline.Selection {
	list := slices.Clone(s.base)
	for _, c := range lc {
		list = append(list, c.in)
	}
	in := newInputs(list)
	in.mode = s.mode
	in.stdoutOf = s.layout.StdoutContainer
	for i, c := range lc {
		for _, ctr := range c.stdout {
			if _, taken := in.stdout[ctr]; !taken && c.spec != nil {
				if in.stdout == nil {
					in.stdout = map[string]stdoutClaim{}
				}
				in.stdout[ctr] = stdoutClaim{input: len(s.base) + i, parse: c.spec}
			}
		}
	}
	paths := in.paths()
	if s.capture != "off" {
		paths = append(paths, s.layout.StdoutGlob())
	}
	return pipeline.Selection{Paths: paths, Exclude: in.exclude(), Select: in.choose(s.layout.Select, source.Choice{})}
}

// wireNode reads every container log of the node, in CRI or Docker format
// (recognised per file) unless the first input's container-format says
// otherwise, with its parsing, each source with the pod and container its
// path names and, from the API, the pod's labels and images; the selection
// leaves pods out. The inputs' own files are read too.
func wireNode(a *Agent, c config.Agent, in *inputs) error {
	first, err := modeInput(c)
	if err != nil {
		return err
	}
	pc := first.ParseConfig
	if pc.Container == "none" {
		pc.Container = "auto"
	}
	d := &node.Dir{Root: c.Node.PodsDir, Base: a.Pipeline.Resource, Parse: pc, Select: c.Node.Select, RouteLabel: c.Node.RouteLabel}
	if c.Node.PodMetadata {
		client, err := apiClient(c.API)
		if err != nil {
			return err
		}
		d.Pods, d.Wait = node.NewPods(client, c.Identity.Node, c.Node.ForgetAfter), c.Node.MetadataWait
		var lcs *node.LogConfigs
		if c.Node.LogConfigs {
			rc, err := restConfig(c.API)
			if err != nil {
				return err
			}
			lcClient, err := logletClient(rc)
			if err != nil {
				return err
			}
			lcs = node.NewLogConfigs(lcClient, client)
		}
		a.Capture = func(ctx context.Context) error {
			var wg sync.WaitGroup
			if lcs != nil {
				wg.Go(func() { lcs.Run(ctx) })
			}
			d.Pods.Run(ctx)
			wg.Wait()
			return ctx.Err()
		}
		a.Synced = d.Pods.Synced
		if lcs != nil {
			// Ready once the configs are listed too: files found before
			// are read under them from then on (finished and resumed).
			a.Synced = func() bool { return d.Pods.Synced() && lcs.Synced() }
			n := newNodeLogConfigs(lcs, c, pc.Container)
			d.Inputs = n.choose
			a.Reload = n
		}
	}
	a.Pipeline.Paths = append(a.Pipeline.Paths, d.Glob())
	a.Pipeline.Select = in.choose(d.Choose, source.Choice{})
	if n, ok := a.Reload.(*nodeLogConfigs); ok {
		n.selection = pipeline.Selection{Paths: a.Pipeline.Paths, Exclude: a.Pipeline.Exclude, Select: a.Pipeline.Select}
	}
	return nil
}

// apiClient is how the agent reaches the Kubernetes API (core/v1): in a
// pod, with its service account (the default); elsewhere, with the server,
// token and CA files given.
func apiClient(api config.API) (rest.Interface, error) {
	rc, err := restConfig(api)
	if err != nil {
		return nil, err
	}
	client, err := podapi.NewClient(rc)
	if err != nil && api.Server != "" {
		return nil, fmt.Errorf("api-server %s: %w", api.Server, err)
	}
	return client, err
}

// restConfig is the API's address and credentials.
func restConfig(api config.API) (*rest.Config, error) {
	if api.Server == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("the Kubernetes API (stdout: api, mode node) outside a pod needs --api-server and --api-token-file: %w", err)
		}
		return rc, nil
	}
	return &rest.Config{Host: api.Server, BearerTokenFile: api.TokenFile, TLSClientConfig: rest.TLSClientConfig{CAFile: api.CAFile}}, nil
}

// logletClient reaches the loglet.io/v1alpha1 API (LogConfigs) with rc.
func logletClient(rc *rest.Config) (rest.Interface, error) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c := rest.CopyConfig(rc)
	c.GroupVersion = &v1alpha1.GroupVersion
	c.APIPath = "/apis"
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = "loglet"
	}
	client, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("loglet.io API client: %w", err)
	}
	return client, nil
}
