package parse

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/loglet/loglet/sidecar/record"
)

// Formats lists the parsers, for help and errors.
const Formats = "raw, json, logfmt, nginx, csv, syslog, regex:<RE2 with named groups> (and cri, docker, auto for container logs)"

// newParser checks a --format and returns how to make its parser.
func newParser(format string, cfg Config, s *Spec) (func() parser, error) {
	switch {
	case format == "raw":
		return func() parser { return rawParser{} }, nil
	case format == "json":
		jp := jsonParser{errs: s.errors("json")}
		return func() parser { return jp }, nil
	case format == "logfmt":
		lp := logfmtParser{err: s.addString("logfmt: unterminated quoted value"), true_: s.addString("true")}
		return func() parser { return lp }, nil
	case format == "nginx":
		np := newNginxParser(s)
		return func() parser { return np }, nil
	case format == "syslog":
		sp := newSyslogParser(s)
		// A copy per stage: its time caches belong to one source.
		return func() parser { p := sp; return &p }, nil
	case format == "csv":
		if len(cfg.CSVFields) == 0 {
			return nil, fmt.Errorf("format csv needs --csv-fields naming the columns, e.g. --csv-fields time,level,msg")
		}
		cp := csvParser{err: s.addString("csv: unterminated quoted field"), extraKey: s.addString("csv.extra")}
		for _, name := range cfg.CSVFields {
			cp.keys = append(cp.keys, s.addString(strings.TrimSpace(name)))
		}
		return func() parser { return cp }, nil
	case strings.HasPrefix(format, "regex:"):
		expr := strings.TrimPrefix(format, "regex:")
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("format regex:%s does not compile: %w (RE2 syntax: https://github.com/google/re2/wiki/Syntax)", expr, err)
		}
		rp := regexParser{re: re, fast: compileChain(re, expr), err: s.addString("regex: the line does not match --format")}
		named := false
		for i, name := range re.SubexpNames() {
			if name == "" {
				continue
			}
			named = true
			if isMessageKey([]byte(name)) {
				rp.msg = i
			}
			rp.groups = append(rp.groups, group{index: i, key: s.addString(name)})
		}
		if !named {
			return nil, fmt.Errorf("format regex:%s has no named groups: name the fields with (?P<name>…)", expr)
		}
		return func() parser { return rp }, nil
	default:
		return nil, fmt.Errorf("format %q: want one of %s", format, Formats)
	}
}

// errors adds one message per JSON scanning error.
func (s *Spec) errors(prefix string) map[error]int {
	m := map[error]int{}
	for _, e := range []error{errNotObject, errTruncated, errBadJSON, errTrailing, errDepthLimit} {
		m[e] = s.addString(prefix + ": " + e.Error())
	}
	return m
}

type rawParser struct{}

func (rawParser) parse(*fields, []byte) {}

// jsonParser lifts the members of a JSON object into attributes; a msg or
// message member becomes the body.
type jsonParser struct {
	errs map[error]int
}

func (jp jsonParser) parse(f *fields, body []byte) {
	msgSeen := false
	err := scanObject(body, func(m member) {
		key := f.unescaped(body, m.keyStart, m.keyEnd, m.keyEscaped)
		if m.valString {
			if !msgSeen && isMessageKey(f.p.Bytes(key)) {
				msgSeen = true
				f.body = f.unescaped(body, m.valStart+1, m.valEnd-1, m.valEscaped)
				return
			}
			if !m.valEscaped {
				f.add(key, f.sub(m.valStart+1, m.valEnd-1), false)
				return
			}
		}
		f.add(key, f.sub(m.valStart, m.valEnd), true)
	})
	if err != nil {
		f.fail(jp.errs[err])
	}
}

// logfmtParser reads key=value pairs; values may be "quoted".
type logfmtParser struct {
	err, true_ int
}

func (lp logfmtParser) parse(f *fields, body []byte) {
	msgSeen := false
	for i := 0; i < len(body); {
		for i < len(body) && (body[i] == ' ' || body[i] == '\t') {
			i++
		}
		ks := i
		for i < len(body) && body[i] != '=' && body[i] != ' ' && body[i] != '\t' {
			i++
		}
		if i == ks {
			if i < len(body) && body[i] == '=' {
				i++ // a stray "=": skip it
			}
			continue
		}
		key := f.sub(ks, i)
		if i >= len(body) || body[i] != '=' {
			f.add(key, record.StringRef(lp.true_), true) // a bare key is a flag
			continue
		}
		i++
		var val record.Ref
		if i < len(body) && body[i] == '"' {
			end, escaped, ok := logfmtQuoted(body, i)
			if !ok {
				f.fail(lp.err)
				return
			}
			val = f.unescaped(body, i+1, end-1, escaped)
			i = end
		} else {
			vs := i
			for i < len(body) && body[i] != ' ' && body[i] != '\t' {
				i++
			}
			val = f.sub(vs, i)
		}
		if !msgSeen && isMessageKey(f.p.Bytes(key)) {
			msgSeen = true
			f.body = val
			continue
		}
		f.add(key, val, false)
	}
}

// logfmtQuoted returns the end of the quoted value at b[i].
func logfmtQuoted(b []byte, i int) (end int, escaped, ok bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped, true
		}
	}
	return 0, false, false
}

// csvParser reads one RFC 4180 record (quoted fields may hold commas,
// doubled quotes and newlines) into the named columns.
type csvParser struct {
	keys     []int
	extraKey int
	err      int
}

func (cp csvParser) parse(f *fields, body []byte) {
	col := 0
	for i := 0; ; col++ {
		var val record.Ref
		if i < len(body) && body[i] == '"' {
			start := len(f.p.Extra)
			j := i + 1
			closed := false
			for j < len(body) {
				if body[j] == '"' {
					if j+1 < len(body) && body[j+1] == '"' {
						f.p.Extra = append(f.p.Extra, '"')
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				f.p.Extra = append(f.p.Extra, body[j])
				j++
			}
			if !closed || (j < len(body) && body[j] != ',') {
				f.fail(cp.err)
				return
			}
			val = record.ExtraRef(start, len(f.p.Extra))
			i = j
		} else {
			j := bytes.IndexByte(body[i:], ',')
			if j < 0 {
				j = len(body) - i
			}
			val = f.sub(i, i+j)
			i += j
		}
		key := record.StringRef(cp.extraKey)
		if col < len(cp.keys) {
			key = record.StringRef(cp.keys[col])
		}
		f.add(key, val, false)
		if i >= len(body) {
			return
		}
		i++ // the comma
	}
}

// regexParser takes named groups of an RE2 expression as attributes.
type regexParser struct {
	re     *regexp.Regexp
	fast   *chain // nil unless the expression is a simple chain
	groups []group
	msg    int
	err    int
}

type group struct{ index, key int }

func (rp regexParser) parse(f *fields, body []byte) {
	var m []int
	if rp.fast != nil {
		var buf [64]int
		m = rp.fast.match(body, buf[:0])
	} else {
		m = rp.re.FindSubmatchIndex(body)
	}
	if m == nil {
		f.fail(rp.err)
		return
	}
	for _, g := range rp.groups {
		s, e := m[2*g.index], m[2*g.index+1]
		if s < 0 {
			continue
		}
		if g.index == rp.msg && rp.msg != 0 {
			f.body = f.sub(s, e)
			continue
		}
		f.add(record.StringRef(g.key), f.sub(s, e), false)
	}
}
