package query

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// Params are a query as a user writes it: the flags of loglet logs tail,
// and the parameters of the console's API and page URL, by the same names
// (ParseParams). Build checks them and makes the Filter and Options, so
// the CLI and the console read a query the same way.
type Params struct {
	Namespace, Pod, Container, Route string
	// Since is a duration back from now; SinceTime an RFC 3339 time; Until
	// either.
	Since            time.Duration
	SinceTime, Until string
	// Tail is the last N records (0: all).
	Tail     int
	Severity string
	Where    []string
	Grep     string
	Follow   bool
	Count    bool
}

// ParamNames are the names Params read in a URL: the CLI's long flags.
var paramNames = []string{"namespace", "pod", "container", "route", "since", "since-time", "until", "tail", "severity", "where", "grep", "follow", "count"}

// ParseParams reads Params from URL query values named as the CLI's long
// flags (since=1h&severity=ERROR&where=k8s.namespace.name%3Dshop). Other
// names are left for the caller; a value that cannot be read is an error
// naming the parameter.
func ParseParams(v url.Values) (Params, error) {
	p := Params{
		Namespace: v.Get("namespace"), Pod: v.Get("pod"), Container: v.Get("container"), Route: v.Get("route"),
		SinceTime: v.Get("since-time"), Until: v.Get("until"), Severity: v.Get("severity"), Grep: v.Get("grep"),
	}
	for _, w := range v["where"] {
		if w != "" {
			p.Where = append(p.Where, w)
		}
	}
	if s := v.Get("since"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return p, fmt.Errorf("since %q: want a duration such as 15m or 2h", s)
		}
		p.Since = d
	}
	if s := v.Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return p, fmt.Errorf("tail %q: want a number of records", s)
		}
		p.Tail = n
	}
	for _, b := range []struct {
		name string
		to   *bool
	}{{"follow", &p.Follow}, {"count", &p.Count}} {
		if s := v.Get(b.name); s != "" {
			on, err := strconv.ParseBool(s)
			if err != nil {
				return p, fmt.Errorf("%s %q: want true or false", b.name, s)
			}
			*b.to = on
		}
	}
	return p, nil
}

// Values are the params as URL query values (what ParseParams reads).
func (p Params) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("namespace", p.Namespace)
	set("pod", p.Pod)
	set("container", p.Container)
	set("route", p.Route)
	if p.Since != 0 {
		v.Set("since", p.Since.String())
	}
	set("since-time", p.SinceTime)
	set("until", p.Until)
	if p.Tail != 0 {
		v.Set("tail", strconv.Itoa(p.Tail))
	}
	set("severity", p.Severity)
	for _, w := range p.Where {
		v.Add("where", w)
	}
	set("grep", p.Grep)
	if p.Follow {
		v.Set("follow", "true")
	}
	if p.Count {
		v.Set("count", "true")
	}
	return v
}

// IsParam tells whether a URL query name is one ParseParams reads.
func IsParam(name string) bool {
	for _, n := range paramNames {
		if n == name {
			return true
		}
	}
	return false
}

// Build checks the params and makes the query, times relative to now.
func (p Params) Build(now time.Time) (Filter, Options, error) {
	f := Filter{Namespace: p.Namespace, Pod: p.Pod, Container: p.Container, Route: p.Route}
	o := Options{Last: p.Tail, Follow: p.Follow}
	if p.Tail < 0 {
		return f, o, fmt.Errorf("tail %d: want a number of records, 0 for all", p.Tail)
	}
	if p.Count && p.Follow {
		return f, o, errors.New("--count counts what the hub holds; it cannot be used with -f")
	}
	switch {
	case p.Since < 0:
		return f, o, fmt.Errorf("since %s: want a positive duration, e.g. 10m", p.Since)
	case p.Since > 0 && p.SinceTime != "":
		return f, o, errors.New("--since and --since-time both set: use one")
	case p.Since > 0:
		f.Since = now.Add(-p.Since)
	case p.SinceTime != "":
		t, err := time.Parse(time.RFC3339Nano, p.SinceTime)
		if err != nil {
			return f, o, fmt.Errorf("since-time %q: want an RFC 3339 time such as 2026-12-01T10:00:00Z", p.SinceTime)
		}
		f.Since = t
	}
	if p.Until != "" {
		if d, err := time.ParseDuration(p.Until); err == nil && d >= 0 {
			f.Until = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339Nano, p.Until); err == nil {
			f.Until = t
		} else {
			return f, o, fmt.Errorf("until %q: want an RFC 3339 time such as 2026-12-01T10:00:00Z, or a duration ago such as 5m", p.Until)
		}
		if !f.Since.IsZero() && f.Until.Before(f.Since) {
			return f, o, fmt.Errorf("until %s is before since %s", f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
		}
	}
	if p.Severity != "" {
		sev, err := SeverityFlag(p.Severity)
		if err != nil {
			return f, o, err
		}
		f.MinSeverity = sev
	}
	for _, w := range p.Where {
		c, err := ParseCond(w)
		if err != nil {
			return f, o, err
		}
		f.Where = append(f.Where, c)
	}
	if p.Grep != "" {
		re, err := regexp.Compile(p.Grep)
		if err != nil {
			return f, o, fmt.Errorf("grep %q: %w", p.Grep, err)
		}
		f.Grep = re
	}
	return f, o, nil
}
