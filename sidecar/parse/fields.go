package parse

import (
	"bytes"
	"time"

	"github.com/loglet/loglet/sidecar/record"
)

// parser turns a record's body into attributes.
type parser interface {
	parse(f *fields, body []byte)
}

// fields collects what a parser finds in one record.
type fields struct {
	p     *record.Package
	orig  record.Ref // the record as it came
	body  record.Ref // the body; a parser may point it at a message field
	entry *record.Entry
	spec  *Spec
	// time is the record's time before the parser ran (the container
	// line's), which a failed parse gives back.
	time int64
	// levelField is set when a level field was seen, so the body is not
	// searched for a level word.
	levelField bool
	// span is the index in p.Spans of the span saying when the record
	// was read (len(p.Spans) if none does).
	span int
}

// readTime returns when the record was read (Unix ns): what a time
// written without a year is placed near. Without a span, now.
func (f *fields) readTime() int64 {
	if f.span < len(f.p.Spans) && !f.p.Spans[f.span].Time.IsZero() {
		return f.p.Spans[f.span].Time.UnixNano()
	}
	return time.Now().UnixNano()
}

// sub names bytes [i:j) of the original body.
func (f *fields) sub(i, j int) record.Ref { return f.orig.Sub(i, j) }

// unescaped names JSON string content, unescaping it into Extra if needed.
func (f *fields) unescaped(body []byte, i, j int, escaped bool) record.Ref {
	if !escaped {
		return f.sub(i, j)
	}
	start := len(f.p.Extra)
	f.p.Extra = unescape(f.p.Extra, body[i:j])
	return record.ExtraRef(start, len(f.p.Extra))
}

// add adds an attribute, and takes the event time and the severity from it
// when its key says so.
func (f *fields) add(key, val record.Ref, raw bool) {
	f.p.Attrs = append(f.p.Attrs, record.Attr{Key: key, Value: val, Raw: raw})
	k := f.p.Bytes(key)
	if !raw && isLevelKey(k) {
		f.levelField = true
		f.entry.Severity = parseLevel(f.p.Bytes(val))
	}
	if f.spec.timeOf != nil && string(k) == f.spec.cfg.TimeKey {
		text := f.p.Bytes(val)
		if raw && len(text) > 1 && text[0] == '"' {
			text = unescape(nil, text[1:len(text)-1])
		}
		if t, ok := f.spec.timeOf(text); ok {
			f.entry.Time = t
		} else {
			// The read time stands in, and the record says why.
			addMark(f.p, int(f.entry.AttrStart), timeMark(f.p, "time: ", text, f.spec.timeFormat()), false)
		}
	}
}

// fail drops what the parser added and marks the record: it keeps its
// whole body, never lost.
func (f *fields) fail(msg int) {
	f.p.Attrs = f.p.Attrs[:f.entry.AttrStart]
	f.body = f.orig
	f.entry.Severity = record.SeverityNone
	f.entry.Time = f.time
	f.levelField = false
	f.p.Attrs = append(f.p.Attrs, record.Attr{Key: record.StringRef(strParseError), Value: record.StringRef(msg)})
}

func isMessageKey(k []byte) bool {
	return string(k) == "msg" || string(k) == "message"
}

func isLevelKey(k []byte) bool {
	switch string(k) {
	case "level", "severity", "lvl", "loglevel", "log.level", "levelname":
		return true
	}
	return false
}

// parseLevel maps a level name (any case, some abbreviations) to a severity.
func parseLevel(b []byte) record.Severity {
	if len(b) == 0 || len(b) > 9 {
		return record.SeverityNone
	}
	var up [9]byte
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	switch string(up[:len(b)]) {
	case "TRACE":
		return record.SeverityTrace
	case "DEBUG", "DBG":
		return record.SeverityDebug
	case "INFO", "INF", "NOTICE":
		return record.SeverityInfo
	case "WARN", "WARNING", "WRN":
		return record.SeverityWarn
	case "ERROR", "ERR", "EROR":
		return record.SeverityError
	case "FATAL", "CRITICAL", "CRIT", "PANIC", "EMERG", "ALERT":
		return record.SeverityFatal
	}
	return record.SeverityNone
}

// leadingLevel finds a level word among the first words of a line:
// "ERROR …", "[WARN] …", "panic: …", "2026-11-25 10:00:00,123 INFO …".
// It runs on every record, so it looks at bytes, not words, where it can.
func leadingLevel(b []byte) record.Severity {
	b = b[:min(len(b), 64)]
	i := 0
	for word := 0; word < 4; word++ {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		if i < len(b) && b[i] == '[' {
			i++
		}
		if i >= len(b) {
			return record.SeverityNone
		}
		if c := b[i]; c >= '0' && c <= '9' {
			// A leading date or time: look at the next word.
			j := bytes.IndexByte(b[i:], ' ')
			if j < 0 {
				return record.SeverityNone
			}
			i += j
			continue
		}
		if !levelInitial[b[i]] {
			return record.SeverityNone
		}
		start := i
		for i < len(b) && i-start <= 9 && b[i] != ' ' && b[i] != '\t' && b[i] != ']' && b[i] != ':' {
			i++
		}
		if i-start < 3 || i-start > 8 {
			return record.SeverityNone
		}
		return parseLevel(b[start:i])
	}
	return record.SeverityNone
}

// levelInitial marks the letters a level word can start with.
var levelInitial = func() (t [256]bool) {
	for _, c := range "TDIWEFCPNA" {
		t[c], t[c+'a'-'A'] = true, true
	}
	return t
}()
