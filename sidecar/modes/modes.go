// Package modes wires an agent for where it runs, from its configuration:
// which files it reads, how each source is parsed and what its records
// carry (the inputs, the pod's containers, the node's pods), and what runs
// beside the pipeline (the pods/log streams, the node's pod informer).
package modes

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"k8s.io/client-go/rest"

	"github.com/loglet/loglet/sidecar/config"
	"github.com/loglet/loglet/sidecar/decode"
	"github.com/loglet/loglet/sidecar/node"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/pipeline"
	"github.com/loglet/loglet/sidecar/pod"
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
// the first input's parsing; each source with its container.
func wireSidecar(a *Agent, c config.Agent, in *inputs) error {
	first, err := modeInput(c)
	if err != nil {
		return err
	}
	l := &pod.Layout{Root: c.Sidecar.Volume, Files: first.Parse, Images: c.Sidecar.Images}
	labels, err := l.LabelAttributes()
	if err != nil {
		return err
	}
	a.Pipeline.Resource = append(a.Pipeline.Resource, labels...)
	l.Base = a.Pipeline.Resource
	a.Pipeline.Select = in.choose(l.Select, source.Choice{})
	a.ExitWhenDone = c.Sidecar.ExitWhenDone
	stdout := c.Sidecar.Stdout
	if stdout == "off" {
		return nil
	}
	containers := slices.Sorted(maps.Keys(l.Images))
	a.Pipeline.Paths = append(a.Pipeline.Paths, l.StdoutGlob())
	pc := first.ParseConfig
	// A runtime writes stdout as UTF-8 lines: the app's text inside may be
	// in a legacy encoding, never in UTF-16 (that is for the input's files).
	if enc, err := decode.Lookup(pc.Encoding); err == nil {
		if wide, _ := enc.Wide(); wide {
			pc.Encoding = ""
		}
	}
	if stdout == "wrap" {
		pc.Container = "cri"
		if l.Stdout, err = parse.Compile(pc); err != nil {
			return err
		}
		a.LostBytes = l.LostBytes
		if a.ExitWhenDone {
			a.Capture = func(ctx context.Context) error { return l.WaitForExit(ctx, containers, 100*time.Millisecond) }
		}
		return nil
	}
	pc.Container = "timestamps"
	if l.API, err = parse.Compile(pc); err != nil {
		return err
	}
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
		a.Capture = func(ctx context.Context) error {
			d.Pods.Run(ctx)
			return ctx.Err()
		}
		a.Synced = d.Pods.Synced
	}
	a.Pipeline.Paths = append(a.Pipeline.Paths, d.Glob())
	a.Pipeline.Select = in.choose(d.Choose, source.Choice{})
	return nil
}

// apiClient is how the agent reaches the Kubernetes API (core/v1): in a
// pod, with its service account (the default); elsewhere, with the server,
// token and CA files given.
func apiClient(api config.API) (rest.Interface, error) {
	if api.Server == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("the Kubernetes API (stdout: api, mode node) outside a pod needs --api-server and --api-token-file: %w", err)
		}
		return podlog.NewClient(rc)
	}
	client, err := podlog.NewClient(&rest.Config{Host: api.Server, BearerTokenFile: api.TokenFile,
		TLSClientConfig: rest.TLSClientConfig{CAFile: api.CAFile}})
	if err != nil {
		return nil, fmt.Errorf("api-server %s: %w", api.Server, err)
	}
	return client, nil
}
