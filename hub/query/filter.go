package query

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/sidecar/parse"
)

// Filter selects records; its zero value selects every record.
type Filter struct {
	// Namespace, Pod, Container and Route select by the message's subject
	// (the server filters), and by resource for messages of the layout
	// before subjects named them.
	Namespace, Pod, Container, Route string
	// Since and Until bound the records' time (zero: open). Reading starts
	// at the first package the hub stored at Since (a record is stored
	// after its time), but goes on to the end: a package stored long after
	// Until may still hold records of before it (an agent catching up on
	// an old file, or after the hub was down).
	Since, Until time.Time
	// MinSeverity keeps records of this severity and above; records with
	// no severity are dropped when it is set.
	MinSeverity Severity
	// Where holds conditions on attributes and resource, all of which must
	// hold.
	Where []Cond
	// Grep selects records whose body, severity or an attribute value
	// matches: a JSON line's level=error becomes the record's severity
	// ERROR, and --grep error should still find it.
	Grep *regexp.Regexp
	// TimeAndSeverity says the reader uses only the records' Time,
	// Severity and Stored (a count by time and severity): lines of the
	// agent's shape are then not decoded whole, and their records come
	// without Raw, Body, Attributes and Resource (NATS hubs).
	TimeAndSeverity bool

	// lit is a literal every line Grep can select holds as it is written
	// in the record's JSON (nil: none known), checked before the line is
	// decoded.
	lit []byte
}

// filters are the subject filters of the selection in a stream.
func (f *Filter) filters(stream string) []string {
	return layout.Select{Route: f.Route, Namespace: f.Namespace, Pod: f.Pod, Container: f.Container}.Filters(stream)
}

// prepare computes what matching needs once.
func (f *Filter) prepare() {
	if f.Grep != nil && f.lit == nil {
		f.lit = jsonLiteral(f.Grep.String())
	}
}

