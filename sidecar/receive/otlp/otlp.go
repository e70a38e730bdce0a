// Package otlp decodes an OTLP/HTTP logs export request (protobuf or the
// OTLP JSON encoding) into what the inbox keeps: one batch of records per
// resource, each record with its body, time, severity and the attributes
// the protocol carried (its own, severity text, trace and span ids, flags,
// scope), nothing of it dropped.
package otlp

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"mime"
	"strconv"
	"strings"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/record"
)

// The content types of OTLP/HTTP.
const (
	ContentTypeProtobuf = "application/x-protobuf"
	ContentTypeJSON     = "application/json"
)

// Attribute keys a record gets beside the sender's own.
const (
	KeySeverityText = "severity_text"
	KeyTraceID      = "trace_id"
	KeySpanID       = "span_id"
	KeyFlags        = "flags"
	KeyEventName    = "event.name"
	KeyScopeName    = "otel.scope.name"
	KeyScopeVersion = "otel.scope.version"
)

// ErrContentType is what Decode answers (wrapped) for a content type that
// is neither of OTLP/HTTP's: the server answers 415.
var ErrContentType = errors.New("otlp: unsupported content type")

// ErrTooManyRecords is what Decode answers (wrapped) for a request of more
// records (or, in JSON, objects) than its size can hold for a sender
// that means well: the server answers 413, as for too large a body.
var ErrTooManyRecords = errors.New("otlp: too many records for the size of the request")

// Batch is the records of one ResourceLogs: Resource is the first argument
// of the inbox's Append, which keeps each resource a stream of its own.
type Batch struct {
	Resource []record.KeyValue
	Records  []inbox.Record
}

// MediaType returns the OTLP media type of a Content-Type header value
// (parameters such as charset left out), or an error wrapping
// ErrContentType naming what to send instead.
func MediaType(contentType string) (string, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil && (mt == ContentTypeProtobuf || mt == ContentTypeJSON) {
		return mt, nil
	}
	if contentType == "" {
		contentType = "none"
	}
	return "", fmt.Errorf("%w %q: send %s or %s", ErrContentType, contentType, ContentTypeProtobuf, ContentTypeJSON)
}

// Decode decodes body, an ExportLogsServiceRequest in the encoding
// contentType names, into one batch per ResourceLogs that holds records
// (a ResourceLogs without any gives none).
func Decode(body []byte, contentType string) ([]Batch, error) {
	mt, err := MediaType(contentType)
	if err != nil {
		return nil, err
	}
	if mt == ContentTypeProtobuf {
		return decodeProtobuf(body, maxRecords(len(body)))
	}
	if n, most := jsonObjects(body), maxJSONObjects(len(body)); n > most {
		return nil, fmt.Errorf("%w: %d JSON objects in %d bytes, more than the %d such a body may hold: send fewer records a request", ErrTooManyRecords, n, len(body), most)
	}
	// LogsData has the ExportLogsServiceRequest's one field under the same
	// name and number: decoding into it keeps the collector package, and
	// the gRPC it links, out of the agent (8 MB of the slim binary, as
	// gRPC's templates keep every exported method).
	req := &logspb.LogsData{}
	// OTLP/JSON receivers must ignore fields they do not know: a newer
	// sender's request still goes through.
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, req); err != nil {
		return nil, fmt.Errorf("otlp: not an ExportLogsServiceRequest: %w", err)
	}
	return convert(req, true)
}

