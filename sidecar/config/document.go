package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/loglet/loglet/internal/settings"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/process"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// Version is the configuration document's format. A document may leave it
// out; one of a newer version is refused rather than misread.
const Version = 1

// DefaultInput names the input the per-input flags and LOGLET_*
// variables describe when the document has no inputs.
const DefaultInput = "default"

// Input is one entry of the document's inputs: files read, parsed and
// routed on their own. Records carry its name as the attribute
// loglet.input. Keys left out take the default of the flag of the same
// name (files: --path).
type Input struct {
	// Name is unique among the inputs: 1 to 64 letters, digits, - or _.
	Name string `json:"name"`
	// Files are globs of the files to read, absolute (** matches any
	// folders).
	Files []string `json:"files,omitempty"`
	// Exclude are globs of files to leave out; without a slash one
	// matches the file name (*.gz).
	Exclude []string `json:"exclude,omitempty"`
	// Format says how a line becomes a record: raw, json, logfmt, nginx,
	// csv, syslog or regex:<RE2>.
	Format string `json:"format,omitempty"`
	// ContainerFormat is the container log wrapping to decode first:
	// none, cri, docker or auto.
	ContainerFormat string `json:"container-format,omitempty"`
	// Multiline joins the lines of a record (stack traces); the older
	// keys multiline-start and multiline-timeout are read too.
	Multiline *Multiline `json:"multiline,omitempty"`
	// CSVFields are the column names of format csv.
	CSVFields []string `json:"csv-fields,omitempty"`
	// TimeKey is the field holding the record's event time.
	TimeKey string `json:"time-key,omitempty"`
	// TimeFormat says how TimeKey is written (rfc3339, unix, unix_ms,
	// unix_us, unix_ns or a Go layout).
	TimeFormat string `json:"time-format,omitempty"`
	// Encoding is what the input's applications write their text in:
	// utf-8, utf-16le, utf-16be, utf-16 (the BOM decides), or a
	// WHATWG/IANA name (gbk, big5, shift_jis, windows-1252, …).
	Encoding string `json:"encoding,omitempty"`
	// What a record whose text is not valid carries: keep (U+FFFD and the
	// original bytes escaped in loglet.raw_body) or replace (U+FFFD only).
	InvalidUTF8 string `json:"invalid-utf8,omitempty"`
	// Route is where the input's records go (Kafka topic, JetStream
	// subject suffix); empty: the agent's.
	Route string `json:"route,omitempty"`
	// RemoveShipped says which of the input's files the agent deletes once
	// the hub acknowledged every byte of them: never, or rotated (files
	// renamed away from the name the glob found, whose names match
	// rotated-pattern; mode sidecar, on the pod's log volume, only).
	RemoveShipped string `json:"remove-shipped,omitempty"`
	// RotatedPattern are globs on the base names of the input's rotated
	// files (app.log.1, app.log.2.gz, app.log-20261201).
	RotatedPattern []string `json:"rotated-pattern,omitempty"`
	// Processors run on the input's records after parsing, before the
	// document's own processors.
	Processors []process.Config `json:"processors,omitempty"`
	// Syslog makes the input listen for syslog messages (RFC 5424 and
	// RFC 3164; TCP with octet counting or newlines, UDP, Unix sockets)
	// instead of reading files; its format is then syslog.
	Syslog *Listener `json:"syslog,omitempty"`
	// HTTP makes the input listen for OTLP/HTTP logs (POST /v1/logs,
	// protobuf or JSON) and POST /ingest (NDJSON, a JSON array or text
	// lines) instead of reading files.
	HTTP *Listener `json:"http,omitempty"`
	// Lumberjack makes the input listen for the Beats protocol v2
	// (Filebeat's and Winlogbeat's logstash output) instead of reading
	// files.
	Lumberjack *Listener `json:"lumberjack,omitempty"`

	// Parse is the compiled Format and the rest (the loader sets it).
	Parse *parse.Spec `json:"-"`
	// ParseConfig is what Parse was compiled from: a mode may compile it
	// again for another container format.
	ParseConfig parse.Config `json:"-"`
	// Process is Processors and the document's, compiled (nil: none).
	Process *process.Chain `json:"-"`
}

// Multiline is an input's multiline block. Each key is also a flag,
// multiline-<key>.
type Multiline struct {
	// Start is an RE2 matching the first line of a record.
	Start string `json:"start,omitempty"`
	// End is an RE2 matching the last line of a record.
	End string `json:"end,omitempty"`
	// Continue is an RE2 matching the lines that continue a record.
	Continue string `json:"continue,omitempty"`
	// Preset joins a runtime's stack traces: java, python, go, ruby,
	// node, dotnet or auto.
	Preset string `json:"preset,omitempty"`
	// MaxLines and MaxBytes finish a growing record in parts.
	MaxLines int    `json:"max-lines,omitempty"`
	MaxBytes string `json:"max-bytes,omitempty"`
	// Timeout finishes a record after this long without a new line (1s).
	Timeout string `json:"timeout,omitempty"`
}

