package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/receive/otlp"
	"github.com/loglet/loglet/sidecar/record"
)

// decodeJSON decodes what /ingest takes as JSON: objects one after
// another (NDJSON, or pretty-printed ones back to back), or one array of
// objects. Each object is a record: "msg", "message" or "body" its body,
// "time", "timestamp" or "@timestamp" its time, "level" or "severity" its
// severity (the first of each that reads as one), every other member an
// attribute.
func decodeJSON(body []byte, maxRecords int) ([]inbox.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var recs []inbox.Record
	array := false
	if i := bytes.IndexFunc(body, func(r rune) bool { return !isSpace(r) }); i >= 0 && body[i] == '[' {
		array = true
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("the array: %w", err)
		}
	}
	for {
		if array && !dec.More() {
			if _, err := dec.Token(); err != nil {
				return nil, position(body, dec, len(recs), fmt.Errorf("the array does not end: %w", err))
			}
			if _, err := dec.Token(); err != io.EOF {
				return nil, position(body, dec, len(recs), errors.New("more follows the array: send one array, or objects one per line"))
			}
			return recs, nil
		}
		if len(recs) == maxRecords {
			return nil, fmt.Errorf("%w: more than the %d such a body may hold: send fewer records a request", errTooManyRecords, maxRecords)
		}
		tok, err := dec.Token()
		if err == io.EOF && !array {
			return recs, nil
		}
		if err != nil {
			return nil, position(body, dec, len(recs), err)
		}
		if tok != json.Delim('{') {
			return nil, position(body, dec, len(recs), fmt.Errorf("%v is not a JSON object: each record is one object", tokenText(tok)))
		}
		r, err := decodeObject(dec)
		if err != nil {
			return nil, position(body, dec, len(recs), err)
		}
		recs = append(recs, r)
	}
}

// position says which record (1-based) and line of the body err is at.
func position(body []byte, dec *json.Decoder, n int, err error) error {
	off := min(int(dec.InputOffset()), len(body))
	line := bytes.Count(body[:off], []byte{'\n'}) + 1
	return fmt.Errorf("record %d (line %d): %w", n+1, line, err)
}

func tokenText(tok json.Token) string {
	switch tok := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(tok))
	case string:
		return fmt.Sprintf("the string %q", tok)
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// decodeObject decodes the members of an object whose '{' dec read.
func decodeObject(dec *json.Decoder) (inbox.Record, error) {
	var r inbox.Record
	haveBody, haveTime := false, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return r, err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return r, fmt.Errorf("member %q: %w", key, err)
		}
		switch key {
		case "msg", "message", "body":
			if !haveBody {
				haveBody = true
				r.Body = bodyOf(raw)
				continue
			}
		case "time", "timestamp", "@timestamp":
			if t, ok := timeOf(raw); ok && !haveTime {
				haveTime = true
				r.Time = t
				continue
			}
		case "level", "severity":
			if s := severityOf(raw); s != record.SeverityNone && r.Severity == record.SeverityNone {
				r.Severity = s
				continue
			}
		}
		r.Attrs = append(r.Attrs, attrOf(key, raw))
	}
	if _, err := dec.Token(); err != nil { // '}'
		return r, err
	}
	return r, nil
}

// bodyOf is a body member's value: a string's text, null nothing, anything
// else its JSON.
func bodyOf(raw json.RawMessage) []byte {
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []byte(s)
		}
	}
	if string(raw) == "null" {
		return nil
	}
	return compact(raw)
}

// attrOf is an attribute: a string as its text, anything else as JSON,
// on one line (the inbox keeps a record a line).
func attrOf(key string, raw json.RawMessage) inbox.Attr {
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return inbox.Attr{Key: key, Value: s}
		}
	}
	return inbox.Attr{Key: key, Value: string(compact(raw)), JSON: true}
}

func compact(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// timeOf reads a time member: RFC 3339 text, or a Unix time in seconds,
// milliseconds, microseconds or nanoseconds (told apart by size: any of
// them for a date between 1973 and 5138), as a number or digits in a
// string. ok is false for anything else, which stays an attribute.
func timeOf(raw json.RawMessage) (int64, bool) {
	text := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &text) != nil {
			return 0, false
		}
		if t, err := time.Parse(time.RFC3339Nano, text); err == nil {
			return t.UnixNano(), t.UnixNano() > 0
		}
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return unixScaled(float64(n), n)
	}
	if whole, frac, ok := strings.Cut(text, "."); ok && len(frac) > 0 && allDigits(whole) && allDigits(frac) {
		// Seconds with a fraction, to the nanosecond without float
		// rounding: 1764583200.25.
		s, err := strconv.ParseInt(whole, 10, 64)
		if err == nil && s > 0 && s < 1e11 {
			ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
			return s*1e9 + ns, true
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return unixScaled(f, 0)
}

// unixScaled scales a Unix time in seconds, ms, µs or ns to ns; exact is
// the integer when it is one (no float rounding of nanoseconds).
func unixScaled(f float64, exact int64) (int64, bool) {
	var scale float64
	switch {
	case f <= 0:
		return 0, false
	case f < 1e11:
		scale = 1e9
	case f < 1e14:
		scale = 1e6
	case f < 1e17:
		scale = 1e3
	default:
		if exact != 0 {
			return exact, true
		}
		scale = 1
	}
	if f*scale >= math.MaxInt64 {
		return 0, false
	}
	if exact != 0 {
		return exact * int64(scale), true
	}
	return int64(f * scale), true
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// severityOf reads a level member: a level word, or an OpenTelemetry
// severity number (1–24).
func severityOf(raw json.RawMessage) record.Severity {
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return record.SeverityNone
		}
		return otlp.SeverityFromText(s)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return record.SeverityNone
	}
	return otlp.SeverityFromNumber(n)
}

// decodeText makes one record of each line of body (a "\r" before the
// "\n" left out); blank lines make none.
func decodeText(body []byte, maxRecords int) ([]inbox.Record, error) {
	n := bytes.Count(body, []byte{'\n'}) + 1
	if n > maxRecords {
		return nil, fmt.Errorf("%w: %d lines, more than the %d such a body may hold: send fewer records a request", errTooManyRecords, n, maxRecords)
	}
	recs := make([]inbox.Record, 0, n)
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		recs = append(recs, inbox.Record{Body: line})
	}
	return recs, nil
}

// errTooManyRecords refuses a body of more records than its size holds
// for a sender that means well (413, as for too large a body).
var errTooManyRecords = errors.New("ingest: too many records for the size of the request")

// maxRecords is the most records an /ingest body of n bytes may hold:
// each becomes an inbox record of some 64 bytes, however small it was
// ({}, a one-letter line); beyond one per 8 bytes (and a thousand) a
// request is refused rather than let grow memory many times its size.
func maxRecords(n int) int { return 1024 + n/8 }
