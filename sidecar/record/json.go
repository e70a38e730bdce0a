package record

import (
	"encoding/binary"
	"io"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"
)

// NewOrigin returns an Origin with its constant JSON fragments prepared, so
// encoding a record costs one escape of its body and a few copies.
func NewOrigin(sourceID, path string, resource []KeyValue) *Origin {
	return NewInputOrigin(sourceID, path, "", resource)
}

// NewInputOrigin is NewOrigin for a source of the configuration's input
// named input (empty: none), which its records carry as loglet.input.
func NewInputOrigin(sourceID, path, input string, resource []KeyValue) *Origin {
	return prepare(&Origin{SourceID: sourceID, Path: path, Input: input, Resource: resource})
}

// NewInboxOrigin is NewInputOrigin for an inbox's segment (what a push
// input took): its records do not carry the segment's path, which means
// nothing to whoever pushed them (a lumberjack sender's own log.file.path
// stays theirs).
func NewInboxOrigin(sourceID, path, input string, resource []KeyValue) *Origin {
	return prepare(&Origin{SourceID: sourceID, Path: path, Input: input, Resource: resource, HidePath: true})
}

func prepare(o *Origin) *Origin {
	p := []byte(`,"attributes":{`)
	if !o.HidePath {
		p = append(p, `"log.file.path":`...)
		p = AppendString(p, []byte(o.Path))
		p = append(p, ',')
	}
	if o.Input != "" {
		p = append(p, `"loglet.input":`...)
		p = AppendString(p, []byte(o.Input))
		p = append(p, ',')
	}
	p = append(p, `"loglet.source_id":`...)
	p = AppendString(p, []byte(o.SourceID))
	p = append(p, `,"loglet.package_id":`...)
	o.prefix = p

	s := []byte(`},"resource":{`)
	for i, kv := range o.Resource {
		if i > 0 {
			s = append(s, ',')
		}
		s = AppendString(s, []byte(kv.Key))
		s = append(s, ':')
		s = AppendString(s, []byte(kv.Value))
	}
	s = append(s, "}}\n"...)
	o.suffix = s
	return o
}

// TimeLayout is RFC 3339 with nanoseconds and a fixed width, as the record
// format requires.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// AppendNDJSON appends every record of p as one JSON object per line, in the
// OpenTelemetry log data model of DESIGN.md.
func (p *Package) AppendNDJSON(dst []byte) []byte {
	dst, _ = p.appendNDJSON(dst, nil)
	return dst
}

// ndjsonChunk is how many bytes WriteNDJSON encodes before writing them.
const ndjsonChunk = 32 << 10

// WriteNDJSON writes what AppendNDJSON appends to w, encoding it in chunks
// of about 32 KiB in buf: a sink that compresses as it encodes holds no
// copy of the whole package (the HTTP sink held 1.5 MB of NDJSON for each
// 512 KiB package). It returns buf, emptied, for the next call.
func (p *Package) WriteNDJSON(w io.Writer, buf []byte) ([]byte, error) {
	buf, err := p.appendNDJSON(buf[:0], func(b []byte) error {
		_, err := w.Write(b)
		return err
	})
	if err == nil && len(buf) > 0 {
		_, err = w.Write(buf)
	}
	return buf[:0], err
}