// multilineKeys are the keys of a multiline block.
var multilineKeys = []string{"start", "end", "continue", "preset", "max-lines", "max-bytes", "timeout"}

// legacyInputKeys are keys an input still reads that a block replaced:
// multiline-start and multiline-timeout are multiline.start and
// multiline.timeout.
var legacyInputKeys = []string{"multiline-start", "multiline-timeout"}

// documentKeys are an input's keys in the document.
var documentKeys = []string{"name", "files", "exclude", "format", "container-format", "multiline", "multiline-start",
	"multiline-timeout", "csv-fields", "time-key", "time-format", "encoding", "invalid-utf8", "route", "remove-shipped",
	"rotated-pattern", "processors",
	PushSyslog, PushHTTP, PushLumberjack}

// flattenMultiline replaces doc's multiline block (a map, or a preset's
// name as a shorthand: multiline: java) by the flags' keys, multiline-<key>,
// which the settings reader types and checks as it does every flag.
func flattenMultiline(doc map[string]any, where string) error {
	block, ok := doc["multiline"]
	if !ok {
		return nil
	}
	delete(doc, "multiline")
	m, ok := block.(map[string]any)
	if name, isName := block.(string); isName {
		m, ok = map[string]any{"preset": name}, true
	}
	if !ok {
		return fmt.Errorf("%s.multiline: want a map like {preset: java} or {start: '^\\d{4}-'}, or a preset's name, got %v", where, block)
	}
	if err := settings.CheckKeys(m, multilineKeys, where+".multiline"); err != nil {
		return err
	}
	for k, v := range m {
		flat := "multiline-" + k
		if _, both := doc[flat]; both {
			return fmt.Errorf("%s: multiline.%s and %s both given; keep multiline.%s", where, k, flat, k)
		}
		doc[flat] = v
	}
	return nil
}

// Document is a configuration document as a program writes it (the
// webhook, for the sidecar it injects): agent-wide settings by key and the
// inputs. It is JSON with the settings at the top level beside version
// and inputs, as a person writes the YAML file.
type Document struct {
	Settings map[string]string
	Inputs   []Input
}

// MarshalJSON writes the document as the agent reads it.
func (d Document) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(d.Settings)+2)
	for k, v := range d.Settings {
		m[k] = v
	}
	m["version"] = Version
	if len(d.Inputs) > 0 {
		m["inputs"] = d.Inputs
	}
	return json.Marshal(m)
}

// InputOptions are the agent-wide settings inputs are read with; the
// zero value takes the flags' defaults.
type InputOptions struct {
	MaxLineBytes int64
	// Salt is redact-salt, for the processors' hashes.
	Salt string
}

// LoadInputs reads a list of inputs as Load reads the document's, each
// setting an input leaves out taking its flag's default: the webhook
// checks LogConfigs with it and an agent loads what LogConfigs render
// for its pod. The inputs' processors are parsed, not compiled.
func LoadInputs(list any, o InputOptions) ([]Input, error) {
	fs := pflag.NewFlagSet("inputs", pflag.ContinueOnError)
	AgentFlags(fs)
	if o.MaxLineBytes == 0 {
		v, err := fs.GetString("max-line-bytes")
		if err != nil {
			return nil, err
		}
		n, err := settings.ParseBytes(v)
		if err != nil {
			return nil, err
		}
		o.MaxLineBytes = n
	}
	return readInputs(fs, list, o.MaxLineBytes, process.Options{Salt: o.Salt})
}

// ValidInputName tells whether name can name an input: 1 to 64 letters,
// digits, - or _ (like a route); or a LogConfig's input as the agent
// names it, <config>/<input> or cluster/<config>/<input>
// (logconfig.Entry.InputName).
func ValidInputName(name string) bool {
	parts := strings.Split(name, "/")
	return len(parts) <= 3 && !slices.ContainsFunc(parts, func(p string) bool { return !record.ValidRoute(p) })
}

