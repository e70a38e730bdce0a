// Package settings reads typed settings from flags, LOGLET_* environment
// variables and a YAML or JSON document, and says clearly what is wrong
// when one is: the setting, the value, the form it wants, and for a name
// nobody declared, the nearest one that is. Every loglet command reads its
// settings through it: the agent and the webhook agree on sizes, durations
// and names because they share this code.
package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// EnvPrefix starts the environment variable of every setting.
const EnvPrefix = "LOGLET_"

// EnvName is the environment variable of a setting: batch-bytes is
// LOGLET_BATCH_BYTES.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// Reader reads typed settings and keeps the first error, which names the
// setting and the form it wants. Flags set on the command line win, then
// the environment, then the document, then the flags' defaults.
type Reader struct {
	fs   *pflag.FlagSet
	env  map[string]string
	doc  map[string]any
	name func(key string) string // how an error names the setting
	err  error
}

// Environ turns os.Environ-style "K=V" entries into a map.
func Environ(environ []string) map[string]string {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// New reads the settings fs declares (already parsed) from fs, env and
// doc (a document's top-level keys; nil: none).
func New(fs *pflag.FlagSet, env map[string]string, doc map[string]any) *Reader {
	return &Reader{fs: fs, env: env, doc: doc, name: func(key string) string {
		return fmt.Sprintf("%s (flag --%s, env %s, config key %s)", key, key, EnvName(key), key)
	}}
}

// Nested reads the settings of one entry of a document (an input): only
// from doc, with the defaults of the flags of the same name in fs; errors
// name the entry (where) and the key.
func Nested(fs *pflag.FlagSet, doc map[string]any, where string) *Reader {
	return &Reader{fs: fs, doc: doc, name: func(key string) string { return where + "." + key }}
}

// Open reads what a command's settings come from: fs (declared and
// parsed; its flag "config" names the document), the environment
// (os.Environ-style) and the document — a YAML or JSON file, or the
// document itself as JSON in the variable of "config". Keys of the
// document and LOGLET_* variables that name no flag (nor one of
// documentKeys, nor a variable of otherVariables) are refused with the
// nearest known name. doc is the document's top-level keys (nil: none).
func Open(fs *pflag.FlagSet, environ []string, documentKeys, otherVariables []string) (r *Reader, doc map[string]any, err error) {
	env := Environ(environ)
	flags := Flags(fs)
	if err := CheckEnv(env, flags, otherVariables...); err != nil {
		return nil, nil, fmt.Errorf("%w (a setting's variable is LOGLET_ and its flag's name: --help lists them)", err)
	}
	src := env[EnvName("config")]
	if f := fs.Lookup("config"); f != nil && f.Changed {
		src = f.Value.String()
	}
	var what string
	switch t := strings.TrimSpace(src); {
	case t == "":
		return New(fs, env, nil), nil, nil
	case strings.HasPrefix(t, "{"):
		what = "config document (" + EnvName("config") + ")"
		doc, err = ReadDocument([]byte(t), what)
	default:
		what = "config file " + src
		doc, err = ReadFile(src)
	}
	if err != nil {
		return nil, nil, err
	}
	known := slices.DeleteFunc(append(flags, documentKeys...), func(k string) bool { return k == "config" })
	if err := CheckKeys(doc, known, what); err != nil {
		return nil, nil, err
	}
	return New(fs, env, doc), doc, nil
}

// ReadDocument reads a YAML or JSON document into its top-level keys.
// what names it in errors ("config file /etc/loglet.yaml"). A document
// that starts with { is read as JSON: YAML refuses some characters JSON
// strings may hold (control characters, a byte order mark), and a program
// (the webhook) writes JSON.
func ReadDocument(b []byte, what string) (map[string]any, error) {
	var doc map[string]any
	unmarshal := func(b []byte, v any) error { return yaml.Unmarshal(b, v) }
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		unmarshal = json.Unmarshal
	}
	if err := unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	return doc, nil
}

// ReadFile reads the YAML or JSON document at path.
func ReadFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return ReadDocument(b, "config file "+path)
}

// Err is the first error a read met.
func (r *Reader) Err() error { return r.err }

