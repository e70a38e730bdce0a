package sink

import (
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
	p := newPoster(u.String(), "application/x-protobuf", func(p *record.Package, dst []byte) ([]byte, http.Header, error) {
		rl, err := proto.Marshal(ResourceLogs(p))
		if err != nil {
			return dst, nil, err
		}
		// ExportLogsServiceRequest{resource_logs: [rl]}: field 1, bytes.
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		return protowire.AppendBytes(dst, rl), nil, nil
	}, opts)
	p.scheme = "otlp+"
	return p, nil
}

// ResourceLogs converts a package to the OTLP log data model.
func ResourceLogs(p *record.Package) *logspb.ResourceLogs {
	res := &resourcepb.Resource{}
	for _, kv := range p.Origin.Resource {
		res.Attributes = append(res.Attributes, str(kv.Key, kv.Value))
	}
	recs := make([]*logspb.LogRecord, 0, p.Len())
	span := 0
	for i, e := range p.Records {
		for span+1 < len(p.Spans) && p.Spans[span+1].First <= i {
			span++
		}
		observed := uint64(p.Spans[span].Time.UnixNano())
		lr := &logspb.LogRecord{
			TimeUnixNano:         observed,
			ObservedTimeUnixNano: observed,
			Body:                 &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: validUTF8(p.Body(i))}},
		}
		if e.Time != 0 {
			lr.TimeUnixNano = uint64(e.Time)
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

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func integer(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

// rawValue maps a JSON value from a log line to an OTLP value: numbers and
// booleans keep their type, strings are unquoted, objects and arrays stay
// JSON text.
func rawValue(v []byte) *commonpb.AnyValue {
	s := string(v)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
	}
	if s == "true" || s == "false" {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: s == "true"}}
	}
	var text string
	if strings.HasPrefix(s, `"`) && json.Unmarshal(v, &text) == nil {
		s = text
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: validUTF8([]byte(s))}}
}

// validUTF8 replaces each invalid byte by U+FFFD, as the JSON encoding
// does: protobuf strings must be valid UTF-8.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string([]rune(string(b)))
}
