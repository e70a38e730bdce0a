// Package webhook decides which pods get the loglet sidecar and builds the
// mutation: one file decides (decide.go), one reads the pod's annotations
// (annotations.go), one builds the mutated pod (mutate.go), one the sidecar
// container (sidecar.go) with its configuration document (document.go),
// and one loads that document as the agent will before the pod is
// admitted (admit.go).
package webhook

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/loglet/loglet/internal/settings"
	"github.com/loglet/loglet/logconfig"
)

// Prefix starts every loglet annotation.
const Prefix = "loglet.io/"

// The annotations of the pod contract (DESIGN.md).
const (
	AnnotationInject         = Prefix + "inject"
	AnnotationPaths          = Prefix + "paths"
	AnnotationStdout         = Prefix + "stdout"
	AnnotationFormat         = Prefix + "format"
	AnnotationMultilineStart = Prefix + "multiline-start"
	AnnotationMultiline      = Prefix + "multiline"
	AnnotationCSVFields      = Prefix + "csv-fields"
	AnnotationRoute          = Prefix + "route"
	AnnotationEncoding       = Prefix + "encoding"
	AnnotationInputs         = Prefix + "inputs"
	// AnnotationRemoveShipped (never or rotated) and
	// AnnotationRotatedPattern are the pod's input's remove-shipped and
	// rotated-pattern: its rotated files are deleted once shipped.
	AnnotationRemoveShipped  = Prefix + "remove-shipped"
	AnnotationRotatedPattern = Prefix + "rotated-pattern"
	AnnotationSidecarCPU     = Prefix + "sidecar-cpu"
	AnnotationSidecarMemory  = Prefix + "sidecar-memory"
	AnnotationStatus         = Prefix + "status"
)

var known = map[string]bool{
	AnnotationInject: true, AnnotationPaths: true, AnnotationStdout: true, AnnotationFormat: true,
	AnnotationMultilineStart: true, AnnotationCSVFields: true, AnnotationRoute: true, AnnotationSidecarCPU: true,
	AnnotationSidecarMemory: true, AnnotationStatus: true, AnnotationEncoding: true, AnnotationMultiline: true,
	AnnotationInputs: true, AnnotationRemoveShipped: true, AnnotationRotatedPattern: true,
}

