package sink

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/loglet/loglet/sidecar/record"
)

// The OTLP sink as it was written with the generated OpenTelemetry types
// (go.opentelemetry.io/proto/otlp and proto.Marshal), which cost the agent
// 2 MB: the reference the hand-written encoder is held to, byte for byte.

// refResourceLogs converts a package to the OTLP log data model.
func refResourceLogs(p *record.Package) *logspb.ResourceLogs {
	res := &resourcepb.Resource{}
	for _, kv := range p.Origin.Resource {
		res.Attributes = append(res.Attributes, refResourceAttr(kv))
	}
	recs := make([]*logspb.LogRecord, 0, p.Len())
	span := 0
	for i, e := range p.Records {
		for span+1 < len(p.Spans) && p.Spans[span+1].First <= i {
			span++
		}
		// A record without an event time sends Timestamp 0: the data
		// model's "unknown", which tells a receiver to use the observed
		// time, rather than passing the observed time off as the event's.
		lr := &logspb.LogRecord{
			TimeUnixNano:         uint64(max(e.Time, 0)),
			ObservedTimeUnixNano: uint64(p.Spans[span].Time.UnixNano()),
			Body:                 &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: validUTF8(p.Body(i))}},
		}
		if e.Severity != record.SeverityNone {
			lr.SeverityText = e.Severity.String()
			lr.SeverityNumber = logspb.SeverityNumber(4*int(e.Severity) - 3) // TRACE=1, DEBUG=5, … FATAL=21
		}
		if !p.Origin.HidePath {
			lr.Attributes = append(lr.Attributes, refStr("log.file.path", p.Origin.Path))
		}
		lr.Attributes = append(lr.Attributes,
			refStr("loglet.source_id", p.Origin.SourceID),
			refInteger("loglet.package_id", int64(p.ID)),
			refInteger("loglet.offset", int64(i)))
		if p.Origin.Input != "" {
			lr.Attributes = append(lr.Attributes, refStr("loglet.input", p.Origin.Input))
		}
		if e.Flags&record.FlagSplit != 0 {
			lr.Attributes = append(lr.Attributes, refInteger("loglet.split.part", int64(e.Part)),
				&commonpb.KeyValue{Key: "loglet.split.last", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: e.Flags&record.FlagLastPart != 0}}})
		}
		switch {
		case e.Flags&record.FlagStdout != 0:
			lr.Attributes = append(lr.Attributes, refStr("log.iostream", "stdout"))
		case e.Flags&record.FlagStderr != 0:
			lr.Attributes = append(lr.Attributes, refStr("log.iostream", "stderr"))
		}
		for _, a := range p.Attributes(i) {
			key := validUTF8(p.Bytes(a.Key))
			if a.Raw {
				lr.Attributes = append(lr.Attributes, &commonpb.KeyValue{Key: key, Value: refRawValue(p.Bytes(a.Value))})
			} else {
				lr.Attributes = append(lr.Attributes, refStr(key, validUTF8(p.Bytes(a.Value))))
			}
		}
		recs = append(recs, lr)
	}
	return &logspb.ResourceLogs{
		Resource:  res,
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "loglet"}, LogRecords: recs}},
	}
}

// refResourceAttr is kv as the semantic conventions type it; a value that
// does not read as its type goes as the text it is, never dropped.
func refResourceAttr(kv record.KeyValue) *commonpb.KeyValue {
	if intResource(kv.Key) {
		if n, err := strconv.ParseInt(kv.Value, 10, 64); err == nil {
			return refInteger(kv.Key, n)
		}
	}
	return refStr(kv.Key, kv.Value)
}

func refStr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func refInteger(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

// refRawValue maps a JSON value from a log line to an OTLP value as the
// Collector's JSON parsing does: numbers and booleans keep their type
// (integers as int, other numbers as double), strings are unquoted, null
// is the empty value, objects become kvlists (keys in the line's order,
// duplicates kept) and arrays arrays. A backend then filters on
// http.status or indexes tags[] instead of matching JSON text.
func refRawValue(v []byte) *commonpb.AnyValue {
	if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		if av, err := (&refJSONValues{v: v, d: d}).next(1); err == nil {
			return av
		}
		// Not JSON after all (Raw promises it is): keep the text.
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: validUTF8(v)}}
	}
	s := string(v)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
	}
	switch s {
	case "true", "false":
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: s == "true"}}
	case "null":
		return &commonpb.AnyValue{}
	}
	var text string
	if strings.HasPrefix(s, `"`) && json.Unmarshal(v, &text) == nil {
		s = text
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: validUTF8([]byte(s))}}
}

// refJSONValues turns the JSON text v into OTLP values.
type refJSONValues struct {
	v []byte
	d *json.Decoder
}

// next reads the next value, at depth (1: the attribute's own value).
func (j *refJSONValues) next(depth int) (*commonpb.AnyValue, error) {
	start := j.d.InputOffset()
	tok, err := j.d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth > maxValueDepth {
			return j.rest(start)
		}
		if t == '{' {
			kvs := &commonpb.KeyValueList{Values: []*commonpb.KeyValue{}}
			for j.d.More() {
				k, err := j.d.Token()
				if err != nil {
					return nil, err
				}
				key, _ := k.(string)
				v, err := j.next(depth + 1)
				if err != nil {
					return nil, err
				}
				kvs.Values = append(kvs.Values, &commonpb.KeyValue{Key: key, Value: v})
			}
			_, err = j.d.Token() // }
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: kvs}}, err
		}
		arr := &commonpb.ArrayValue{Values: []*commonpb.AnyValue{}}
		for j.d.More() {
			v, err := j.next(depth + 1)
			if err != nil {
				return nil, err
			}
			arr.Values = append(arr.Values, v)
		}
		_, err = j.d.Token() // ]
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: arr}}, err
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}, nil
		}
		if f, err := t.Float64(); err == nil {
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}, nil
		}
		// Beyond a double (1e999): the number as written.
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: t.String()}}, nil
	case string:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: t}}, nil
	case bool:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: t}}, nil
	default: // nil: JSON null
		return &commonpb.AnyValue{}, nil
	}
}

// rest reads to the end of the object or array whose opening token was
// just read, which began after input offset start, and returns its JSON
// text as a string value.
func (j *refJSONValues) rest(start int64) (*commonpb.AnyValue, error) {
	for open := 1; open > 0; {
		tok, err := j.d.Token()
		if err != nil {
			return nil, err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			open++
		case json.Delim('}'), json.Delim(']'):
			open--
		}
	}
	// Between the previous token and this value lie at most a separator
	// and spaces.
	text := bytes.TrimLeft(j.v[start:j.d.InputOffset()], " \t\r\n,:")
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: validUTF8(text)}}, nil
}

// validUTF8 replaces each invalid byte by U+FFFD, as the JSON encoding
// does: protobuf strings must be valid UTF-8.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string([]rune(string(b)))
}