func convert(req *logspb.LogsData, fromJSON bool) ([]Batch, error) {
	var batches []Batch
	var buf []byte
	for i, rl := range req.GetResourceLogs() {
		n := 0
		for _, sl := range rl.GetScopeLogs() {
			n += len(sl.GetLogRecords())
		}
		if n == 0 {
			continue
		}
		b := Batch{Records: make([]inbox.Record, 0, n)}
		for _, kv := range rl.GetResource().GetAttributes() {
			var v string
			v, buf = attrValue(buf, kv.GetValue())
			b.Resource = append(b.Resource, record.KeyValue{Key: kv.GetKey(), Value: v})
		}
		for j, sl := range rl.GetScopeLogs() {
			scope := sl.GetScope()
			for k, lr := range sl.GetLogRecords() {
				r, err := convertRecord(lr, scope, fromJSON, &buf)
				if err != nil {
					return nil, fmt.Errorf("otlp: resourceLogs[%d].scopeLogs[%d].logRecords[%d]: %w", i, j, k, err)
				}
				b.Records = append(b.Records, r)
			}
		}
		batches = append(batches, b)
	}
	return batches, nil
}

func convertRecord(lr *logspb.LogRecord, scope *commonpb.InstrumentationScope, fromJSON bool, buf *[]byte) (inbox.Record, error) {
	r := inbox.Record{Time: unixNano(lr.GetTimeUnixNano())}
	if r.Time == 0 {
		r.Time = unixNano(lr.GetObservedTimeUnixNano())
	}
	r.Severity = SeverityFromNumber(int64(lr.GetSeverityNumber()))
	if r.Severity == record.SeverityNone {
		r.Severity = SeverityFromText(lr.GetSeverityText())
	}
	r.Body = body(lr.GetBody())

	traceID, err := id(lr.GetTraceId(), 16, fromJSON)
	if err != nil {
		return r, fmt.Errorf("traceId: %w", err)
	}
	spanID, err := id(lr.GetSpanId(), 8, fromJSON)
	if err != nil {
		return r, fmt.Errorf("spanId: %w", err)
	}
	// The attributes, allocated once to their number: a request of many
	// small records must not cost many times its size.
	attrs := lr.GetAttributes()
	n := len(attrs)
	for _, set := range []bool{lr.GetSeverityText() != "", traceID != "", spanID != "", lr.GetFlags() != 0,
		lr.GetEventName() != "", scope.GetName() != "", scope.GetVersion() != ""} {
		if set {
			n++
		}
	}
	if n > 0 {
		r.Attrs = make([]inbox.Attr, 0, n)
	}
	for _, kv := range attrs {
		r.Attrs = append(r.Attrs, attr(kv.GetKey(), kv.GetValue(), buf))
	}
	if t := lr.GetSeverityText(); t != "" {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeySeverityText, Value: t})
	}
	if traceID != "" {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeyTraceID, Value: traceID})
	}
	if spanID != "" {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeySpanID, Value: spanID})
	}
	if f := lr.GetFlags(); f != 0 {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeyFlags, Value: strconv.FormatUint(uint64(f), 10), JSON: true})
	}
	if e := lr.GetEventName(); e != "" {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeyEventName, Value: e})
	}
	if n := scope.GetName(); n != "" {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeyScopeName, Value: n})
	}
	if v := scope.GetVersion(); v != "" {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeyScopeVersion, Value: v})
	}
	return r, nil
}

// unixNano is t as the inbox's int64, 0 (none) beyond what that holds
// (past the year 2262).
func unixNano(t uint64) int64 {
	if t > math.MaxInt64 {
		return 0
	}
	return int64(t)
}

// SeverityFromNumber maps an OTLP severity number (1–24) to a severity:
// each of the six ranges of four is one level. Any other number is
// SeverityNone.
func SeverityFromNumber(n int64) record.Severity {
	if n < 1 || n > 24 {
		return record.SeverityNone
	}
	return record.Severity((n-1)/4) + record.SeverityTrace
}

// SeverityFromText maps a level word (any case; the OTLP short names
// with their digit, INFO2, …; the usual abbreviations and syslog's) to a
// severity, SeverityNone when it is not one.
func SeverityFromText(s string) record.Severity {
	s = strings.TrimRight(strings.TrimSpace(s), "0123456789")
	if len(s) > 11 {
		return record.SeverityNone
	}
	switch strings.ToUpper(s) {
	case "TRACE", "TRC", "FINEST", "FINER":
		return record.SeverityTrace
	case "DEBUG", "DBG", "FINE":
		return record.SeverityDebug
	case "INFO", "INF", "INFORMATION", "NOTICE":
		return record.SeverityInfo
	case "WARN", "WARNING", "WRN":
		return record.SeverityWarn
	case "ERROR", "ERR", "EROR", "SEVERE":
		return record.SeverityError
	case "FATAL", "CRITICAL", "CRIT", "PANIC", "EMERG", "EMERGENCY", "ALERT":
		return record.SeverityFatal
	}
	return record.SeverityNone
}

