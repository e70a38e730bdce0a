package parse

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written JSON object scanner: log lines are flat objects most of the
// time, and encoding/json's reflection and allocations would dominate the
// agent's CPU. It checks syntax as strictly as it needs to hand values on
// safely and never allocates.

var (
	errNotObject  = errors.New("not a JSON object")
	errTruncated  = errors.New("truncated JSON")
	errBadJSON    = errors.New("invalid JSON")
	errTrailing   = errors.New("data after the JSON object")
	errDepthLimit = errors.New("JSON nested too deep")
)

// member is one key and value of an object, as offsets into the line.
// The key excludes its quotes; the value is the whole token (a string value
// includes its quotes).
type member struct {
	keyStart, keyEnd int
	keyEscaped       bool
	valStart, valEnd int
	valString        bool
	valEscaped       bool // a string value holding backslash escapes
}

// scanObject calls fn for each member of the JSON object that b holds.
func scanObject(b []byte, fn func(m member)) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errNotObject
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	for {
		if i >= len(b) {
			return errTruncated
		}
		if b[i] != '"' {
			return errBadJSON
		}
		var m member
		end, esc, err := scanString(b, i)
		if err != nil {
			return err
		}
		m.keyStart, m.keyEnd, m.keyEscaped = i+1, end-1, esc
		i = skipSpace(b, end)
		if i >= len(b) {
			return errTruncated
		}
		if b[i] != ':' {
			return errBadJSON
		}
		i = skipSpace(b, i+1)
		m.valStart = i
		if i < len(b) && b[i] == '"' {
			m.valString = true
			end, m.valEscaped, err = scanString(b, i)
		} else {
			end, err = scanValue(b, i, 0)
		}
		if err != nil {
			return err
		}
		m.valEnd = end
		fn(m)
		i = skipSpace(b, end)
		if i >= len(b) {
			return errTruncated
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return trailing(b, i+1)
		default:
			return errBadJSON
		}
	}
}

func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errTrailing
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// scanString returns the index after the string that starts at b[i] (a
// quote) and whether it holds escapes.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '"':
			return j + 1, escaped, nil
		case '\\':
			escaped = true
			j++
			if j >= len(b) {
				return 0, false, errTruncated
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) || !isHex4(b[j+1:j+5]) {
					return 0, false, errBadJSON
				}
				j += 4
			default:
				return 0, false, errBadJSON
			}
		}
	}
	return 0, false, errTruncated
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// scanValue returns the index after the non-string value at b[i].
func scanValue(b []byte, i, depth int) (int, error) {
	if depth > 64 {
		return 0, errDepthLimit
	}
	if i >= len(b) {
		return 0, errTruncated
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return 0, errBadJSON
				}
				end, _, err := scanString(b, i)
				if err != nil {
					return 0, err
				}
				i = skipSpace(b, end)
				if i >= len(b) || b[i] != ':' {
					return 0, errBadJSON
				}
				i = skipSpace(b, i+1)
			}
			end, err := scanValue(b, i, depth+1)
			if err != nil {
				return 0, err
			}
			i = skipSpace(b, end)
			if i >= len(b) {
				return 0, errTruncated
			}
			if b[i] == closer {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errBadJSON
			}
			i = skipSpace(b, i+1)
		}
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	default:
		return 0, errBadJSON
	}
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errBadJSON
	}
	return i + len(lit), nil
}

func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	intStart := i
	if n := digits(); n == 0 || n > 1 && b[intStart] == '0' {
		// JSON has no leading zeros; copied raw, 007 would break the record.
		return 0, errBadJSON
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return 0, errBadJSON
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, errBadJSON
		}
	}
	if i == start {
		return 0, errBadJSON
	}
	return i, nil
}

// unescape appends the text of the JSON string content s (without quotes)
// to dst. s was checked by scanString.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'n':
			dst = append(dst, '\n')
		case 't':
			dst = append(dst, '\t')
		case 'r':
			dst = append(dst, '\r')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'u':
			r := rune(hex4(s[i+1:]))
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' && isHex4(s[i+3:]) {
				if r2 := rune(hex4(s[i+3:])); utf16.DecodeRune(r, r2) != utf8.RuneError {
					r = utf16.DecodeRune(r, r2)
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, s[i])
		}
	}
	return dst
}

func hex4(b []byte) uint16 {
	var v uint16
	for _, c := range b[:4] {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint16(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint16(c - 'a' + 10)
		default:
			v |= uint16(c - 'A' + 10)
		}
	}
	return v
}
