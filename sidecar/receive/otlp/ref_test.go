package otlp

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/record"
)

// The decoder as it was written with the generated OpenTelemetry types
// (proto.Unmarshal, protojson): the reference the wire decoders are held
// to (FuzzDecodeProtobuf, FuzzDecodeJSONProtojson).

// DecodeFull is the reference FuzzDecodeProtobuf holds the record-by-record
// decoder to: the whole request unmarshalled, then converted.
func DecodeFull(body []byte) ([]Batch, error) {
	req := &collogspb.ExportLogsServiceRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		return nil, err
	}
	return refConvert(&logspb.LogsData{ResourceLogs: req.ResourceLogs}, false)
}

// DecodeProtojson is the reference FuzzDecodeJSONProtojson holds the JSON
// decoder to: protojson (unknown fields discarded), then converted.
func DecodeProtojson(body []byte) ([]Batch, error) {
	req := &logspb.LogsData{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, req); err != nil {
		return nil, err
	}
	return refConvert(req, true)
}

func refConvert(req *logspb.LogsData, fromJSON bool) ([]Batch, error) {
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
			v, buf = refAttrValue(buf, kv.GetValue())
			b.Resource = append(b.Resource, record.KeyValue{Key: kv.GetKey(), Value: v})
		}
		for j, sl := range rl.GetScopeLogs() {
			scope := sl.GetScope()
			for k, lr := range sl.GetLogRecords() {
				r, err := refConvertRecord(lr, scope, fromJSON, &buf)
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

func refConvertRecord(lr *logspb.LogRecord, scope *commonpb.InstrumentationScope, fromJSON bool, buf *[]byte) (inbox.Record, error) {
	r := inbox.Record{Time: unixNano(lr.GetTimeUnixNano())}
	if r.Time == 0 {
		r.Time = unixNano(lr.GetObservedTimeUnixNano())
	}
	r.Severity = SeverityFromNumber(int64(lr.GetSeverityNumber()))
	if r.Severity == record.SeverityNone {
		r.Severity = SeverityFromText(lr.GetSeverityText())
	}
	r.Body = refBody(lr.GetBody())

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
		r.Attrs = append(r.Attrs, refAttr(kv.GetKey(), kv.GetValue(), buf))
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

// refBody is a record's body: a string as it is, bytes as they are (the
// pipeline keeps bytes that are not UTF-8 as it does for a file's), any
// other value as its JSON text.
func refBody(v *commonpb.AnyValue) []byte {
	switch x := v.GetValue().(type) {
	case nil, *commonpb.AnyValue_StringValueStrindex:
		return nil
	case *commonpb.AnyValue_StringValue:
		return []byte(x.StringValue)
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	}
	return refAppendJSON(nil, v)
}

// refAttr is one attribute: a string as its text, anything else as JSON.
func refAttr(key string, v *commonpb.AnyValue, buf *[]byte) inbox.Attr {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return inbox.Attr{Key: key, Value: s.StringValue}
	}
	var val string
	val, *buf = refAttrValue(*buf, v)
	return inbox.Attr{Key: key, Value: val, JSON: true}
}

// refAttrValue is v as text: a string as it is, anything else as its JSON.
// buf is scratch space, returned for reuse.
func refAttrValue(buf []byte, v *commonpb.AnyValue) (string, []byte) {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return s.StringValue, buf
	}
	buf = refAppendJSON(buf[:0], v)
	return string(buf), buf
}

// refAppendJSON appends v as JSON: ints as numbers, kvlists as objects (their
// members in order, duplicates kept), arrays as arrays, bytes as a base64
// string, NaN and infinities as the strings "NaN", "Infinity",
// "-Infinity" (JSON has no number for them), nothing as null.
func refAppendJSON(dst []byte, v *commonpb.AnyValue) []byte {
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
			dst = refAppendJSON(dst, e)
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
			dst = refAppendJSON(dst, kv.GetValue())
		}
		return append(dst, '}')
	}
	// No value, or a profiling string-table index, which logs do not
	// have: treated as absent, as the OTLP spec says.
	return append(dst, "null"...)
}
