package sink

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/loglet/loglet/internal/protofield"
)

// jsonScanner reads the JSON text of a Raw attribute value (an object or
// an array) and writes it as an AnyValue, reading what encoding/json's
// Decoder tokens read (strict JSON, strings unquoted as it unquotes them,
// invalid UTF-8 and lone surrogates as U+FFFD, text after the value not
// looked at) without a token or string allocated: a line's nested fields
// are the OTLP sink's hot path.
type jsonScanner struct {
	v []byte
	i int
}

var errJSON = errors.New("not JSON")

func (s *jsonScanner) space() {
	for s.i < len(s.v) {
		switch s.v[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value appends the content of an AnyValue for the value at s.i, at
// depth (1: the attribute's own value).
func (s *jsonScanner) value(dst []byte, depth int) ([]byte, error) {
	s.space()
	if s.i >= len(s.v) {
		return dst, errJSON
	}
	start := s.i
	switch c := s.v[s.i]; c {
	case '{', '[':
		if depth > maxValueDepth {
			// Deeper than the Collector reads: the JSON text of the
			// value, checked all the same.
			if err := s.skip(); err != nil {
				return dst, err
			}
			return appendText(dst, fieldString, s.v[start:s.i]), nil
		}
		if c == '{' {
			return s.object(dst, depth)
		}
		return s.array(dst, depth)
	case '"':
		out, at := protofield.Open(dst, fieldString)
		out, err := s.str(out)
		if err != nil {
			return out, err
		}
		return protofield.Close(out, at), nil
	case 't':
		return appendBool(dst, fieldBool, true), s.literal("true")
	case 'f':
		return appendBool(dst, fieldBool, false), s.literal("false")
	case 'n':
		return dst, s.literal("null") // the empty value
	}
	if err := s.number(); err != nil {
		return dst, err
	}
	// As json.Number's Int64 and Float64 read it; the string lives only
	// while parsed (an error holding it is dropped).
	t := unsafe.String(&s.v[start], s.i-start)
	if n, ok := parseInt(t); ok {
		return appendInt(dst, n), nil
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		return appendDouble(dst, f), nil
	}
	// Beyond a double (1e999): the number as written.
	return appendText(dst, fieldString, s.v[start:s.i]), nil
}

// object appends the kvlist of the object at s.i: its keys in order,
// duplicates kept.
func (s *jsonScanner) object(dst []byte, depth int) ([]byte, error) {
	s.i++ // {
	dst, list := protofield.Open(dst, fieldKvlist)
	s.space()
	if s.i < len(s.v) && s.v[s.i] == '}' {
		s.i++
		return protofield.Close(dst, list), nil
	}
	for {
		s.space()
		if s.i >= len(s.v) || s.v[s.i] != '"' {
			return dst, errJSON
		}
		var kv, key, val int
		var err error
		dst, kv = protofield.Open(dst, fieldValues)
		keyTag := len(dst)
		dst, key = protofield.Open(dst, fieldKey)
		if dst, err = s.str(dst); err != nil {
			return dst, err
		}
		if len(dst) == key {
			dst = dst[:keyTag] // an empty key is left out, as protobuf leaves out ""
		} else {
			dst = protofield.Close(dst, key)
		}
		s.space()
		if s.i >= len(s.v) || s.v[s.i] != ':' {
			return dst, errJSON
		}
		s.i++
		dst, val = protofield.Open(dst, fieldValue)
		if dst, err = s.value(dst, depth+1); err != nil {
			return dst, err
		}
		dst = protofield.Close(protofield.Close(dst, val), kv)
		if done, err := s.separator('}'); err != nil || done {
			return protofield.Close(dst, list), err
		}
	}
}

// separator reads what follows a member of an object or an array that
// ends with end: done after end, not after a comma.
func (s *jsonScanner) separator(end byte) (done bool, err error) {
	s.space()
	if s.i >= len(s.v) {
		return false, errJSON
	}
	switch s.v[s.i] {
	case ',':
		s.i++
		return false, nil
	case end:
		s.i++
		return true, nil
	}
	return false, errJSON
}

// array appends the array of the array at s.i.
func (s *jsonScanner) array(dst []byte, depth int) ([]byte, error) {
	s.i++ // [
	dst, list := protofield.Open(dst, fieldArray)
	s.space()
	if s.i < len(s.v) && s.v[s.i] == ']' {
		s.i++
		return protofield.Close(dst, list), nil
	}
	for {
		var val int
		var err error
		dst, val = protofield.Open(dst, fieldValues)
		if dst, err = s.value(dst, depth+1); err != nil {
			return dst, err
		}
		dst = protofield.Close(dst, val)
		if done, err := s.separator(']'); err != nil || done {
			return protofield.Close(dst, list), err
		}
	}
}

// skip reads the object or array at s.i, checking it is JSON.
func (s *jsonScanner) skip() error {
	var stack []byte // the closing delimiters awaited
	for {
		s.space()
		if s.i >= len(s.v) {
			return errJSON
		}
		switch c := s.v[s.i]; c {
		case '{', '[':
			s.i++
			if c == '{' {
				stack = append(stack, '}')
			} else {
				stack = append(stack, ']')
			}
			s.space()
			if s.i < len(s.v) && s.v[s.i] == stack[len(stack)-1] {
				s.i++
				stack = stack[:len(stack)-1]
				break
			}
			if c == '{' {
				if err := s.key(); err != nil {
					return err
				}
			}
			continue // to the first value
		case '"':
			if _, err := s.str(nil); err != nil {
				return err
			}
		case 't':
			if err := s.literal("true"); err != nil {
				return err
			}
		case 'f':
			if err := s.literal("false"); err != nil {
				return err
			}
		case 'n':
			if err := s.literal("null"); err != nil {
				return err
			}
		default:
			if err := s.number(); err != nil {
				return err
			}
		}
		// After a value: the end of the input's value, or a separator,
		// or the end of a container.
		for {
			if len(stack) == 0 {
				return nil
			}
			s.space()
			if s.i >= len(s.v) {
				return errJSON
			}
			c := s.v[s.i]
			if c == stack[len(stack)-1] {
				s.i++
				stack = stack[:len(stack)-1]
				continue
			}
			if c != ',' {
				return errJSON
			}
			s.i++
			if stack[len(stack)-1] == '}' {
				if err := s.key(); err != nil {
					return err
				}
			}
			break
		}
	}
}

// key reads an object's key and its colon.
func (s *jsonScanner) key() error {
	s.space()
	if s.i >= len(s.v) || s.v[s.i] != '"' {
		return errJSON
	}
	if _, err := s.str(nil); err != nil {
		return err
	}
	s.space()
	if s.i >= len(s.v) || s.v[s.i] != ':' {
		return errJSON
	}
	s.i++
	return nil
}

func (s *jsonScanner) literal(lit string) error {
	if len(s.v)-s.i < len(lit) || string(s.v[s.i:s.i+len(lit)]) != lit {
		return errJSON
	}
	s.i += len(lit)
	return nil
}

// number reads a JSON number.
func (s *jsonScanner) number() error {
	digits := func() int {
		n := 0
		for s.i < len(s.v) && '0' <= s.v[s.i] && s.v[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.v) && s.v[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.v) && s.v[s.i] == '0':
		s.i++
	case digits() == 0:
		return errJSON
	}
	if s.i < len(s.v) && s.v[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return errJSON
		}
	}
	if s.i < len(s.v) && (s.v[s.i] == 'e' || s.v[s.i] == 'E') {
		s.i++
		if s.i < len(s.v) && (s.v[s.i] == '+' || s.v[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return errJSON
		}
	}
	return nil
}

// str appends the string at s.i unquoted, as encoding/json unquotes it.
func (s *jsonScanner) str(dst []byte) ([]byte, error) {
	s.i++ // "
	for {
		// The bytes up to the next quote, escape or non-ASCII byte.
		j := s.i
		for j < len(s.v) {
			c := s.v[j]
			if c == '"' || c == '\\' || c < ' ' || c >= utf8.RuneSelf {
				break
			}
			j++
		}
		dst = append(dst, s.v[s.i:j]...)
		s.i = j
		if s.i >= len(s.v) {
			return dst, errJSON
		}
		switch c := s.v[s.i]; {
		case c == '"':
			s.i++
			return dst, nil
		case c < ' ':
			return dst, errJSON
		case c == '\\':
			if s.i+1 >= len(s.v) {
				return dst, errJSON
			}
			e := s.v[s.i+1]
			s.i += 2
			switch e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return dst, errJSON
				}
				if utf16.IsSurrogate(r) {
					// A pair, or U+FFFD (the next escape read on its own).
					if s.i+6 <= len(s.v) && s.v[s.i] == '\\' && s.v[s.i+1] == 'u' {
						save := s.i
						s.i += 2
						r2, ok := s.hex4()
						if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							break
						}
						s.i = save
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
			default:
				return dst, errJSON
			}
		default:
			r, n := utf8.DecodeRune(s.v[s.i:])
			if r == utf8.RuneError && n == 1 {
				dst = utf8.AppendRune(dst, r)
			} else {
				dst = append(dst, s.v[s.i:s.i+n]...)
			}
			s.i += n
		}
	}
}

// hex4 reads the four hex digits of a \u escape.
func (s *jsonScanner) hex4() (rune, bool) {
	if len(s.v)-s.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.v[s.i : s.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	s.i += 4
	return r, true
}
