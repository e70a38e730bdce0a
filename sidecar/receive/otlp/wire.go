package otlp

import (
	"fmt"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/record"
)

// Field numbers of the messages decodeProtobuf walks (opentelemetry-proto
// collector/logs/v1 and logs/v1).
const (
	fieldResourceLogs = 1 // ExportLogsServiceRequest.resource_logs
	fieldResource     = 1 // ResourceLogs.resource
	fieldScopeLogs    = 2 // ResourceLogs.scope_logs
	fieldScope        = 1 // ScopeLogs.scope
	fieldLogRecords   = 2 // ScopeLogs.log_records
)

// decodeProtobuf decodes an ExportLogsServiceRequest a record at a time:
// the whole request as generated messages would take some hundred bytes
// a record however small (a request of empty records, two bytes each,
// 250 times its size); decoded this way only the inbox records, compact,
// are kept. It reads what proto.Unmarshal would, fields in any order and
// unknown ones skipped, as decodeFull (its fuzz test's reference) does.
func decodeProtobuf(body []byte, maxRecords int) ([]Batch, error) {
	var (
		batches []Batch
		lr      = &logspb.LogRecord{}
		buf     []byte
		decoded int
		i       int
	)
	// Counted before anything is decoded: a request refused costs nothing.
	if n := count(body, fieldResourceLogs, fieldScopeLogs, fieldLogRecords); n > maxRecords {
		return nil, fmt.Errorf("%w: %d records in %d bytes, more than the %d such a body may hold: send fewer records a request", ErrTooManyRecords, n, len(body), maxRecords)
	}
	err := fields(body, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != fieldResourceLogs || typ != protowire.BytesType {
			return nil
		}
		b, err := decodeResourceLogs(v, i, lr, &buf, &decoded, maxRecords)
		if err != nil {
			return err
		}
		i++
		if len(b.Records) > 0 {
			batches = append(batches, b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return batches, nil
}

func decodeResourceLogs(v []byte, i int, lr *logspb.LogRecord, buf *[]byte, decoded *int, maxRecords int) (Batch, error) {
	var b Batch
	res := &resourcepb.Resource{}
	// The resource may come after the records: look for it first.
	err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != fieldResource || typ != protowire.BytesType {
			return nil
		}
		if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, res); err != nil {
			return fmt.Errorf("otlp: not an ExportLogsServiceRequest: resourceLogs[%d].resource: %w", i, err)
		}
		return nil
	})
	if err != nil {
		return b, err
	}
	if n := count(v, fieldScopeLogs, fieldLogRecords); n > 0 {
		b.Records = make([]inbox.Record, 0, min(n, maxRecords))
	}
	j := 0
	err = fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != fieldScopeLogs || typ != protowire.BytesType {
			return nil
		}
		defer func() { j++ }()
		return decodeScopeLogs(v, i, j, &b, lr, buf, decoded, maxRecords)
	})
	if err != nil || len(b.Records) == 0 {
		return b, err
	}
	for _, kv := range res.GetAttributes() {
		var val string
		val, *buf = attrValue(*buf, kv.GetValue())
		b.Resource = append(b.Resource, record.KeyValue{Key: kv.GetKey(), Value: val})
	}
	return b, nil
}

func decodeScopeLogs(v []byte, i, j int, b *Batch, lr *logspb.LogRecord, buf *[]byte, decoded *int, maxRecords int) error {
	scope := &commonpb.InstrumentationScope{}
	err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != fieldScope || typ != protowire.BytesType {
			return nil
		}
		if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, scope); err != nil {
			return fmt.Errorf("otlp: not an ExportLogsServiceRequest: resourceLogs[%d].scopeLogs[%d].scope: %w", i, j, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	k := 0
	return fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != fieldLogRecords || typ != protowire.BytesType {
			return nil
		}
		defer func() { k++ }()
		if *decoded++; *decoded > maxRecords {
			// count found fewer; the bound holds all the same.
			return fmt.Errorf("%w: more than the %d such a body may hold: send fewer records a request", ErrTooManyRecords, maxRecords)
		}
		// lr is reset by each Unmarshal: what convertRecord keeps of it
		// (strings, bytes) is its own.
		if err := proto.Unmarshal(v, lr); err != nil {
			return fmt.Errorf("otlp: not an ExportLogsServiceRequest: resourceLogs[%d].scopeLogs[%d].logRecords[%d]: %w", i, j, k, err)
		}
		r, err := convertRecord(lr, scope, false, buf)
		if err != nil {
			return fmt.Errorf("otlp: resourceLogs[%d].scopeLogs[%d].logRecords[%d]: %w", i, j, k, err)
		}
		b.Records = append(b.Records, r)
		return nil
	})
}

// fields calls f with each field of the message in b: its number, wire
// type, and for a length-delimited field its bytes.
func fields(b []byte, f func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("otlp: not an ExportLogsServiceRequest: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("otlp: not an ExportLogsServiceRequest: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if err := f(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// count counts the length-delimited fields at path in the message b
// (the records of a request: resource logs, scope logs, log records). A
// malformed message counts what comes before the fault: decoding then
// says what it is.
func count(b []byte, path ...protowire.Number) int {
	if len(path) == 0 {
		return 1
	}
	n := 0
	_ = fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == path[0] && typ == protowire.BytesType {
			n += count(v, path[1:]...)
		}
		return nil
	})
	return n
}

// maxRecords is the most records a protobuf body of n bytes may hold:
// a record takes tens of bytes on the wire (its times alone 18; one a
// collector forwards with only a short body 17), but an empty one two,
// and each becomes an inbox record of some 64 bytes. Beyond one per 16
// bytes (and a thousand) a request is refused rather than let grow
// memory 30 times its size.
func maxRecords(n int) int { return 1024 + n/16 }

// maxJSONObjects is the most JSON objects an OTLP/JSON body of n bytes
// may hold. protojson decodes a request whole, each object (a record, an
// attribute, a value) a message of a hundred bytes or more; what a
// sender writes takes 14 bytes an object or more (a record of a one-letter
// body, {"body":{"stringValue":"x"}}). One per 12 bytes bounds the
// messages to some 10 times the body.
func maxJSONObjects(n int) int { return 1024 + n/12 }

// jsonObjects counts the objects of a JSON text: the braces outside its
// strings.
func jsonObjects(b []byte) int {
	n := 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{':
			n++
		}
	}
	return n
}
