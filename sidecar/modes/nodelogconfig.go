package modes

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/internal/promtext"
	"github.com/loglet/loglet/logconfig"
	"github.com/loglet/loglet/sidecar/config"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/pipeline"
	"github.com/loglet/loglet/sidecar/podapi"
	"github.com/loglet/loglet/sidecar/process"
	"github.com/loglet/loglet/sidecar/source"
)

// nodeLogConfigs applies, in node mode, the LogConfigs and
// ClusterLogConfigs that select a pod to its containers' logs: the first
// input with stdout: true (in logconfig.Sort order) that applies to the
// container parses, processes and routes them, and names them. Inputs'
// files are not read in node mode: a node agent reads container logs.
type nodeLogConfigs struct {
	watch logConfigSource
	// container is the node's container log format (auto, cri, docker).
	container  string
	opts       config.InputOptions
	processors []process.Config
	popt       process.Options
	// selection is the agent's, given again after each change: Select
	// then decides with the new objects.
	selection pipeline.Selection
	reloads   *promtext.CounterVec

	mu sync.Mutex
	// compiled holds each input's compiled parsing and processors by its
	// definition: an input that did not change keeps them, so the files
	// it reads go on untouched; refused holds the inputs that did not
	// load (reported once).
	compiled map[string]*nodeInput
	refused  map[string]bool
	log      *slog.Logger
}

// logConfigSource is what node mode reads of the API's objects
// (node.LogConfigs).
type logConfigSource interface {
	In(namespace string) []*v1alpha1.LogConfig
	Cluster() []*v1alpha1.ClusterLogConfig
	NamespaceLabels(namespace string) (map[string]string, bool)
	Changed() <-chan struct{}
}

// nodeInput is an input compiled for the node's container logs.
type nodeInput struct {
	name    string
	parse   *parse.Spec
	process *process.Chain
	route   string
}

func newNodeLogConfigs(w logConfigSource, c config.Agent, container string) *nodeLogConfigs {
	n := &nodeLogConfigs{
		watch: w, container: container,
		opts:       config.InputOptions{MaxLineBytes: int64(c.Pipeline.MaxLineBytes), Salt: c.ProcessOptions.Salt},
		processors: c.Processors, popt: c.ProcessOptions,
		compiled: map[string]*nodeInput{}, refused: map[string]bool{}, log: slog.Default(),
		reloads: promtext.NewCounterVec("loglet_logconfig_reloads_total",
			"Changes of the LogConfigs applied (node mode: the objects the informer watches changed).", "result"),
	}
	n.reloads.WithLabelValues(reloadApplied)
	return n
}

// Collector is loglet_logconfig_reloads_total.
func (n *nodeLogConfigs) Collector() promtext.Collector { return n.reloads }

// Run re-decides how the files being read are read after every change of
// the objects, until ctx ends.
func (n *nodeLogConfigs) Run(ctx context.Context, apply func(context.Context, pipeline.Selection) error, log *slog.Logger) {
	n.mu.Lock()
	n.log = log
	n.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.watch.Changed():
		}
		log.Debug("LogConfigs changed: deciding again how the files being read are read")
		if err := apply(ctx, n.selection); err != nil {
			if ctx.Err() == nil {
				log.Error("LogConfigs not applied", "err", err)
			}
			continue
		}
		n.reloads.WithLabelValues(reloadApplied).Inc()
	}
}

// entries are the configs that apply to namespace, in order: its
// LogConfigs, then the ClusterLogConfigs whose namespace selector selects
// it; those the controller refused (Accepted false) left out.
func (n *nodeLogConfigs) entries(namespace string) []logconfig.Entry {
	var out []logconfig.Entry
	for _, lc := range n.watch.In(namespace) {
		if !meta.IsStatusConditionFalse(lc.Status.Conditions, logconfig.ConditionAccepted) {
			out = append(out, logconfig.FromLogConfig(lc))
		}
	}
	if labels, ok := n.watch.NamespaceLabels(namespace); ok {
		for _, c := range n.watch.Cluster() {
			if meta.IsStatusConditionFalse(c.Status.Conditions, logconfig.ConditionAccepted) {
				continue
			}
			if ok, err := logconfig.SelectsNamespace(c, labels); ok && err == nil {
				out = append(out, logconfig.FromClusterLogConfig(c))
			}
		}
	}
	logconfig.Sort(out)
	return out
}

// choose is node.Dir.Inputs: the first stdout input of the configs
// selecting the pod that applies to the container, if any, reads it.
func (n *nodeLogConfigs) choose(pod *podapi.Pod, container string, c source.Choice) source.Choice {
	var all []string
	for _, k := range pod.Spec.Containers {
		all = append(all, k.Name)
	}
	for _, e := range logconfig.ForPod(n.entries(pod.Namespace), pod.Labels) {
		if !slices.Contains(e.ContainersOf(all), container) {
			continue
		}
		for _, in := range e.Inputs {
			if !in.Stdout {
				continue
			}
			ni := n.compile(e.InputName(in.Name), in)
			if ni == nil {
				continue
			}
			c.Parse, c.Process, c.Input = ni.parse, ni.process, ni.name
			if ni.route != "" {
				c.Route = ni.route
			}
			return c
		}
	}
	return c
}

// compile loads an input as the agent's loader does, for the node's
// container logs, once per definition; nil if it does not load.
func (n *nodeLogConfigs) compile(name string, in v1alpha1.Input) *nodeInput {
	in.Name = name
	doc, err := logconfig.Document(in)
	if err != nil {
		return nil
	}
	// Files are the sidecar's: a node agent reads container logs only.
	delete(doc, "files")
	key, err := json.Marshal(doc)
	if err != nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if ni, ok := n.compiled[string(key)]; ok {
		return ni
	}
	if n.refused[string(key)] {
		return nil
	}
	ni, err := n.load(doc)
	if err != nil {
		n.refused[string(key)] = true
		n.log.Error("LogConfig input not applied: it does not load", "input", name, "err", err)
		return nil
	}
	n.compiled[string(key)] = ni
	return ni
}

func (n *nodeLogConfigs) load(doc map[string]any) (*nodeInput, error) {
	ins, err := config.LoadInputs([]any{doc}, n.opts)
	if err != nil {
		return nil, err
	}
	in := ins[0]
	chain, err := process.Compile(in.Name, slices.Concat(in.Processors, n.processors), n.popt)
	if err != nil {
		return nil, err
	}
	pc := in.ParseConfig
	pc.Container = n.container
	spec, err := parse.Compile(pc)
	if err != nil {
		return nil, err
	}
	return &nodeInput{name: in.Name, parse: spec, process: chain, route: in.Route}, nil
}