// body is a record's body: a string as it is, bytes as they are (the
// pipeline keeps bytes that are not UTF-8 as it does for a file's), any
// other value as its JSON text.
func body(v *commonpb.AnyValue) []byte {
	switch x := v.GetValue().(type) {
	case nil, *commonpb.AnyValue_StringValueStrindex:
		return nil
	case *commonpb.AnyValue_StringValue:
		return []byte(x.StringValue)
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	}
	return AppendJSON(nil, v)
}

// attr is one attribute: a string as its text, anything else as JSON.
func attr(key string, v *commonpb.AnyValue, buf *[]byte) inbox.Attr {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return inbox.Attr{Key: key, Value: s.StringValue}
	}
	var val string
	val, *buf = attrValue(*buf, v)
	return inbox.Attr{Key: key, Value: val, JSON: true}
}

// attrValue is v as text: a string as it is, anything else as its JSON.
// buf is scratch space, returned for reuse.
func attrValue(buf []byte, v *commonpb.AnyValue) (string, []byte) {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return s.StringValue, buf
	}
	buf = AppendJSON(buf[:0], v)
	return string(buf), buf
}

// AppendJSON appends v as JSON: ints as numbers, kvlists as objects (their
// members in order, duplicates kept), arrays as arrays, bytes as a base64
// string, NaN and infinities as the strings "NaN", "Infinity",
// "-Infinity" (JSON has no number for them), nothing as null.
func AppendJSON(dst []byte, v *commonpb.AnyValue) []byte {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return record.AppendString(dst, []byte(x.StringValue))
	case *commonpb.AnyValue_BoolValue:
		return strconv.AppendBool(dst, x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.AppendInt(dst, x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		f := x.DoubleValue
		switch {
		case math.IsNaN(f):
			return append(dst, `"NaN"`...)
		case math.IsInf(f, 1):
			return append(dst, `"Infinity"`...)
		case math.IsInf(f, -1):
			return append(dst, `"-Infinity"`...)
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x.BytesValue)
		return append(dst, '"')
	case *commonpb.AnyValue_ArrayValue:
		dst = append(dst, '[')
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSON(dst, e)
		}
		return append(dst, ']')
	case *commonpb.AnyValue_KvlistValue:
		dst = append(dst, '{')
		for i, kv := range x.KvlistValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = record.AppendString(dst, []byte(kv.GetKey()))
			dst = append(dst, ':')
			dst = AppendJSON(dst, kv.GetValue())
		}
		return append(dst, '}')
	}
	// No value, or a profiling string-table index, which logs do not
	// have: treated as absent, as the OTLP spec says.
	return append(dst, "null"...)
}

// id is a trace or span id as lowercase hex, "" when absent or all
// zeros. OTLP/JSON writes ids as hex where protojson reads bytes as
// base64: hex digits are base64 digits too, so protojson decoded the
// 2×size hex digits into 3/4 as many bytes, which encode back to them.
// An id that decoded to size bytes was sent as base64 (protojson's own
// way), and is taken as it is.
func id(b []byte, size int, fromJSON bool) (string, error) {
	if fromJSON && len(b) == size*2*3/4 {
		digits := base64.StdEncoding.EncodeToString(b)
		raw, err := hex.DecodeString(digits)
		if err != nil {
			return "", fmt.Errorf("%q is not %d hex digits", digits, size*2)
		}
		b = raw
	}
	if len(b) == 0 || allZero(b) {
		return "", nil
	}
	return hex.EncodeToString(b), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
