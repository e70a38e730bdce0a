package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/loglet/loglet/internal/settings"
)

// Config is one processor as the configuration document writes it: an
// optional name and exactly one kind.
type Config struct {
	// Name labels the processor's counters; the default is its kind,
	// numbered when the chain has more than one of it (drop, drop#2).
	Name   string  `json:"name,omitempty"`
	Drop   *Match  `json:"drop,omitempty"`
	Keep   *Match  `json:"keep,omitempty"`
	Redact *Redact `json:"redact,omitempty"`
	Set    *Set    `json:"set,omitempty"`
	Rename *Rename `json:"rename,omitempty"`
	Remove *Remove `json:"remove,omitempty"`
	Limit  *Limit  `json:"limit,omitempty"`
}

// Match selects records: drop drops those it selects, keep keeps only
// those. Every condition given must hold.
type Match struct {
	// Match is an RE2 searched in the body, or in Field's value.
	Match string `json:"match,omitempty"`
	// Field names a parsed attribute (or a resource attribute such as
	// k8s.namespace.name) to match instead of the body; a record without
	// it does not match.
	Field string `json:"field,omitempty"`
	// MinSeverity (keep only) keeps records at this severity or above;
	// records with no severity are kept.
	MinSeverity string `json:"min-severity,omitempty"`
}

// Redact replaces secrets in the body and every attribute value.
type Redact struct {
	// Builtin names the built-in rules (Builtins), or all.
	Builtin []string `json:"builtin,omitempty"`
	// Patterns are RE2s; a match is replaced whole, or, when the pattern
	// has groups, what each group matched.
	Patterns []string `json:"patterns,omitempty"`
	// Replace is the text put instead ([REDACTED]).
	Replace string `json:"replace,omitempty"`
	// Hash: sha256 puts a keyed hash of what matched instead, the same for
	// the same secret (keyed by the redact-salt setting).
	Hash string `json:"hash,omitempty"`
}

// Set sets attributes: a fixed value, or a pod label's.
type Set struct {
	Attributes map[string]Value `json:"attributes"`
}

// Value is a value to set: Text, or the value of the pod label FromLabel
// (the attribute is not set on a pod without that label).
type Value struct {
	Text      string
	FromLabel string
}

// Rename renames attributes: old key to new key.
type Rename struct {
	Attributes map[string]string `json:"attributes"`
}

// Remove removes attributes by key.
type Remove struct {
	Attributes []string `json:"attributes"`
}

// Limit drops a source's records beyond a rate (a token bucket).
type Limit struct {
	LinesPerSecond float64 `json:"lines-per-second"`
	// Burst is how many records may pass at once after a quiet time
	// (default: LinesPerSecond).
	Burst float64 `json:"burst,omitempty"`
}

// Kinds are the processors, as the document's keys name them.
var Kinds = []string{"drop", "keep", "redact", "set", "rename", "remove", "limit"}

// keys of each kind's map.
var kindKeys = map[string][]string{
	"drop":   {"match", "field"},
	"keep":   {"match", "field", "min-severity"},
	"redact": {"builtin", "patterns", "replace", "hash"},
	"set":    {"attributes"},
	"rename": {"attributes"},
	"remove": {"attributes"},
	"limit":  {"lines-per-second", "burst"},
}

// Kind is the processor's kind ("" when none is set).
func (c Config) Kind() string {
	switch {
	case c.Drop != nil:
		return "drop"
	case c.Keep != nil:
		return "keep"
	case c.Redact != nil:
		return "redact"
	case c.Set != nil:
		return "set"
	case c.Rename != nil:
		return "rename"
	case c.Remove != nil:
		return "remove"
	case c.Limit != nil:
		return "limit"
	}
	return ""
}

// MarshalJSON writes the value as the document does: text, or
// {"from-label": …}.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.FromLabel != "" {
		return json.Marshal(map[string]string{"from-label": v.FromLabel})
	}
	return json.Marshal(v.Text)
}

// UnmarshalJSON reads text or {"from-label": …}.
func (v *Value) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &v.Text); err == nil {
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || len(m) != 1 || m["from-label"] == "" {
		return errors.New(`want text, or {from-label: <pod label>}`)
	}
	v.FromLabel = m["from-label"]
	return nil
}

// Parse reads a processors list of a configuration document (as YAML or
// JSON decoded it); where names it in errors (processors, or
// inputs[0] (app): processors). Keys are checked, a typo gets the nearest
// name, and every processor is compiled once (with opt) to check it, so
// an error names the list it is in.
func Parse(list any, where string, opt Options) ([]Config, error) {
	items, ok := list.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a list of processors like - drop: {match: 'GET /healthz'}, got %v", where, list)
	}
	out := make([]Config, 0, len(items))
	for i, item := range items {
		at := fmt.Sprintf("%s[%d]", where, i)
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: want a map with one of %s, got %v", at, strings.Join(Kinds, ", "), item)
		}
		c, err := parseOne(m, at)
		if err != nil {
			return nil, err
		}
		if err := new(Chain).add(c, c.Kind(), opt); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", at, c.Kind(), err)
		}
		out = append(out, c)
	}
	return out, nil
}

