package sink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/loglet/loglet/sidecar/record"
)

// OpenOTLP takes otlp+http://host:4318[/v1/logs] or otlp+https://… and
// returns a sink posting each package as an OTLP/HTTP logs request
// (protobuf, gzip): one ResourceLogs carrying the source's resource
// attributes, one log record per record. Only the message types are linked,
// not the gRPC service package: the request wrapper is one protobuf field,
// written here.
func OpenOTLP(raw string, opts Options) (Sink, error) {
	u, err := url.Parse(strings.TrimPrefix(raw, "otlp+"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("sink %q: want otlp+http://host:4318 or otlp+https://host:4318", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/logs"
	}
	p := newPoster(u.String(), "application/x-protobuf", encodeOTLP, opts)
	p.scheme = "otlp+"
	return p, nil
}

func encodeOTLP(p *record.Package, dst []byte) ([]byte, http.Header, error) {
	rl, err := proto.Marshal(ResourceLogs(p))
	if err != nil {
		return dst, nil, err
	}
	// ExportLogsServiceRequest{resource_logs: [rl]}: field 1, bytes.
	dst = protowire.AppendTag(dst, 1, protowire.BytesType)
	return protowire.AppendBytes(dst, rl), nil, nil
}

// ResourceLogs converts a package to the OTLP log data model.
func ResourceLogs(p *record.Package) *logspb.ResourceLogs {
	res := &resourcepb.Resource{}
	for _, kv := range p.Origin.Resource {
		res.Attributes = append(res.Attributes, resourceAttr(kv))
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
			lr.Attributes = append(lr.Attributes, str("log.file.path", p.Origin.Path))
		}
		lr.Attributes = append(lr.Attributes,
			str("loglet.source_id", p.Origin.SourceID),
			integer("loglet.package_id", int64(p.ID)),
			integer("loglet.offset", int64(i)))
		if p.Origin.Input != "" {
			lr.Attributes = append(lr.Attributes, str("loglet.input", p.Origin.Input))
		}
		if e.Flags&record.FlagSplit != 0 {
			lr.Attributes = append(lr.Attributes, integer("loglet.split.part", int64(e.Part)),
				&commonpb.KeyValue{Key: "loglet.split.last", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: e.Flags&record.FlagLastPart != 0}}})
		}
		switch {
		case e.Flags&record.FlagStdout != 0:
			lr.Attributes = append(lr.Attributes, str("log.iostream", "stdout"))
		case e.Flags&record.FlagStderr != 0:
			lr.Attributes = append(lr.Attributes, str("log.iostream", "stderr"))
		}
		for _, a := range p.Attributes(i) {
			key := validUTF8(p.Bytes(a.Key))
			if a.Raw {
				lr.Attributes = append(lr.Attributes, &commonpb.KeyValue{Key: key, Value: rawValue(p.Bytes(a.Value))})
			} else {
				lr.Attributes = append(lr.Attributes, str(key, validUTF8(p.Bytes(a.Value))))
			}
		}
		recs = append(recs, lr)
	}
	return &logspb.ResourceLogs{
		Resource:  res,
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "loglet"}, LogRecords: recs}},
	}
}

// intResource tells the resource attributes the semantic conventions
// type as int; the agent keeps every resource value as text.
func intResource(key string) bool { return key == "k8s.container.restart_count" }

// resourceAttr is kv as the semantic conventions type it; a value that
// does not read as its type goes as the text it is, never dropped.
func resourceAttr(kv record.KeyValue) *commonpb.KeyValue {
	if intResource(kv.Key) {
		if n, err := strconv.ParseInt(kv.Value, 10, 64); err == nil {
			return integer(kv.Key, n)
		}
	}
	return str(kv.Key, kv.Value)
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func integer(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

// rawValue maps a JSON value from a log line to an OTLP value as the
// Collector's JSON parsing does: numbers and booleans keep their type
// (integers as int, other numbers as double), strings are unquoted, null
// is the empty value, objects become kvlists (keys in the line's order,
// duplicates kept) and arrays arrays. A backend then filters on
// http.status or indexes tags[] instead of matching JSON text.
func rawValue(v []byte) *commonpb.AnyValue {
	if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		if av, err := (&jsonValues{v: v, d: d}).next(1); err == nil {
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

// maxValueDepth is how deep nested JSON becomes kvlists and arrays. The
// Collector refuses a request whose messages nest more than 100 deep
// (pdata's proto.RecursionLimit), and each object level costs three
// (AnyValue, KeyValueList, KeyValue): 32 levels keep below it. Deeper
// values go on as the JSON text of what lies below, so the request is
// accepted and nothing is lost.
const maxValueDepth = 32

// jsonValues turns the JSON text v into OTLP values.
type jsonValues struct {
	v []byte
	d *json.Decoder
}

// next reads the next value, at depth (1: the attribute's own value).
func (j *jsonValues) next(depth int) (*commonpb.AnyValue, error) {
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
func (j *jsonValues) rest(start int64) (*commonpb.AnyValue, error) {
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