// appendNDJSON encodes p into dst; with flush, dst is handed to flush and
// emptied each time it holds ndjsonChunk bytes.
func (p *Package) appendNDJSON(dst []byte, flush func([]byte) error) ([]byte, error) {
	var (
		tbuf   [40]byte
		ts     []byte
		span   = -1
		nextAt = 0
		events timeCache
	)
	// The package id is the same for every record: format it once.
	var idbuf [24]byte
	id := strconv.AppendUint(idbuf[:0], p.ID, 10)
	o := p.Origin
	for i, e := range p.Records {
		if i >= nextAt && span+1 < len(p.Spans) {
			// Advance to the span covering i.
			for span+1 < len(p.Spans) && p.Spans[span+1].First <= i {
				span++
			}
			ts = p.Spans[span].Time.UTC().AppendFormat(tbuf[:0], TimeLayout)
			nextAt = len(p.Records)
			if span+1 < len(p.Spans) {
				nextAt = p.Spans[span+1].First
			}
		}
		dst = append(dst, `{"time":"`...)
		if e.Time != 0 {
			dst = events.append(dst, e.Time)
		} else {
			dst = append(dst, ts...)
		}
		dst = append(dst, `","observed_time":"`...)
		dst = append(dst, ts...)
		dst = append(dst, `","body":`...)
		if e.Flags&FlagExtra != 0 {
			dst = AppendString(dst, p.Extra[e.Start:e.End])
		} else {
			dst = AppendString(dst, p.Data[e.Start:e.End])
		}
		if e.Severity != SeverityNone {
			dst = append(dst, `,"severity":"`...)
			dst = append(dst, e.Severity.String()...)
			dst = append(dst, '"')
		}
		dst = append(dst, o.prefix...)
		dst = append(dst, id...)
		dst = append(dst, `,"loglet.offset":`...)
		dst = strconv.AppendInt(dst, int64(i), 10)
		if e.Flags&FlagSplit != 0 {
			dst = append(dst, `,"loglet.split.part":`...)
			dst = strconv.AppendInt(dst, int64(e.Part), 10)
			dst = append(dst, `,"loglet.split.last":`...)
			dst = strconv.AppendBool(dst, e.Flags&FlagLastPart != 0)
		}
		switch {
		case e.Flags&FlagStdout != 0:
			dst = append(dst, `,"log.iostream":"stdout"`...)
		case e.Flags&FlagStderr != 0:
			dst = append(dst, `,"log.iostream":"stderr"`...)
		}
		for _, a := range p.Attrs[e.AttrStart:e.AttrEnd] {
			dst = append(dst, ',')
			dst = AppendString(dst, p.Bytes(a.Key))
			dst = append(dst, ':')
			if a.Raw {
				dst = AppendRawJSON(dst, p.Bytes(a.Value))
			} else {
				dst = AppendString(dst, p.Bytes(a.Value))
			}
		}
		dst = append(dst, o.suffix...)
		if flush != nil && len(dst) >= ndjsonChunk {
			if err := flush(dst); err != nil {
				return dst[:0], err
			}
			dst = dst[:0]
		}
	}
	return dst, nil
}

// timeCache formats event times, reusing the formatted second for the
// records that share it (most neighbours do).
type timeCache struct {
	sec    int64
	prefix []byte // "2006-01-02T15:04:05."
	buf    [32]byte
}

func (c *timeCache) append(dst []byte, ns int64) []byte {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	if c.prefix == nil || sec != c.sec {
		c.sec = sec
		c.prefix = time.Unix(sec, 0).UTC().AppendFormat(c.buf[:0], "2006-01-02T15:04:05.")
	}
	dst = append(dst, c.prefix...)
	var digits [9]byte
	for i := 8; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	dst = append(dst, digits[:]...)
	return append(dst, 'Z')
}

// AppendRawJSON appends a JSON value taken from a log line as it is, but
// made safe: invalid UTF-8 is replaced, control bytes inside strings are
// escaped and outside them become spaces, so a damaged line cannot break
// the record around it. The caller has checked that v is one JSON value.
func AppendRawJSON(dst, v []byte) []byte {
	start := 0
	inString, escaped := false, false
	for i := 0; i < len(v); {
		b := v[i]
		if b >= 0x20 && b < utf8.RuneSelf {
			switch {
			case escaped:
				escaped = false
			case b == '\\' && inString:
				escaped = true
			case b == '"':
				inString = !inString
			}
			i++
			continue
		}
		escaped = false
		if b < 0x20 {
			dst = append(dst, v[start:i]...)
			if inString {
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			} else {
				dst = append(dst, ' ')
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(v[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, v[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, v[start:]...)
}

const hexDigits = "0123456789abcdef"

// safe[b] reports whether ASCII byte b can be copied into a JSON string as is.
var safe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special8 returns a mask with the high bit set in each byte of w that is
// not plain (ASCII from 0x20 up, neither '"' nor '\\'); the lowest set bit
// is exact, higher ones may be false alarms. It is the "has a zero byte"
// bit trick: (x - 0x01…) &^ x sets a byte's high bit where x has a zero
// byte (below 0x20 for the control test).
func special8(w uint64) uint64 {
	q := w ^ '"'*lsb
	bs := w ^ '\\'*lsb
	return (w | (w-0x20*lsb)&^w | (q-lsb)&^q | (bs-lsb)&^bs) & msb
}

// AppendString appends s as a JSON string. Invalid UTF-8 is replaced by
// U+FFFD rather than rejected: a log line is kept whatever bytes it holds.
func AppendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while there is nothing to escape (most
		// log text), jumping straight to the first byte that needs care.
		if i+8 <= len(s) {
			m := special8(binary.LittleEndian.Uint64(s[i : i+8]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if safe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