// Fail records an error about key, naming the value and the form wanted.
func (r *Reader) Fail(key string, val any, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: invalid value %q: want %s", r.name(key), fmt.Sprint(val), want)
	}
}

// Name is how errors name key: with its flag, variable and document key,
// or the input it belongs to.
func (r *Reader) Name(key string) string { return r.name(key) }

// IsSet says whether key was given anywhere rather than left at its
// default.
func (r *Reader) IsSet(key string) bool {
	_, set := r.lookup(key)
	return set
}

// lookup finds key where it was set; set is false for the flag's default.
func (r *Reader) lookup(key string) (val any, set bool) {
	f := r.fs.Lookup(key)
	if f != nil && f.Changed {
		return flagValue(f), true
	}
	if v, ok := r.env[EnvName(key)]; ok {
		return v, true
	}
	if v, ok := r.doc[key]; ok {
		return v, true
	}
	if f == nil {
		return nil, false
	}
	return flagValue(f), false
}

// flagValue is what a flag holds: a list flag as its items.
func flagValue(f *pflag.Flag) any {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	return f.Value.String()
}

func (r *Reader) get(key string) any {
	v, _ := r.lookup(key)
	return v
}

// Str reads a string.
func (r *Reader) Str(key string) string {
	switch v := r.get(key).(type) {
	case string:
		return v
	case nil:
		return ""
	case float64, int64, bool:
		return fmt.Sprint(v) // a YAML scalar that is not quoted
	default:
		r.Fail(key, v, "a string")
		return ""
	}
}

// OneOf reads a string that must be one of allowed.
func (r *Reader) OneOf(key string, allowed ...string) string {
	s := r.Str(key)
	if !slices.Contains(allowed, s) {
		want := "one of " + strings.Join(allowed, ", ")
		if near := Suggest(s, allowed); near != "" {
			want += fmt.Sprintf(" (did you mean %q?)", near)
		}
		r.Fail(key, s, want)
	}
	return s
}

// List reads a list: a YAML list, or items separated by commas. Empty
// items are left out.
func (r *Reader) List(key string) []string {
	items, _ := r.items(key)
	out := items[:0:0]
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// items reads a list's items as given; val is the value they came from.
func (r *Reader) items(key string) (items []string, val any) {
	switch v := r.get(key).(type) {
	case nil:
		return nil, v
	case string:
		if strings.TrimSpace(v) == "" {
			return nil, v
		}
		return strings.Split(v, ","), v
	case []string:
		return v, v
	case []any:
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				r.Fail(key, x, "a list of strings")
				return nil, v
			}
			items = append(items, s)
		}
		return items, v
	default:
		r.Fail(key, v, "a list of strings")
		return nil, v
	}
}

// Strings reads a list whose items are kept whole, commas included (a
// value given once on the command line or in the environment is one
// item): agent-setting values may hold commas.
func (r *Reader) Strings(key string) []string {
	if s, ok := r.get(key).(string); ok {
		return []string{s}
	}
	return r.List(key)
}

// Columns reads a list in which every item must be named: a list of
// column names, where an empty one would shift the columns after it.
func (r *Reader) Columns(key string) []string {
	items, val := r.items(key)
	for i, s := range items {
		if items[i] = strings.TrimSpace(s); items[i] == "" {
			r.Fail(key, val, fmt.Sprintf("a name for every column (column %d has none), like time,level,msg", i+1))
			return nil
		}
	}
	return items
}

// Duration reads a positive duration.
func (r *Reader) Duration(key string) time.Duration {
	val := r.get(key)
	d, err := time.ParseDuration(fmt.Sprint(val))
	if err != nil || d <= 0 {
		r.Fail(key, val, "a positive duration like 500ms, 1s or 2m")
	}
	return d
}

// DurationOrOff reads a positive duration, or 0 for off (returned as -1).
func (r *Reader) DurationOrOff(key string) time.Duration {
	val := r.get(key)
	if s := fmt.Sprint(val); s == "0" || s == "off" {
		return -1
	}
	d, err := time.ParseDuration(fmt.Sprint(val))
	if err != nil || d <= 0 {
		r.Fail(key, val, "a positive duration like 30s or 5m, or 0 for off")
	}
	return d
}