// readInputs reads the document's inputs list, each with its keys checked
// (a typo gets the nearest key) and its settings typed as the flags are.
func readInputs(fs *pflag.FlagSet, list any, maxLineBytes int64, popt process.Options) ([]Input, error) {
	items, ok := list.([]any)
	if !ok || len(items) == 0 {
		return nil, fmt.Errorf("inputs: want a list of inputs, each with a name and files, got %v", list)
	}
	var inputs []Input
	seen := map[string]bool{}
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("inputs[%d]: want a map with name, files, format…, got %v", i, item)
		}
		where := fmt.Sprintf("inputs[%d]", i)
		name, _ := m["name"].(string)
		if name != "" {
			where += " (" + name + ")"
		}
		if err := settings.CheckKeys(m, documentKeys, where); err != nil {
			return nil, err
		}
		m = maps.Clone(m)
		if err := flattenMultiline(m, where); err != nil {
			return nil, err
		}
		kind, listener, err := takePush(m, where)
		if err != nil {
			return nil, err
		}
		switch {
		case name == "":
			return nil, fmt.Errorf("%s: name: missing; every input has a unique name, like app", where)
		case !ValidInputName(name):
			return nil, fmt.Errorf("%s: name: invalid value %q: want 1 to 64 letters, digits, - or _, like app", where, name)
		case kind != "" && strings.Contains(name, "/"):
			return nil, fmt.Errorf("%s: name: %q: a listening input's name has no / (names with / are LogConfigs' inputs, which read files)", where, name)
		case seen[name]:
			return nil, fmt.Errorf("%s: name: %q names two inputs; give each its own", where, name)
		}
		seen[name] = true
		// Inside an input, files is the flag path.
		doc := maps.Clone(m)
		delete(doc, "processors")
		if files, ok := doc["files"]; ok {
			doc["path"] = files
			delete(doc, "files")
		}
		in, err := readInput(settings.Nested(fs, doc, where), name, maxLineBytes)
		if err != nil {
			return nil, err
		}
		if list, ok := m["processors"]; ok {
			if in.Processors, err = process.Parse(list, where+": processors", popt); err != nil {
				return nil, err
			}
		}
		switch kind {
		case PushSyslog:
			in.Syslog = listener
		case PushHTTP:
			in.HTTP = listener
		case PushLumberjack:
			in.Lumberjack = listener
		}
		inputs = append(inputs, in)
	}
	return inputs, nil
}

// readInput reads one input's settings from r (the flags for the default
// input, an inputs entry otherwise) and compiles its parsing.
func readInput(r *settings.Reader, name string, maxLineBytes int64) (Input, error) {
	in := Input{
		Name:            name,
		Files:           r.List("path"),
		Exclude:         r.List("exclude"),
		Format:          r.Str("format"),
		ContainerFormat: r.Str("container-format"),
		Multiline: &Multiline{
			Start:    r.Str("multiline-start"),
			End:      r.Str("multiline-end"),
			Continue: r.Str("multiline-continue"),
			Preset:   r.Str("multiline-preset"),
			MaxLines: r.Int("multiline-max-lines", 1, 1<<20),
			MaxBytes: r.Str("multiline-max-bytes"),
			Timeout:  r.Str("multiline-timeout"),
		},
		CSVFields:      r.Columns("csv-fields"),
		TimeKey:        r.Str("time-key"),
		TimeFormat:     r.Str("time-format"),
		Encoding:       r.Str("encoding"),
		InvalidUTF8:    r.OneOf("invalid-utf8", "keep", "replace"),
		Route:          r.Str("route"),
		RemoveShipped:  r.OneOf("remove-shipped", "never", "rotated"),
		RotatedPattern: r.List("rotated-pattern"),
	}
	in.ParseConfig = parse.Config{
		Format:            in.Format,
		Container:         in.ContainerFormat,
		MultilineStart:    in.Multiline.Start,
		MultilineEnd:      in.Multiline.End,
		MultilineContinue: in.Multiline.Continue,
		MultilinePreset:   in.Multiline.Preset,
		MultilineMaxLines: in.Multiline.MaxLines,
		MultilineMaxBytes: int(r.Bytes("multiline-max-bytes", 0, 64<<20)),
		MultilineTimeout:  r.Duration("multiline-timeout"),
		CSVFields:         in.CSVFields,
		TimeKey:           in.TimeKey,
		TimeFormat:        in.TimeFormat,
		Encoding:          in.Encoding,
		InvalidUTF8:       in.InvalidUTF8,
		MaxLineBytes:      int(maxLineBytes),
	}
	if in.Route != "" && !record.ValidRoute(in.Route) {
		r.Fail("route", in.Route, "1 to 64 letters, digits, - or _, like nginx_access_log")
	}
	for _, p := range in.RotatedPattern {
		if _, err := filepath.Match(p, ""); err != nil || strings.Contains(p, "/") {
			r.Fail("rotated-pattern", p, "globs on file names, without a slash, like *.[0-9]* or app.log-*")
			break
		}
	}
	if in.RemoveShipped == "rotated" && len(in.RotatedPattern) == 0 {
		r.Fail("rotated-pattern", "", "at least one glob with remove-shipped: rotated, like *.[0-9]*")
	}
	if err := r.Err(); err != nil {
		return Input{}, err
	}
	if _, err := source.NewMatcher(in.Files, in.Exclude); err != nil {
		return Input{}, fmt.Errorf("%s: %w", r.Name("path"), err)
	}
	spec, err := parse.Compile(in.ParseConfig)
	if err != nil {
		if name != DefaultInput {
			err = fmt.Errorf("input %s: %w", name, err)
		}
		return Input{}, err
	}
	in.Parse = spec
	return in, nil
}

// inputFlagsSet lists the per-input settings given outside inputs.
func inputFlagsSet(r *settings.Reader) []string {
	return slices.DeleteFunc(slices.Clone(inputKeys), func(k string) bool { return !r.IsSet(k) })
}
