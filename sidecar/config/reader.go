package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// checkKeys rejects keys in the file that are no setting: a typo would
// otherwise be ignored silently.
func checkKeys(v *viper.Viper, fs *pflag.FlagSet, file string) error {
	var unknown []string
	for _, k := range v.AllKeys() {
		if fs.Lookup(k) == nil && v.InConfig(k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	var known []string
	fs.VisitAll(func(f *pflag.Flag) { known = append(known, f.Name) })
	return fmt.Errorf("config file %s: unknown key %q; known keys are the flag names: %s", file, unknown[0], strings.Join(known, ", "))
}

// Reader reads typed settings from flags, LOGLET_* environment variables
// and the YAML file named by the config flag (flags win, then the
// environment, then the file), and keeps the first error, which names the
// setting and the form it wants.
type Reader struct {
	v   *viper.Viper
	err error
}

// Open binds fs (already parsed) to the environment and reads the config
// file named by its "config" flag, rejecting keys that are no flag.
func Open(fs *pflag.FlagSet) (*Reader, error) {
	v := viper.New()
	v.SetEnvPrefix("LOGLET")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(fs); err != nil {
		return nil, err
	}
	if file := v.GetString("config"); file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config file %s: %w", file, err)
		}
		if err := checkKeys(v, fs, file); err != nil {
			return nil, err
		}
	}
	return &Reader{v: v}, nil
}

// Err is the first error a read met.
func (r *Reader) Err() error { return r.err }

// Fail records an error about key, naming the value and the form wanted
// (the typed reads use it; so can checks beyond them).
func (r *Reader) Fail(key string, val any, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: invalid value %q: want %s (flag --%s, env LOGLET_%s, config key %s)",
			key, fmt.Sprint(val), want, key, strings.ToUpper(strings.ReplaceAll(key, "-", "_")), key)
	}
}

// Str reads a string.
func (r *Reader) Str(key string) string {
	val := r.v.Get(key)
	switch s := val.(type) {
	case string:
		return s
	case nil:
		return ""
	default:
		r.Fail(key, val, "a string")
		return ""
	}
}

// OneOf reads a string that must be one of allowed.
func (r *Reader) OneOf(key string, allowed ...string) string {
	s := r.Str(key)
	if !slices.Contains(allowed, s) {
		r.Fail(key, s, "one of "+strings.Join(allowed, ", "))
	}
	return s
}

// List reads a list (YAML list, or comma-separated).
func (r *Reader) List(key string) []string {
	var items []string
	switch val := r.v.Get(key).(type) {
	case nil:
	case string:
		items = strings.Split(val, ",")
	case []string:
		items = val
	case []any:
		for _, x := range val {
			s, ok := x.(string)
			if !ok {
				r.Fail(key, x, "a list of strings")
				return nil
			}
			items = append(items, s)
		}
	default:
		r.Fail(key, val, "a list of strings")
		return nil
	}
	out := items[:0:0]
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Duration reads a positive duration.
func (r *Reader) Duration(key string) time.Duration {
	val := r.v.Get(key)
	d, err := time.ParseDuration(fmt.Sprint(val))
	if err != nil || d <= 0 {
		r.Fail(key, val, "a positive duration like 500ms, 1s or 2m")
	}
	return d
}

// DurationOrOff reads a positive duration, or 0 for off (returned as -1).
func (r *Reader) DurationOrOff(key string) time.Duration {
	val := r.v.Get(key)
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
	val := r.v.Get(key)
	n, err := strconv.Atoi(strings.TrimSpace(fmt.Sprint(val)))
	if err != nil || n < lo || n > hi {
		r.Fail(key, val, fmt.Sprintf("a whole number from %d to %d", lo, hi))
	}
	return n
}

// Bool reads true or false.
func (r *Reader) Bool(key string) bool {
	val := r.v.Get(key)
	switch b := val.(type) {
	case bool:
		return b
	case string:
		x, err := strconv.ParseBool(b)
		if err != nil {
			r.Fail(key, val, "true or false")
		}
		return x
	default:
		r.Fail(key, val, "true or false")
		return false
	}
}

// Bytes reads a byte size within [lo, hi].
func (r *Reader) Bytes(key string, lo, hi int64) int64 {
	val := r.v.Get(key)
	n, err := ParseBytes(fmt.Sprint(val))
	if err != nil || n < lo || n > hi {
		r.Fail(key, val, fmt.Sprintf("a size from %s to %s, like 524288, 512KiB or 64MiB", FormatBytes(lo), FormatBytes(hi)))
	}
	return n
}
