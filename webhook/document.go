package webhook

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"

	"github.com/loglet/loglet/internal/settings"
	"github.com/loglet/loglet/logconfig"
	"github.com/loglet/loglet/sidecar/config"
)

// sidecarDocument is the configuration the sidecar of pod runs with: the
// agent-wide settings the webhook decides, the cluster's agent settings
// (Config.Agent), one input, named default, with the pod's log files
// (globs on the sidecar's volume) and the parsing its annotations ask for
// (none when req.NoDefaultInput), the push inputs loglet.io/inputs names,
// then the inputs of the LogConfigs that select the pod.
func sidecarDocument(pod *corev1.Pod, req Request, cfg Config, globs []string, lc logConfigPart) (sidecarDoc, []string) {
	images := map[string]string{}
	for _, c := range pod.Spec.Containers {
		images[c.Name] = c.Image
	}
	// The downward API cannot tell the images: the webhook hands them over.
	imagesJSON, _ := json.Marshal(images)
	s := map[string]string{
		"mode":             "sidecar",
		"sink":             cfg.Sink,
		"pod-volume":       sidecarRoot,
		"state-dir":        stateDir,
		"stdout":           req.Stdout,
		"metrics-addr":     fmt.Sprintf(":%d", cfg.MetricsPort),
		"container-images": string(imagesJSON),
	}
	if cfg.SizeLimit != nil && cfg.SizeLimit.Sign() > 0 {
		// The downward API does not tell a volume's sizeLimit: the agent
		// gauges the volume against it and warns before an eviction.
		s["volume-size-limit"] = strconv.FormatInt(cfg.SizeLimit.Value(), 10)
	}
	if req.Stdout != "off" && !cfg.NativeSidecar {
		// A plain container must end by itself once the others did, or a
		// Job never completes; it sees them end in loglet exec's markers
		// (wrap) or the pod status (api).
		s["exit-when-done"] = "true"
	}
	var warnings []string
	if _, set := cfg.Agent[settings.EnvName("drain-timeout")]; !set {
		drain, warning := drainTimeout(pod)
		s["drain-timeout"] = drain
		if warning != "" {
			warnings = append(warnings, warning)
		}
	}
	for k, v := range cfg.Agent {
		s[agentKey(k)] = v
	}
	// Where the agent finds its namespace's LogConfigs as the controller
	// renders them, and how their files map onto its volume.
	s["logconfig-file"] = logconfig.File
	if len(lc.mounts) > 0 {
		mounts, _ := json.Marshal(lc.mounts)
		s[logconfig.MountsSetting] = string(mounts)
	}
	if lc.sink != nil {
		// The Secret's URL comes in LOGLET_SINK (sidecar), which the
		// agent reads before the document: the document names none, so
		// no URL but the one used appears in the pod.
		delete(s, "sink")
	}
	in := config.Input{
		Name:      config.DefaultInput,
		Files:     globs,
		Format:    req.Format,
		CSVFields: req.CSVFields,
		Route:     req.Route,
		Encoding:  req.Encoding,

		RemoveShipped:  req.RemoveShipped,
		RotatedPattern: req.RotatedPattern,
	}
	if req.MultilineStart != "" || req.MultilinePreset != "" {
		in.Multiline = &config.Multiline{Start: req.MultilineStart, Preset: req.MultilinePreset}
	}
	var inputs []config.Input
	if !req.NoDefaultInput {
		inputs = append(inputs, in)
	}
	for _, name := range req.Inputs {
		inputs = append(inputs, pushInput(name, cfg, len(req.Inputs)))
	}
	return sidecarDoc{Document: config.Document{Settings: s, Inputs: inputs}, more: lc.inputs}, warnings
}

// sidecarDoc is the sidecar's document: the pod's own inputs, then those
// of its LogConfigs, which are entries of the document as written
// (logconfig.Document) rather than config.Input: processors and all, as
// the agent's loader reads them.
type sidecarDoc struct {
	config.Document
	more []map[string]any
}

// MarshalJSON writes the document as the agent reads it.
func (d sidecarDoc) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(d.Document)
	if err != nil || len(d.more) == 0 {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	inputs, _ := m["inputs"].([]any)
	for _, in := range d.more {
		inputs = append(inputs, in)
	}
	m["inputs"] = inputs
	return json.Marshal(m)
}

// PushInput is what loglet.io/inputs can name: an input of the sidecar
// that listens on the pod's loopback, and the variable that tells the
// app's containers where (none for syslog and lumberjack, which have no
// common one).
type PushInput struct {
	Kind, Listen string
	Env          corev1.EnvVar
}

// PushInputs are the inputs loglet.io/inputs names, each listening on the
// pod's loopback only, where its own containers reach it and nothing else
// does.
var PushInputs = map[string]PushInput{
	"syslog":     {Kind: config.PushSyslog, Listen: "tcp://127.0.0.1:5514"},
	"syslog-udp": {Kind: config.PushSyslog, Listen: "udp://127.0.0.1:5514"},
	"otlp": {Kind: config.PushHTTP, Listen: "127.0.0.1:4318",
		Env: corev1.EnvVar{Name: "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", Value: "http://127.0.0.1:4318/v1/logs"}},
	"lumberjack": {Kind: config.PushLumberjack, Listen: "127.0.0.1:5044"},
}

