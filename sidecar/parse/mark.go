package parse

import (
	"strconv"

	"github.com/loglet/loglet/sidecar/record"
)

// A record carries at most one loglet.parse_error: what was not understood
// about it, each reason after the other ("docker: time missing; json:
// truncated JSON"), so a reader checks one attribute.

// addMark adds msg to the parse error of the record whose attributes start
// at attrStart, creating it or joining it to the one there (before it with
// first: a container's or a decoder's reason comes before the parser's).
func addMark(p *record.Package, attrStart int, msg record.Ref, first bool) {
	for i := attrStart; i < len(p.Attrs); i++ {
		a := &p.Attrs[i]
		if !a.Key.InStrings() || a.Key != record.StringRef(strParseError) {
			continue
		}
		start := len(p.Extra)
		one, two := a.Value, msg
		if first {
			one, two = msg, a.Value
		}
		p.Extra = append(p.Extra, p.Bytes(one)...)
		p.Extra = append(p.Extra, "; "...)
		p.Extra = append(p.Extra, p.Bytes(two)...)
		a.Value = record.ExtraRef(start, len(p.Extra))
		return
	}
	p.Attrs = append(p.Attrs, record.Attr{Key: record.StringRef(strParseError), Value: msg})
}

// maxQuoted is how much of a value a message quotes.
const maxQuoted = 64

// appendQuoted appends v quoted as Go does (invalid bytes as \x escapes,
// so the message stays valid UTF-8), cut to maxQuoted bytes.
func appendQuoted(dst, v []byte) []byte {
	cut := len(v) > maxQuoted
	if cut {
		v = v[:record.RuneCut(v, maxQuoted)]
	}
	dst = strconv.AppendQuote(dst, string(v))
	if cut {
		dst = append(dst, "…"...)
	}
	return dst
}

// timeMark writes `<prefix>cannot parse "<v>" as <format>` into Extra.
func timeMark(p *record.Package, prefix string, v []byte, format string) record.Ref {
	start := len(p.Extra)
	p.Extra = append(p.Extra, prefix...)
	p.Extra = append(p.Extra, "cannot parse "...)
	p.Extra = appendQuoted(p.Extra, v)
	p.Extra = append(p.Extra, " as "...)
	p.Extra = append(p.Extra, format...)
	return record.ExtraRef(start, len(p.Extra))
}

// hasMark reports whether r names a mark (a static string or bytes).
func hasMark(r record.Ref) bool { return r.InStrings() || r.Len > 0 }
