package parse

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseRFC3339 parses RFC 3339 times as container runtimes write them
// (2016-10-06T00:17:09.669794202Z, or with a ±hh:mm offset) into Unix
// nanoseconds, without time.Parse's generality: it runs for every line of a
// container log.
func parseRFC3339(b []byte) (int64, bool) {
	var c secondCache
	return c.parse(b)
}

// secondCache remembers the last date and time to the second: neighbouring
// lines of a log mostly share it, and then only the fraction and zone are
// read.
type secondCache struct {
	prefix [19]byte
	secs   int64
	valid  bool
}

func (c *secondCache) parse(b []byte) (int64, bool) {
	if len(b) < 20 {
		return 0, false
	}
	var secs int64
	if c.valid && string(b[:19]) == string(c.prefix[:]) {
		secs = c.secs
	} else {
		var ok bool
		if secs, ok = parseSeconds(b); !ok {
			return 0, false
		}
		copy(c.prefix[:], b[:19])
		c.secs, c.valid = secs, true
	}
	i := 19
	var nanos int64
	if b[i] == '.' {
		i++
		digits := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits < 9 {
				nanos = nanos*10 + int64(b[i]-'0')
			}
			digits++
			i++
		}
		if digits == 0 {
			return 0, false
		}
		for ; digits < 9; digits++ {
			nanos *= 10
		}
	}
	var offset int64
	switch {
	case i < len(b) && (b[i] == 'Z' || b[i] == 'z'):
		i++
	case i+6 <= len(b) && (b[i] == '+' || b[i] == '-') && b[i+3] == ':':
		h, m := digits2(b[i+1:]), digits2(b[i+4:])
		if h < 0 || m < 0 || h > 23 || m > 59 {
			return 0, false
		}
		offset = int64(h*3600 + m*60)
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return 0, false
	}
	if i != len(b) {
		return 0, false
	}
	return (secs-offset)*1e9 + nanos, true
}

// parseSeconds reads "2006-01-02T15:04:05" into seconds since the epoch
// (before any zone offset).
func parseSeconds(b []byte) (int64, bool) {
	if b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year := digits2(b) * 100
	if year < 0 || digits2(b[2:]) < 0 {
		return 0, false
	}
	year += digits2(b[2:])
	month, day := digits2(b[5:]), digits2(b[8:])
	hour, minute, sec := digits2(b[11:]), digits2(b[14:]), digits2(b[17:])
	if month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 60 {
		return 0, false
	}
	return daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec), true
}

// digits2 reads two decimal digits, or returns -1.
func digits2(b []byte) int {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return -1
	}
	return int(b[0]-'0')*10 + int(b[1]-'0')
}

// daysFromCivil counts days from 1970-01-01 (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468)
}

// TimeParser turns a field's text into an event time.
type TimeParser func(s []byte) (int64, bool)

// NewTimeParser returns the parser for --time-format: rfc3339 (default),
// unix, unix_ms, unix_us, unix_ns, or a Go layout
// (https://pkg.go.dev/time#pkg-constants), e.g. "02/Jan/2006:15:04:05 -0700".
func NewTimeParser(format string) (TimeParser, error) {
	scale := map[string]float64{"unix": 1e9, "unix_ms": 1e6, "unix_us": 1e3, "unix_ns": 1}
	switch {
	case format == "" || strings.EqualFold(format, "rfc3339"):
		return func(s []byte) (int64, bool) {
			if ns, ok := parseRFC3339(s); ok {
				return ns, true
			}
			t, err := time.Parse(time.RFC3339Nano, string(s))
			return t.UnixNano(), err == nil
		}, nil
	case scale[format] != 0:
		f := scale[format]
		return func(s []byte) (int64, bool) {
			v, err := strconv.ParseFloat(string(s), 64)
			return int64(v * f), err == nil && v > 0
		}, nil
	default:
		if !strings.ContainsAny(format, "0123456789") {
			return nil, fmt.Errorf("time-format %q: want rfc3339, unix, unix_ms, unix_us, unix_ns or a Go layout such as 02/Jan/2006:15:04:05 -0700", format)
		}
		return func(s []byte) (int64, bool) {
			t, err := time.Parse(format, string(s))
			return t.UnixNano(), err == nil
		}, nil
	}
}