func parseOne(m map[string]any, at string) (Config, error) {
	if err := settings.CheckKeys(m, append([]string{"name"}, Kinds...), at); err != nil {
		return Config{}, err
	}
	var kinds []string
	for _, k := range Kinds {
		if _, ok := m[k]; ok {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		return Config{}, fmt.Errorf("%s: no processor; give one of %s", at, strings.Join(Kinds, ", "))
	case 1:
	default:
		return Config{}, fmt.Errorf("%s: %s in one entry; give each processor its own entry of the list", at, strings.Join(kinds, " and "))
	}
	kind := kinds[0]
	at += " (" + kind + ")"
	body, ok := m[kind].(map[string]any)
	if !ok {
		return Config{}, fmt.Errorf("%s: want a map of %s, got %v", at, strings.Join(kindKeys[kind], ", "), m[kind])
	}
	if err := settings.CheckKeys(body, kindKeys[kind], at); err != nil {
		return Config{}, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", at, err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field[strings.LastIndexByte(te.Field, '.')+1:]
			return Config{}, fmt.Errorf("%s: %s: want %s, got a %s", at, field, typeName(te.Type.Kind().String()), te.Value)
		}
		return Config{}, fmt.Errorf("%s: %w", at, err)
	}
	return c, nil
}

func typeName(kind string) string {
	switch kind {
	case "float64", "int":
		return "a number"
	case "slice":
		return "a list"
	case "map", "struct":
		return "a map"
	}
	return "text"
}

// check refuses what would not run, naming the key and the fix.
func (c Config) check() error {
	if c.Name != "" && !validName(c.Name) {
		return fmt.Errorf("name: %q: want 1 to 64 letters, digits, -, _ or #", c.Name)
	}
	switch {
	case c.Drop != nil:
		if c.Drop.Match == "" {
			return errors.New("match: missing; give an RE2 to search in the body (or in field's value), like 'GET /healthz'")
		}
	case c.Keep != nil:
		if c.Keep.Match == "" && c.Keep.MinSeverity == "" {
			return errors.New("keep: give match (an RE2) or min-severity (TRACE, DEBUG, INFO, WARN, ERROR or FATAL)")
		}
		if c.Keep.Field != "" && c.Keep.Match == "" {
			return errors.New("field: needs match, the RE2 its value must match")
		}
	case c.Redact != nil:
		r := c.Redact
		if len(r.Builtin) == 0 && len(r.Patterns) == 0 {
			return fmt.Errorf("builtin, patterns: give at least one; the built-in rules are %s (or all)", strings.Join(Builtins, ", "))
		}
		if r.Hash != "" && r.Replace != "" {
			return errors.New("replace, hash: give one; replace puts fixed text instead, hash: sha256 a keyed hash")
		}
		if r.Hash != "" && r.Hash != "sha256" {
			return fmt.Errorf("hash: %q: the one hash is sha256", r.Hash)
		}
	case c.Set != nil:
		if len(c.Set.Attributes) == 0 {
			return errors.New("attributes: missing; give a map like {team: payments} or {team: {from-label: team}}")
		}
	case c.Rename != nil:
		if len(c.Rename.Attributes) == 0 {
			return errors.New("attributes: missing; give a map of old key to new key, like {msg_id: message.id}")
		}
		for from, to := range c.Rename.Attributes {
			if to == "" || from == "" {
				return fmt.Errorf("attributes: %q to %q: both keys must be non-empty", from, to)
			}
		}
	case c.Remove != nil:
		if len(c.Remove.Attributes) == 0 {
			return errors.New("attributes: missing; give a list of keys, like [password, token]")
		}
	case c.Limit != nil:
		if !(c.Limit.LinesPerSecond > 0) {
			return fmt.Errorf("lines-per-second: %v: want a number above 0, like 1000", c.Limit.LinesPerSecond)
		}
		if c.Limit.Burst < 0 || (c.Limit.Burst > 0 && c.Limit.Burst < 1) {
			return fmt.Errorf("burst: %v: want at least 1 (records that may pass at once), or leave it out for lines-per-second", c.Limit.Burst)
		}
	}
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '#') {
			return false
		}
	}
	return true
}

// names gives each processor of a chain its counters' label: its name,
// else its kind, numbered from the second of a kind on.
func names(list []Config) ([]string, error) {
	out := make([]string, len(list))
	seen := map[string]int{}
	for i, c := range list {
		if c.Name != "" {
			out[i] = c.Name
			continue
		}
		k := c.Kind()
		seen[k]++
		out[i] = k
		if seen[k] > 1 {
			out[i] = fmt.Sprintf("%s#%d", k, seen[k])
		}
	}
	for i, n := range out {
		if j := slices.Index(out, n); j != i {
			return nil, fmt.Errorf("processors: %q names two processors; give each its own name", n)
		}
	}
	return out, nil
}