func (f *Filter) match(r Record) bool {
	if (f.Namespace != "" && r.Resource["k8s.namespace.name"] != f.Namespace) ||
		(f.Pod != "" && r.Resource["k8s.pod.name"] != f.Pod) ||
		(f.Container != "" && r.Resource["k8s.container.name"] != f.Container) {
		return false
	}
	if !f.matchTimeSeverity(r) {
		return false
	}
	for _, c := range f.Where {
		if !c.holds(r) {
			return false
		}
	}
	if f.Grep != nil && !f.Grep.MatchString(r.Body) && (r.Severity == "" || !f.Grep.MatchString(r.Severity)) {
		found := false
		for _, v := range r.Attributes {
			if f.Grep.MatchString(text(v)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// matchTimeSeverity checks the severity and the time range.
func (f *Filter) matchTimeSeverity(r Record) bool {
	if f.MinSeverity != 0 && ParseSeverity(r.Severity) < f.MinSeverity {
		return false
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		t, err := ParseTime(r.Time)
		if err != nil || (!f.Since.IsZero() && t.Before(f.Since)) || (!f.Until.IsZero() && t.After(f.Until)) {
			return false
		}
	}
	return true
}

// quick tells whether a message on subject can be read for its records'
// time and severity only: the reader asked for no more
// (TimeAndSeverity), nothing else of a record is to be checked, and the
// subject (this layout's: <prefix>.<route>.<namespace>.<pod>.<container>.<source_id>)
// already selected the namespace, pod and container, as the server
// filtered by it.
func (f *Filter) quick(subject string) bool {
	if !f.TimeAndSeverity || len(f.Where) > 0 || f.Grep != nil {
		return false
	}
	return (f.Namespace == "" && f.Pod == "" && f.Container == "") || strings.Count(subject, ".") == 5
}

// jsonLiteral is a literal every match of expr holds (the longest of the
// top-level concatenation, case-sensitive), when it reads the same in any
// JSON encoding of a string holding it: printable ASCII without the
// characters encoders escape (", \, /, <, >, &, ').
func jsonLiteral(expr string) []byte {
	return parse.RequiredLiteral(expr, func(r rune) bool {
		return r >= ' ' && r < utf8.RuneSelf && !strings.ContainsRune(`"\/<>&'`, r)
	})
}

// text is an attribute value as a string: strings as they are, numbers
// as JSON writes them, anything else as JSON.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Cond is one --where condition: key=value, key!=value or key~=RE2.
type Cond struct {
	Key   string
	Value string
	Re    *regexp.Regexp
	Not   bool
}

// ParseCond reads key=value, key!=value or key~=RE2.
func ParseCond(s string) (Cond, error) {
	i := strings.IndexAny(s, "=~!")
	if i <= 0 {
		return Cond{}, fmt.Errorf("where %q: want key=value, key!=value or key~=RE2 (e.g. k8s.pod.label.app=shop)", s)
	}
	key, op := s[:i], s[i:]
	switch {
	case strings.HasPrefix(op, "~="):
		re, err := regexp.Compile(op[2:])
		if err != nil {
			return Cond{}, fmt.Errorf("where %q: %w", s, err)
		}
		return Cond{Key: key, Re: re}, nil
	case strings.HasPrefix(op, "!="):
		return Cond{Key: key, Value: op[2:], Not: true}, nil
	case strings.HasPrefix(op, "="):
		return Cond{Key: key, Value: op[1:]}, nil
	}
	return Cond{}, fmt.Errorf("where %q: want key=value, key!=value or key~=RE2 (e.g. k8s.pod.label.app=shop)", s)
}

// holds looks the key up in the resource, then in the attributes.
func (c Cond) holds(r Record) bool {
	v, ok := r.Resource[c.Key]
	if !ok {
		var a any
		a, ok = r.Attributes[c.Key]
		v = text(a)
	}
	switch {
	case c.Re != nil:
		return ok && c.Re.MatchString(v)
	case c.Not:
		return !ok || v != c.Value
	default:
		return ok && v == c.Value
	}
}

// Severity orders severities as the OpenTelemetry severity numbers do.
type Severity int

// Severities, lowest first.
const (
	SeverityTrace Severity = iota + 1
	SeverityDebug
	SeverityInfo
	SeverityWarn
	SeverityError
	SeverityFatal
)

// severityNames maps what records and users write to a severity.
var severityNames = map[string]Severity{
	"TRACE": SeverityTrace, "DEBUG": SeverityDebug, "INFO": SeverityInfo, "NOTICE": SeverityInfo,
	"WARN": SeverityWarn, "WARNING": SeverityWarn, "ERROR": SeverityError, "ERR": SeverityError,
	"CRITICAL": SeverityFatal, "CRIT": SeverityFatal, "ALERT": SeverityFatal, "EMERG": SeverityFatal,
	"EMERGENCY": SeverityFatal, "FATAL": SeverityFatal, "PANIC": SeverityFatal,
}

// ParseSeverity reads a severity name in any case; 0 if it is none.
func ParseSeverity(s string) Severity { return severityNames[strings.ToUpper(s)] }

// SeverityFlag reads a --severity value, with a clear error.
func SeverityFlag(s string) (Severity, error) {
	if v := ParseSeverity(s); v != 0 {
		return v, nil
	}
	return 0, fmt.Errorf("severity %q: want one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL", s)
}

// ParseTime reads a record's time: RFC 3339 with nanoseconds. The agent
// writes it at a fixed width in UTC (2006-01-02T15:04:05.000000000Z),
// which is read here digit by digit, several times faster than
// time.Parse; counting a day of records parses one a record. Any other
// form goes to time.Parse.
func ParseTime(s string) (time.Time, error) {
	if len(s) != 30 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[29] != 'Z' {
		return time.Parse(time.RFC3339Nano, s)
	}
	num := func(i, j int) (int, bool) {
		n := 0
		for _, c := range []byte(s[i:j]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	nsec, ok7 := num(20, 29)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return time.Parse(time.RFC3339Nano, s) // its error names what is wrong
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), nil
}

// daysIn is the number of days of a month.
func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
