package parse

import (
	"encoding/base64"
	"strconv"

	"github.com/loglet/loglet/sidecar/record"
)

// An inbox line (container format "inbox") is one record a sender pushed
// (syslog, HTTP, OTLP, lumberjack), as sidecar/inbox spools it:
//
//	{"t":<event time, Unix ns>,"s":<severity 1–6>,"b":"<body>","a":{<attributes>}}
//
// Every key may be left out. A body that is not valid UTF-8 is "B", its
// bytes in base64, so the stage marks it and keeps the original as it does
// for a file's. The input's format then parses the body (syslog for a
// syslog input, raw for OTLP); the protocol's own attributes and severity
// come on top of what it finds.
type inboxLine struct {
	time     int64
	severity record.Severity
	// text is the body's JSON string content (escaped when escaped), or
	// the base64 of its bytes when b64.
	textStart, textEnd int
	escaped, b64       bool
	// attrs is the attribute object, braces included (0, 0: none).
	attrsStart, attrsEnd int
}

func parseInbox(line []byte) (in inboxLine, ok bool) {
	ok = true
	err := scanObject(line, func(m member) {
		val := line[m.valStart:m.valEnd]
		switch string(line[m.keyStart:m.keyEnd]) {
		case "t":
			t, err := strconv.ParseInt(string(val), 10, 64)
			ok = ok && err == nil
			in.time = t
		case "s":
			s, err := strconv.Atoi(string(val))
			ok = ok && err == nil && s >= 0 && s <= int(record.SeverityFatal)
			in.severity = record.Severity(s)
		case "b", "B":
			ok = ok && m.valString
			in.textStart, in.textEnd = m.valStart+1, m.valEnd-1
			in.escaped, in.b64 = m.valEscaped, line[m.keyStart] == 'B'
		case "a":
			ok = ok && len(val) > 0 && val[0] == '{'
			in.attrsStart, in.attrsEnd = m.valStart, m.valEnd
		}
	})
	return in, ok && err == nil
}

// unwrapInbox decodes inbox line e into its text (in Extra when it had to
// be unescaped or decoded) and what it says about the record.
func unwrapInbox(p *record.Package, e record.Entry) (w wrapped, text record.Ref, ok bool) {
	line := p.Data[e.Start:e.End]
	in, ok := parseInbox(line)
	if !ok {
		return w, text, false
	}
	raw := line[in.textStart:in.textEnd]
	switch {
	case in.b64:
		start := len(p.Extra)
		var err error
		if p.Extra, err = base64.StdEncoding.AppendDecode(p.Extra, raw); err != nil {
			p.Extra = p.Extra[:start]
			return w, text, false
		}
		text = record.ExtraRef(start, len(p.Extra))
	case in.escaped:
		start := len(p.Extra)
		p.Extra = unescape(p.Extra, raw)
		text = record.ExtraRef(start, len(p.Extra))
	default:
		text = record.DataRef(int(e.Start)+in.textStart, int(e.Start)+in.textEnd)
	}
	w = wrapped{time: in.time, severity: in.severity}
	if in.attrsEnd > in.attrsStart {
		w.attrs = record.DataRef(int(e.Start)+in.attrsStart, int(e.Start)+in.attrsEnd)
	}
	return w, text, true
}

// addInboxAttrs adds the members of an inbox line's attribute object: a
// string as its text, anything else as the JSON it is.
func addInboxAttrs(p *record.Package, obj record.Ref) {
	b := p.Bytes(obj)
	f := fields{p: p, orig: obj} // for its unescaping into Extra
	_ = scanObject(b, func(m member) {
		key := f.unescaped(b, m.keyStart, m.keyEnd, m.keyEscaped)
		if m.valString {
			p.Attrs = append(p.Attrs, record.Attr{Key: key, Value: f.unescaped(b, m.valStart+1, m.valEnd-1, m.valEscaped)})
			return
		}
		p.Attrs = append(p.Attrs, record.Attr{Key: key, Value: obj.Sub(m.valStart, m.valEnd), Raw: true})
	})
}
