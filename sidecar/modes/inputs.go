package modes

import (
	"slices"
	"strings"

	"github.com/loglet/loglet/sidecar/config"
	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/pod"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// inputs decides which input a file belongs to: the first whose files
// match it and whose excludes do not.
type inputs struct {
	list  []config.Input
	match []*source.Matcher
	// mode is the index of the input the mode's own files belong to (-1:
	// none): the first that reads files, unless a sidecar says otherwise.
	mode int
	// stdoutOf, when set, tells the container whose stdout copy a path
	// is; stdout gives the containers whose copies an input reads with
	// its own parsing (LogConfig inputs with stdout: true).
	stdoutOf func(path string) (container string, ok bool)
	stdout   map[string]stdoutClaim
}

// stdoutClaim is the input reading a container's stdout copies, and its
// parsing of them (in the capture's container format).
type stdoutClaim struct {
	input int
	parse *parse.Spec
}

// newInputs matches the inputs' globs; Load checked them.
func newInputs(list []config.Input) *inputs {
	in := &inputs{list: list, mode: firstFiles(list)}
	for _, c := range list {
		m, _ := source.NewMatcher(c.Files, c.Exclude)
		in.match = append(in.match, m)
	}
	return in
}

// paths are every input's globs.
func (in *inputs) paths() []string {
	var paths []string
	for _, c := range in.list {
		for _, f := range c.Files {
			if !slices.Contains(paths, f) {
				paths = append(paths, f)
			}
		}
	}
	return paths
}

// exclude is what every input leaves out: with one input, its excludes,
// which the pipeline then never lists; with several, each input's
// excludes apply only to its own files (choose skips them).
func (in *inputs) exclude() []string {
	if len(in.list) == 1 {
		return in.list[0].Exclude
	}
	return nil
}

// choose returns pipeline.Config.Select: a file of an input is parsed and
// routed as the input says and carries its name; mode (nil: the agent's
// resource) tells what the mode knows of a path (its container, its pod)
// and reads the mode's own files — the containers' stdout, the node's
// pods — which belong to the first input.
func (in *inputs) choose(mode func(path string) source.Choice, base source.Choice) func(path string) source.Choice {
	return func(path string) source.Choice {
		c := base
		if mode != nil {
			c = mode(path)
		}
		if c.Skip || c.Later {
			return c
		}
		for i, m := range in.match {
			if m.Match(path) {
				c.Parse, c.Input, c.Process = in.list[i].Parse, in.list[i].Name, in.list[i].Process
				if r := in.list[i].Route; r != "" {
					c.Route = r
				}
				if in.list[i].RemoveShipped == "rotated" {
					c.Remove = in.list[i].RotatedPattern
				}
				if kind, _ := in.list[i].Push(); kind != "" {
					c = inboxChoice(c, path)
				}
				return c
			}
		}
		// Matched by an input's glob but left out by its excludes: not
		// the mode's file either.
		if mode == nil || slices.ContainsFunc(in.match, func(m *source.Matcher) bool { return m.Excludes(path) }) {
			return source.Choice{Skip: true}
		}
		if in.stdoutOf != nil {
			if ctr, ok := in.stdoutOf(path); ok {
				if claim, ok := in.stdout[ctr]; ok {
					i := in.list[claim.input]
					c.Parse, c.Input, c.Process = claim.parse, i.Name, i.Process
					if i.Route != "" {
						c.Route = i.Route
					}
					return c
				}
			}
		}
		// The mode may have named the input itself (node mode: a
		// LogConfig's stdout input selecting the pod).
		if f := in.mode; f >= 0 && c.Input == "" {
			c.Input, c.Process = in.list[f].Name, in.list[f].Process
			if c.Route == "" {
				c.Route = in.list[f].Route
			}
		}
		return c
	}
}

// firstFiles is the index of the first input that reads files, to which
// the mode's own files (the containers' stdout, the node's pods) belong;
// -1 when every input listens.
func firstFiles(list []config.Input) int {
	return slices.IndexFunc(list, func(in config.Input) bool { kind, _ := in.Push(); return kind == "" })
}

// modeInput is the input the mode's own files are read as: the first that
// reads files, or, when every input listens, raw lines under no input's
// name.
func modeInput(c config.Agent) (config.Input, error) {
	if f := firstFiles(c.Inputs); f >= 0 {
		return c.Inputs[f], nil
	}
	in := config.Input{ParseConfig: parse.Config{Format: "raw", MaxLineBytes: c.Pipeline.MaxLineBytes}}
	var err error
	in.Parse, err = parse.Compile(in.ParseConfig)
	return in, err
}

// inboxChoice is the choice for a segment of an input's inbox: read whole,
// its records carrying the resource their sender gave beside the agent's
// (the agent's wins where both name a key: it knows where it runs). But
// service.name is the sender's: the agent's is only derived from the pod
// (pod.ServiceName), a default for records that do not say; an SDK's
// unknown_service… default says nothing, and gives way to the agent's.
func inboxChoice(c source.Choice, path string) source.Choice {
	c.Inbox = true
	res, err := inbox.Resource(path)
	if err != nil {
		// A segment without its resource file is one the agent did not
		// write: a sender cannot plant files in the state dir.
		return source.Choice{Skip: true}
	}
	c.Resource = slices.Clone(c.Resource)
	for _, kv := range res {
		switch {
		case !slices.ContainsFunc(c.Resource, func(have record.KeyValue) bool { return have.Key == kv.Key }):
			c.Resource = append(c.Resource, kv)
		case kv.Key == "service.name" && !strings.HasPrefix(kv.Value, "unknown_service"):
			c.Resource = pod.Set(c.Resource, kv.Key, kv.Value)
		}
	}
	return c
}