// pushInput is the sidecar's input for loglet.io/inputs' name. Its inbox
// lies on the pod's volume: the inputs share a quarter of the volume's
// size limit (at most 256MiB each), so a hub outage makes senders wait
// instead of filling the volume and getting the pod evicted.
func pushInput(name string, cfg Config, n int) config.Input {
	p := PushInputs[name]
	l := &config.Listener{Listen: p.Listen}
	if cfg.SizeLimit != nil {
		share := min(cfg.SizeLimit.Value()/int64(4*n), 256<<20)
		l.MaxInboxBytes = settings.FormatBytes(max(share, 1<<20))
	}
	in := config.Input{Name: name}
	switch p.Kind {
	case config.PushSyslog:
		in.Syslog = l
	case config.PushHTTP:
		in.HTTP = l
	case config.PushLumberjack:
		in.Lumberjack = l
	}
	return in
}

// agentKey is the document key of a LOGLET_* variable:
// LOGLET_BATCH_BYTES is batch-bytes.
func agentKey(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, settings.EnvPrefix)), "_", "-")
}

// webhookOwned are the agent settings the webhook sets for each sidecar,
// with what to do instead: an agent setting cannot override them.
var webhookOwned = map[string]string{
	"config":            "each sidecar's document is made from its pod's annotations",
	"mode":              "every sidecar runs in mode sidecar",
	"pod-name":          "each pod's, from the downward API",
	"pod-namespace":     "each pod's, from the downward API",
	"pod-uid":           "each pod's, from the downward API",
	"node-name":         "each pod's, from the downward API",
	"container-name":    "the sidecar names each record's container itself",
	"container-images":  "each pod's, from its containers",
	"pod-volume":        "it mounts the pod's log volume at " + sidecarRoot,
	"state-dir":         "checkpoints live on the pod's volume at " + stateDir + ", where they survive restarts of the sidecar",
	"exit-when-done":    "for a sidecar that is a plain container (--native-sidecar)",
	"sink":              "set --sink (the chart's sink)",
	"metrics-addr":      "set --sidecar-metrics-port (the chart's sidecar.metricsPort); the probes use it",
	"logconfig-file":    "every sidecar mounts its namespace's rendered LogConfigs at " + logconfig.File,
	"container-mounts":  "each pod's, from the folders the webhook shares with its sidecar",
	"volume-size-limit": "it is the pod log volume's sizeLimit: set --empty-dir-size-limit (the chart's sidecar.emptyDirSizeLimit)",
}

// perPodAnnotation names the annotation of each input setting that has
// one; the per-input settings are those of config.Input.
var perPodAnnotation = map[string]string{
	"path":             AnnotationPaths,
	"format":           AnnotationFormat,
	"csv-fields":       AnnotationCSVFields,
	"multiline-start":  AnnotationMultilineStart,
	"multiline-preset": AnnotationMultiline,
	"route":            AnnotationRoute,
	"encoding":         AnnotationEncoding,
	"remove-shipped":   AnnotationRemoveShipped,
	"rotated-pattern":  AnnotationRotatedPattern,
	"stdout":           AnnotationStdout,
}

// agentFlagSet is the agent's settings, declared as `loglet agent` does.
func agentFlagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.AgentFlags(fs)
	return fs
}

// CheckAgentSettings refuses agent settings (LOGLET_NAME → value) that no
// sidecar could use: names the agent does not know (with the nearest one
// it does), settings the webhook makes per pod from its annotations or
// sets itself, and those of mode node, which a sidecar ignores.
func CheckAgentSettings(agent map[string]string) error {
	names := make([]string, 0, len(agent))
	for k := range agent {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := AgentSettingAllowed(name); err != nil {
			return err
		}
	}
	return nil
}

// notForSidecars are agent settings a sidecar must not get, with why.
var notForSidecars = map[string]string{
	"follow-symlinks": "the sidecar opens only files beneath the folder each glob names: the app's containers can plant links on the shared volume (SECURITY.md)",
	"link-roots":      "the sidecar opens only files beneath the folder each glob names: the app's containers can plant links on the shared volume (SECURITY.md)",
	"once":            "a sidecar runs as long as its pod; once is for backfills",
}

// AgentSettingAllowed says why the agent setting LOGLET_NAME may not be
// given to every sidecar, or nil. The chart's schema lists the names it
// allows (TestChartSchema).
func AgentSettingAllowed(name string) error {
	fs := agentFlagSet()
	key := agentKey(name)
	what := "agent-setting " + name
	f := fs.Lookup(key)
	switch {
	case f == nil || settings.EnvName(key) != name:
		var known []string
		for _, k := range settings.Flags(fs) {
			known = append(known, settings.EnvName(k))
		}
		if near := settings.Suggest(name, known); near != "" {
			return fmt.Errorf("%s: unknown agent setting; did you mean %s?", what, near)
		}
		return fmt.Errorf("%s: unknown agent setting; `loglet agent --help` lists them (the variable is LOGLET_ and the flag's name)", what)
	case perPodAnnotation[key] != "":
		return fmt.Errorf("%s: set per pod with %s", what, perPodAnnotation[key])
	case slices.Contains(config.InputSettings(), key):
		return fmt.Errorf("%s: a setting of each input, which the webhook builds per pod from its annotations; no annotation sets %s yet", what, key)
	case webhookOwned[key] != "":
		return fmt.Errorf("%s: the webhook sets it; %s", what, webhookOwned[key])
	case notForSidecars[key] != "":
		return fmt.Errorf("%s: not for sidecars: %s", what, notForSidecars[key])
	case strings.HasPrefix(f.Usage, "mode node:"):
		return fmt.Errorf("%s: a setting of mode node, which a sidecar does not read", what)
	}
	return nil
}