// knownAnnotations are the names of the pod contract, sorted.
func knownAnnotations() []string {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// LogPath is one entry of loglet.io/paths: a glob in a container.
type LogPath struct {
	Container string
	Dir       string // the glob's folder: where the shared volume is mounted
	Pattern   string // the file name glob inside Dir
}

// Request is what a pod's annotations ask for. The webhook checks what it
// builds from them (paths, stdout, resources); the parsing settings
// (format, csv-fields, multiline-start, route) go into the sidecar's
// configuration as written, and the agent's loader judges them when the
// pod is admitted (admit.go), so the two cannot disagree.
type Request struct {
	Paths          []LogPath
	Stdout         string
	Format         string
	CSVFields      []string
	MultilineStart string
	// MultilinePreset is loglet.io/multiline: a preset's name (java,
	// python, go, ruby, node, dotnet, auto).
	MultilinePreset string
	Route           string
	Encoding        string
	// RemoveShipped and RotatedPattern are loglet.io/remove-shipped and
	// loglet.io/rotated-pattern (empty: the agent's defaults, never and
	// its patterns).
	RemoveShipped  string
	RotatedPattern []string
	// Inputs are the push inputs loglet.io/inputs asks for (PushInputs).
	Inputs      []string
	CPU, Memory *resource.Quantity

	// LogConfigs are the LogConfigs and ClusterLogConfigs that select the
	// pod, in order (logconfig.Sort): their inputs follow the pod's own.
	LogConfigs []logconfig.Entry
	// NoDefaultInput leaves out the input named default: the pod was
	// opted in by LogConfigs only and its annotations ask for nothing.
	NoDefaultInput bool
}

// InvalidError names the annotation that is wrong, the bad value and an
// accepted example; the webhook denies the pod with it.
type InvalidError struct {
	Annotation, Value, Problem, Example string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("annotation %s=%q: %s; for example %s: %q", e.Annotation, e.Value, e.Problem, e.Annotation, e.Example)
}

// ReadRequest checks the loglet annotations of a pod that opted in. Unknown
// loglet.io/ annotations come back as warnings.
func ReadRequest(pod *corev1.Pod) (Request, []string, error) {
	a := pod.Annotations
	r := Request{Stdout: "auto", Format: "raw"}
	var warnings []string
	for _, k := range sortedKeys(a) {
		if strings.HasPrefix(k, Prefix) && !known[k] {
			warnings = append(warnings, fmt.Sprintf("unknown annotation %s is ignored (known: inject, paths, stdout, format, csv-fields, multiline, multiline-start, route, encoding, inputs, remove-shipped, rotated-pattern, sidecar-cpu, sidecar-memory)", k))
		}
	}
	containers := map[string]bool{}
	for _, c := range pod.Spec.Containers {
		containers[c.Name] = true
	}
	if v, ok := a[AnnotationPaths]; ok {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			p, err := readPath(item, pod, containers)
			if err != nil {
				return r, warnings, &InvalidError{AnnotationPaths, v, err.Error(), "app:/var/log/app/*.log"}
			}
			r.Paths = append(r.Paths, p)
		}
	}
	if v, ok := a[AnnotationStdout]; ok {
		switch v {
		case "auto", "api", "wrap", "off":
			r.Stdout = v
		default:
			return r, warnings, &InvalidError{AnnotationStdout, v, "want auto, api, wrap or off", "auto"}
		}
	}
	if v, ok := a[AnnotationFormat]; ok {
		r.Format = v
	}
	if v, ok := a[AnnotationCSVFields]; ok {
		for i, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				// The agent would drop the empty name and shift every
				// later column onto the wrong field.
				return r, warnings, &InvalidError{AnnotationCSVFields, v, fmt.Sprintf("column %d has no name; name every column, also those you do not need", i+1), "time,level,msg"}
			}
			r.CSVFields = append(r.CSVFields, name)
		}
		if r.Format != "csv" {
			warnings = append(warnings, fmt.Sprintf("%s is read only with %s: csv; this pod's format is %s", AnnotationCSVFields, AnnotationFormat, r.Format))
		}
	}
	if v, ok := a[AnnotationMultilineStart]; ok {
		r.MultilineStart = v
	}
	if v, ok := a[AnnotationMultiline]; ok {
		r.MultilinePreset = v
	}
	if v, ok := a[AnnotationRoute]; ok {
		r.Route = v
	}
	if v, ok := a[AnnotationEncoding]; ok {
		r.Encoding = v
	}
	if v, ok := a[AnnotationRemoveShipped]; ok {
		allowed := []string{"never", "rotated"}
		if !slices.Contains(allowed, v) {
			problem := "want never or rotated"
			if near := settings.Suggest(v, allowed); near != "" {
				problem += fmt.Sprintf(" (did you mean %q?)", near)
			}
			return r, warnings, &InvalidError{AnnotationRemoveShipped, v, problem, "rotated"}
		}
		r.RemoveShipped = v
	}
	if v, ok := a[AnnotationRotatedPattern]; ok {
		// Judged here as the agent's loader judges them, to name the
		// annotation (admit.go names those whose undoing it probes).
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			if _, err := filepath.Match(item, ""); err != nil || strings.Contains(item, "/") {
				return r, warnings, &InvalidError{AnnotationRotatedPattern, v,
					fmt.Sprintf("%q: want globs on file names, without a slash, separated by commas", item), "app.log.*,app.log-*"}
			}
			r.RotatedPattern = append(r.RotatedPattern, item)
		}
		if r.RemoveShipped != "rotated" {
			warnings = append(warnings, fmt.Sprintf("%s is read only with %s: rotated", AnnotationRotatedPattern, AnnotationRemoveShipped))
		}
	}
	if v, ok := a[AnnotationInputs]; ok {
		for _, item := range strings.Split(v, ",") {
			name := strings.TrimSpace(item)
			if _, known := PushInputs[name]; !known {
				problem := fmt.Sprintf("unknown input %q; want %s", name, strings.Join(slices.Sorted(maps.Keys(PushInputs)), ", "))
				if near := settings.Suggest(name, slices.Collect(maps.Keys(PushInputs))); near != "" {
					problem += fmt.Sprintf(" (did you mean %q?)", near)
				}
				return r, warnings, &InvalidError{AnnotationInputs, v, problem, "syslog,otlp"}
			}
			if slices.Contains(r.Inputs, name) {
				return r, warnings, &InvalidError{AnnotationInputs, v, fmt.Sprintf("%s is named twice", name), "syslog,otlp"}
			}
			r.Inputs = append(r.Inputs, name)
		}
	}
	for _, q := range []struct {
		key     string
		dst     **resource.Quantity
		example string
	}{{AnnotationSidecarCPU, &r.CPU, "50m"}, {AnnotationSidecarMemory, &r.Memory, "64Mi"}} {
		if v, ok := a[q.key]; ok {
			qty, err := resource.ParseQuantity(v)
			if err != nil || qty.Sign() <= 0 {
				return r, warnings, &InvalidError{q.key, v, "not a positive resource quantity", q.example}
			}
			*q.dst = &qty
		}
	}
	return r, warnings, nil
}

func readPath(item string, pod *corev1.Pod, containers map[string]bool) (LogPath, error) {
	var p LogPath
	glob := item
	if name, rest, ok := strings.Cut(item, ":"); ok && !strings.HasPrefix(item, "/") {
		p.Container, glob = name, rest
		if !containers[name] {
			return p, fmt.Errorf("the pod has no container %q", name)
		}
	} else {
		if len(pod.Spec.Containers) != 1 {
			return p, fmt.Errorf("%q names no container and the pod has %d: write <container>:%s", item, len(pod.Spec.Containers), item)
		}
		p.Container = pod.Spec.Containers[0].Name
	}
	dir, pattern, err := logconfig.CheckPath(glob)
	if err != nil {
		return p, err
	}
	p.Dir, p.Pattern = dir, pattern
	return p, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