// Int reads a whole number within [lo, hi].
func (r *Reader) Int(key string, lo, hi int) int {
	val := r.get(key)
	n, err := strconv.Atoi(strings.TrimSpace(fmt.Sprint(val)))
	if err != nil || n < lo || n > hi {
		r.Fail(key, val, fmt.Sprintf("a whole number from %d to %d", lo, hi))
	}
	return n
}

// Bool reads true or false.
func (r *Reader) Bool(key string) bool {
	switch v := r.get(key).(type) {
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			r.Fail(key, v, "true or false")
		}
		return b
	default:
		r.Fail(key, v, "true or false")
		return false
	}
}

// Bytes reads a byte size within [lo, hi].
func (r *Reader) Bytes(key string, lo, hi int64) int64 {
	val := r.get(key)
	n, err := ParseBytes(fmt.Sprint(val))
	if err != nil || n < lo || n > hi {
		r.Fail(key, val, fmt.Sprintf("a size from %s to %s, like 524288, 512KiB or 64MiB", FormatBytes(lo), FormatBytes(hi)))
	}
	return n
}

// CheckKeys refuses keys of doc that are not in known: a typo would
// otherwise be ignored silently. what names the document.
func CheckKeys(doc map[string]any, known []string, what string) error {
	var unknown []string
	for k := range doc {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return unknownError(what+": unknown key", unknown[0], known)
}

// CheckEnv refuses LOGLET_* variables of env that name no setting of
// known (keys) and are not among also (variables other loglet commands
// read): LOGLET_BATCH_BYTE=1MiB must not be ignored silently.
func CheckEnv(env map[string]string, known []string, also ...string) error {
	names := make([]string, 0, len(known))
	for _, k := range known {
		names = append(names, EnvName(k))
	}
	var unknown []string
	for k, v := range env {
		if strings.HasPrefix(k, EnvPrefix) && !slices.Contains(names, k) && !slices.Contains(also, k) && !serviceLink(k, v) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return unknownError("unknown environment variable", unknown[0], names)
}

// serviceLinkName matches the variables the kubelet gives every pod for
// each Service of its namespace (enableServiceLinks, on by default): a
// Service named loglet-webhook or loglet-hub makes LOGLET_WEBHOOK_PORT,
// LOGLET_HUB_SERVICE_HOST and the like.
var serviceLinkName = regexp.MustCompile(`_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$`)

// serviceLink says whether name=value is a Service's variable: its name
// has their shape, and its value theirs (an address, a port, a protocol).
func serviceLink(name, value string) bool {
	m := serviceLinkName.FindStringSubmatch(name)
	switch {
	case m == nil:
		return false
	case strings.HasSuffix(name, "_PROTO"):
		return value == "tcp" || value == "udp" || value == "sctp"
	case strings.HasSuffix(name, "_SERVICE_HOST") || strings.HasSuffix(name, "_ADDR"):
		return net.ParseIP(value) != nil
	case m[1] == "PORT" || strings.HasSuffix(name, "_TCP") || strings.HasSuffix(name, "_UDP") || strings.HasSuffix(name, "_SCTP"):
		return strings.HasPrefix(value, "tcp://") || strings.HasPrefix(value, "udp://") || strings.HasPrefix(value, "sctp://")
	default: // _SERVICE_PORT…, _PORT_<n>_<PROTO>_PORT
		_, err := strconv.ParseUint(value, 10, 16)
		return err == nil
	}
}

func unknownError(what, name string, known []string) error {
	msg := fmt.Sprintf("%s %q", what, name)
	if near := Suggest(name, known); near != "" {
		return fmt.Errorf("%s: did you mean %q?", msg, near)
	}
	return errors.New(msg + "; known: " + strings.Join(known, ", "))
}

// Flags lists the names of the flags fs declares.
func Flags(fs *pflag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	return names
}

// Suggest is the candidate nearest to s (by edit distance, ignoring case),
// or "" when none is near enough to be what was meant.
func Suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if d := distance(ls, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	// A third of the name may be wrong: a typo, not another word.
	if bestD > max(2, len(s)/3) {
		return ""
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
