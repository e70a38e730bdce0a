package sink

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/loglet/loglet/internal/protofield"
	"github.com/loglet/loglet/sidecar/record"
)

// OpenOTLP takes otlp+http://host:4318[/v1/logs] or otlp+https://… and
// returns a sink posting each package as an OTLP/HTTP logs request
// (protobuf, gzip): one ResourceLogs carrying the source's resource
// attributes, one log record per record, written by encodeOTLP.
func OpenOTLP(raw string, opts Options) (Sink, error) {
	u, err := url.Parse(strings.TrimPrefix(raw, "otlp+"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("sink %q: want otlp+http://host:4318 or otlp+https://host:4318", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/logs"
	}
	// A request's messages are length-prefixed, so it is encoded whole
	// before it is compressed.
	p := newPoster(u.String(), "application/x-protobuf", func(p *record.Package, w io.Writer, buf []byte) ([]byte, http.Header, error) {
		buf, h, err := encodeOTLP(p, buf[:0])
		if err == nil {
			_, err = w.Write(buf)
		}
		return buf, h, err
	}, opts)
	p.scheme = "otlp+"
	return p, nil
}

// Field numbers of the OTLP messages the sink writes
// (opentelemetry-proto's collector/logs/v1, logs/v1, resource/v1 and
// common/v1). The request is written by hand with protowire rather than
// built from the generated types and marshalled: those and the protobuf
// runtime they need cost the agent 2 MB, and building them a message per
// record, attribute and value cost the hot path most of its time.
const (
	fieldResourceLogs = 1 // ExportLogsServiceRequest.resource_logs
	fieldResource     = 1 // ResourceLogs.resource
	fieldScopeLogs    = 2 // ResourceLogs.scope_logs
	fieldAttributes   = 1 // Resource.attributes
	fieldScope        = 1 // ScopeLogs.scope
	fieldLogRecords   = 2 // ScopeLogs.log_records
	fieldScopeName    = 1 // InstrumentationScope.name

	fieldTime           = 1  // LogRecord.time_unix_nano, fixed64
	fieldSeverityNumber = 2  // LogRecord.severity_number, enum
	fieldSeverityText   = 3  // LogRecord.severity_text
	fieldBody           = 5  // LogRecord.body, AnyValue
	fieldRecordAttrs    = 6  // LogRecord.attributes, KeyValue
	fieldObservedTime   = 11 // LogRecord.observed_time_unix_nano, fixed64

	fieldKey   = 1 // KeyValue.key
	fieldValue = 2 // KeyValue.value, AnyValue

	fieldString = 1 // AnyValue.string_value
	fieldBool   = 2 // AnyValue.bool_value
	fieldInt    = 3 // AnyValue.int_value
	fieldDouble = 4 // AnyValue.double_value, fixed64
	fieldArray  = 5 // AnyValue.array_value, ArrayValue
	fieldKvlist = 6 // AnyValue.kvlist_value, KeyValueList

	fieldValues = 1 // ArrayValue.values, KeyValueList.values
)

// encodeOTLP appends p to dst as an ExportLogsServiceRequest: one
// ResourceLogs carrying the source's resource attributes, one ScopeLogs
// (scope "loglet"), one LogRecord per record. It writes the bytes
// proto.Marshal wrote from the generated types (fields in number order,
// zero values left out, every oneof value written), so that what a
// receiver sees did not change.
func encodeOTLP(p *record.Package, dst []byte) ([]byte, http.Header, error) {
	dst, request := protofield.Open(dst, fieldResourceLogs)
	dst, resource := protofield.Open(dst, fieldResource)
	for _, kv := range p.Origin.Resource {
		dst = appendResourceAttr(dst, kv)
	}
	dst = protofield.Close(dst, resource)
	dst, scopeLogs := protofield.Open(dst, fieldScopeLogs)
	dst, scope := protofield.Open(dst, fieldScope)
	dst = appendString(dst, fieldScopeName, "loglet")
	dst = protofield.Close(dst, scope)
	span := 0
	for i, e := range p.Records {
		for span+1 < len(p.Spans) && p.Spans[span+1].First <= i {
			span++
		}
		dst = appendRecord(dst, p, i, e, uint64(p.Spans[span].Time.UnixNano()))
	}
	dst = protofield.Close(dst, scopeLogs)
	return protofield.Close(dst, request), nil, nil
}

// appendRecord appends record i, e, as a LogRecord field.
func appendRecord(dst []byte, p *record.Package, i int, e record.Entry, observed uint64) []byte {
	dst, lr := protofield.Open(dst, fieldLogRecords)
	// A record without an event time sends Timestamp 0: the data model's
	// "unknown", which tells a receiver to use the observed time, rather
	// than passing the observed time off as the event's.
	if t := uint64(max(e.Time, 0)); t != 0 {
		dst = protowire.AppendTag(dst, fieldTime, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, t)
	}
	if e.Severity != record.SeverityNone {
		// TRACE=1, DEBUG=5, … FATAL=21: the first number of each level.
		dst = protowire.AppendTag(dst, fieldSeverityNumber, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(4*int64(e.Severity)-3))
		if t := e.Severity.String(); t != "" {
			dst = appendString(dst, fieldSeverityText, t)
		}
	}
	dst, body := protofield.Open(dst, fieldBody)
	dst = appendText(dst, fieldString, p.Body(i))
	dst = protofield.Close(dst, body)

	if !p.Origin.HidePath {
		dst = appendStringAttr(dst, fieldRecordAttrs, "log.file.path", p.Origin.Path)
	}
	dst = appendStringAttr(dst, fieldRecordAttrs, "loglet.source_id", p.Origin.SourceID)
	dst = appendIntAttr(dst, fieldRecordAttrs, "loglet.package_id", int64(p.ID))
	dst = appendIntAttr(dst, fieldRecordAttrs, "loglet.offset", int64(i))
	if p.Origin.Input != "" {
		dst = appendStringAttr(dst, fieldRecordAttrs, "loglet.input", p.Origin.Input)
	}
	if e.Flags&record.FlagSplit != 0 {
		dst = appendIntAttr(dst, fieldRecordAttrs, "loglet.split.part", int64(e.Part))
		var kv [2]int
		dst, kv = openAttr(dst, fieldRecordAttrs, "loglet.split.last")
		dst = appendBool(dst, fieldBool, e.Flags&record.FlagLastPart != 0)
		dst = closeAttr(dst, kv)
	}
	switch {
	case e.Flags&record.FlagStdout != 0:
		dst = appendStringAttr(dst, fieldRecordAttrs, "log.iostream", "stdout")
	case e.Flags&record.FlagStderr != 0:
		dst = appendStringAttr(dst, fieldRecordAttrs, "log.iostream", "stderr")
	}
	for _, a := range p.Attributes(i) {
		var kv [2]int
		dst, kv = openTextAttr(dst, p.Bytes(a.Key))
		if a.Raw {
			dst = appendRawValue(dst, p.Bytes(a.Value))
		} else {
			dst = appendText(dst, fieldString, p.Bytes(a.Value))
		}
		dst = closeAttr(dst, kv)
	}
	if observed != 0 {
		dst = protowire.AppendTag(dst, fieldObservedTime, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, observed)
	}
	return protofield.Close(dst, lr)
}

// intResource tells the resource attributes the semantic conventions
// type as int; the agent keeps every resource value as text.
func intResource(key string) bool { return key == "k8s.container.restart_count" }

// appendResourceAttr appends kv as a Resource attribute, typed as the
// semantic conventions type it; a value that does not read as its type
// goes as the text it is, never dropped.
func appendResourceAttr(dst []byte, kv record.KeyValue) []byte {
	if intResource(kv.Key) {
		if n, err := strconv.ParseInt(kv.Value, 10, 64); err == nil {
			return appendIntAttr(dst, fieldAttributes, kv.Key, n)
		}
	}
	return appendStringAttr(dst, fieldAttributes, kv.Key, kv.Value)
}

// openAttr opens a KeyValue field of key and its value, an AnyValue, for
// the value to be appended and closeAttr to close both.
func openAttr(dst []byte, num protowire.Number, key string) ([]byte, [2]int) {
	dst, kv := protofield.Open(dst, num)
	if key != "" {
		dst = appendString(dst, fieldKey, key)
	}
	dst, v := protofield.Open(dst, fieldValue)
	return dst, [2]int{kv, v}
}

// openTextAttr is openAttr for a key from a record's text.
func openTextAttr(dst []byte, key []byte) ([]byte, [2]int) {
	dst, kv := protofield.Open(dst, fieldRecordAttrs)
	if len(key) > 0 {
		dst = appendText(dst, fieldKey, key)
	}
	dst, v := protofield.Open(dst, fieldValue)
	return dst, [2]int{kv, v}
}

func closeAttr(dst []byte, kv [2]int) []byte {
	return protofield.Close(protofield.Close(dst, kv[1]), kv[0])
}

// appendStringAttr appends the KeyValue field num of a string value.
func appendStringAttr(dst []byte, num protowire.Number, key, value string) []byte {
	dst, kv := openAttr(dst, num, key)
	dst = appendString(dst, fieldString, value)
	return closeAttr(dst, kv)
}

// appendIntAttr appends the KeyValue field num of an int value.
func appendIntAttr(dst []byte, num protowire.Number, key string, value int64) []byte {
	dst, kv := openAttr(dst, num, key)
	dst = appendInt(dst, value)
	return closeAttr(dst, kv)
}

func appendInt(dst []byte, v int64) []byte {
	dst = protowire.AppendTag(dst, fieldInt, protowire.VarintType)
	return protowire.AppendVarint(dst, uint64(v))
}

func appendBool(dst []byte, num protowire.Number, v bool) []byte {
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, protowire.EncodeBool(v))
}

func appendDouble(dst []byte, f float64) []byte {
	dst = protowire.AppendTag(dst, fieldDouble, protowire.Fixed64Type)
	return protowire.AppendFixed64(dst, math.Float64bits(f))
}

// appendString appends the string field num; protobuf strings are UTF-8:
// an invalid byte becomes U+FFFD, as in encoding/json.
func appendString(dst []byte, num protowire.Number, s string) []byte {
	if !utf8.ValidString(s) {
		return appendText(dst, num, []byte(s))
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendText is appendString for text from a record.
func appendText(dst []byte, num protowire.Number, b []byte) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	if utf8.Valid(b) {
		return protowire.AppendBytes(dst, b)
	}
	n := 0
	for i := 0; i < len(b); {
		r, w := utf8.DecodeRune(b[i:])
		n += utf8.RuneLen(r)
		i += w
	}
	dst = protowire.AppendVarint(dst, uint64(n))
	for i := 0; i < len(b); {
		r, w := utf8.DecodeRune(b[i:])
		dst = utf8.AppendRune(dst, r)
		i += w
	}
	return dst
}

// appendRawValue appends the content of an AnyValue for the JSON value
// v from a log line, mapped as the Collector's JSON parsing does: numbers
// and booleans keep their type (integers as int, other numbers as
// double), strings are unquoted, null is the empty value, objects become
// kvlists (keys in the line's order, duplicates kept) and arrays arrays.
// A backend then filters on http.status or indexes tags[] instead of
// matching JSON text.
func appendRawValue(dst []byte, v []byte) []byte {
	if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
		start := len(dst)
		s := jsonScanner{v: v}
		out, err := s.value(dst, 1)
		if err == nil {
			return out
		}
		// Not JSON after all (Raw promises it is): keep the text.
		return appendText(dst[:start], fieldString, v)
	}
	// Read in place: the string lives only while parsed (an error
	// holding it is dropped).
	t := unsafe.String(unsafe.SliceData(v), len(v))
	switch t {
	case "true", "false":
		return appendBool(dst, fieldBool, t == "true")
	case "null":
		return dst
	}
	if n, ok := parseInt(t); ok {
		return appendInt(dst, n)
	}
	if len(t) > 0 && t[0] != '"' {
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			return appendDouble(dst, f)
		}
	}
	if len(v) > 0 && v[0] == '"' {
		// A JSON string: unquoted, if it is one and nothing more.
		s := jsonScanner{v: v}
		out, at := protofield.Open(dst, fieldString)
		if out, err := s.str(out); err == nil {
			if s.space(); s.i == len(v) {
				return protofield.Close(out, at)
			}
		}
	}
	return appendText(dst, fieldString, v)
}

// parseInt is strconv.ParseInt(t, 10, 64), without the error it
// allocates for what is not an integer (a double, most often).
func parseInt(t string) (int64, bool) {
	digits := strings.TrimLeft(t, "+-")
	if len(t)-len(digits) > 1 || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(t, 10, 64)
	return n, err == nil
}

// maxValueDepth is how deep nested JSON becomes kvlists and arrays. The
// Collector refuses a request whose messages nest more than 100 deep
// (pdata's proto.RecursionLimit), and each object level costs three
// (AnyValue, KeyValueList, KeyValue): 32 levels keep below it. Deeper
// values go on as the JSON text of what lies below, so the request is
// accepted and nothing is lost.
const maxValueDepth = 32
