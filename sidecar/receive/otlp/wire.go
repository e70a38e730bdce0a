package otlp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/record"
)

// Field numbers of the messages the decoder reads (opentelemetry-proto
// collector/logs/v1, logs/v1, resource/v1 and common/v1, v1.9).
const (
	fieldResourceLogs = 1 // ExportLogsServiceRequest.resource_logs

	fieldResource          = 1 // ResourceLogs.resource
	fieldScopeLogs         = 2 // ResourceLogs.scope_logs
	fieldResourceSchemaURL = 3 // ResourceLogs.schema_url

	fieldScope          = 1 // ScopeLogs.scope
	fieldLogRecords     = 2 // ScopeLogs.log_records
	fieldScopeSchemaURL = 3 // ScopeLogs.schema_url

	fieldResourceAttributes = 1 // Resource.attributes
	fieldResourceDropped    = 2 // Resource.dropped_attributes_count
	fieldEntityRefs         = 3 // Resource.entity_refs, EntityRef: four string fields, 1 to 4

	fieldScopeName       = 1 // InstrumentationScope.name
	fieldScopeVersion    = 2 // InstrumentationScope.version
	fieldScopeAttributes = 3 // InstrumentationScope.attributes
	fieldScopeDropped    = 4 // InstrumentationScope.dropped_attributes_count

	fieldTime           = 1  // LogRecord.time_unix_nano, fixed64
	fieldSeverityNumber = 2  // LogRecord.severity_number, enum
	fieldSeverityText   = 3  // LogRecord.severity_text
	fieldBody           = 5  // LogRecord.body, AnyValue
	fieldAttributes     = 6  // LogRecord.attributes, KeyValue
	fieldDropped        = 7  // LogRecord.dropped_attributes_count
	fieldFlags          = 8  // LogRecord.flags, fixed32
	fieldTraceID        = 9  // LogRecord.trace_id
	fieldSpanID         = 10 // LogRecord.span_id
	fieldObservedTime   = 11 // LogRecord.observed_time_unix_nano, fixed64
	fieldEventName      = 12 // LogRecord.event_name

	fieldKey         = 1 // KeyValue.key
	fieldValue       = 2 // KeyValue.value, AnyValue
	fieldKeyStrindex = 3 // KeyValue.key_strindex, int32

	fieldValues = 1 // ArrayValue.values, KeyValueList.values

	// AnyValue's oneof: the kind of a value is the number of its field.
	kindNone     = 0
	kindString   = 1 // string_value
	kindBool     = 2 // bool_value
	kindInt      = 3 // int_value
	kindDouble   = 4 // double_value, fixed64
	kindArray    = 5 // array_value, ArrayValue
	kindKvlist   = 6 // kvlist_value, KeyValueList
	kindBytes    = 7 // bytes_value
	kindStrindex = 8 // string_value_strindex, int32 (profiles only)
)

// Levels of the messages in a request, as proto.Unmarshal counts them
// against its recursion limit (the request is 1): a value nested deeper
// than it reads is refused as it refused it.
const (
	levelResource  = 3
	levelLogRecord = 4
	levelScope     = 4
	maxLevel       = protowire.DefaultRecursionLimit
)

// errNotRequest prefixes what is wrong with a request that is not one.
const errNotRequest = "otlp: not an ExportLogsServiceRequest: "

// decodeProtobuf decodes an ExportLogsServiceRequest a record at a time,
// straight from the wire: only the inbox records, compact, are kept (the
// request as generated messages took some hundred bytes a record however
// small). It reads what proto.Unmarshal read into the generated types,
// decodeFull, its fuzz test's reference: fields in any order, unknown
// ones and ones of another wire type skipped, the last of a scalar field
// given twice, a message field given twice merged (as if its occurrences
// were one), strings that are not UTF-8 and malformed fields refused.
func decodeProtobuf(body []byte, maxRecords int) ([]Batch, error) {
	// Counted before anything is decoded: a request refused costs nothing.
	if n := count(body, fieldResourceLogs, fieldScopeLogs, fieldLogRecords); n > maxRecords {
		return nil, fmt.Errorf("%w: %d records in %d bytes, more than the %d such a body may hold: send fewer records a request", ErrTooManyRecords, n, len(body), maxRecords)
	}
	d := decoder{maxRecords: maxRecords}
	var batches []Batch
	for i, b := 0, body; len(b) > 0; {
		f, rest, err := nextField(b)
		if err != nil {
			return nil, fmt.Errorf(errNotRequest+"%w", err)
		}
		b = rest
		if f.num != fieldResourceLogs || f.typ != protowire.BytesType {
			continue
		}
		batch, err := d.resourceLogs(f.v, i)
		if err != nil {
			return nil, err
		}
		i++
		if len(batch.Records) > 0 {
			batches = append(batches, batch)
		}
	}
	return batches, nil
}

// decoder holds what decoding a request reuses from record to record.
type decoder struct {
	maxRecords, decoded int
	lr                  logRecord
	buf                 []byte // scratch for JSON text
	values              []*segments
}

// logRecord is what the decoder reads of a LogRecord.
type logRecord struct {
	time, observed  uint64
	severityNumber  int32
	severityText    []byte
	body            segments
	attributes      [][]byte // KeyValue messages
	traceID, spanID []byte
	flags           uint32
	eventName       []byte
}

// scope is what the decoder reads of an InstrumentationScope.
type scope struct{ name, version []byte }

// segments is a message given as the occurrences of a field: protobuf
// merges them as if they were one message, their bytes concatenated. One
// occurrence, the usual, is kept without an allocation.
type segments struct {
	first []byte
	more  [][]byte
	n     int
}

func (s *segments) add(b []byte) {
	if s.n == 0 {
		s.first = b
	} else {
		s.more = append(s.more, b)
	}
	s.n++
}

func (s *segments) reset() { *s = segments{more: s.more[:0]} }

func (s *segments) at(i int) []byte {
	if i == 0 {
		return s.first
	}
	return s.more[i-1]
}

// field is one field of a message: its number, wire type, and its bytes
// (length-delimited) or value (varint, fixed32, fixed64).
type field struct {
	num protowire.Number
	typ protowire.Type
	v   []byte
	x   uint64
}

// nextField reads the field at the start of b, a message's bytes.
func nextField(b []byte) (field, []byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return field{}, nil, protowire.ParseError(n)
	}
	if num > protowire.MaxValidNumber {
		return field{}, nil, fmt.Errorf("field number %d out of range", num)
	}
	f := field{num: num, typ: typ}
	b = b[n:]
	switch typ {
	case protowire.BytesType:
		f.v, n = protowire.ConsumeBytes(b)
	case protowire.VarintType:
		f.x, n = protowire.ConsumeVarint(b)
	case protowire.Fixed64Type:
		f.x, n = protowire.ConsumeFixed64(b)
	case protowire.Fixed32Type:
		var x uint32
		x, n = protowire.ConsumeFixed32(b)
		f.x = uint64(x)
	default:
		n = protowire.ConsumeFieldValue(num, typ, b)
	}
	if n < 0 {
		return field{}, nil, protowire.ParseError(n)
	}
	return f, b[n:], nil
}

// errRecursion is protobuf's refusal of a message nested deeper than
// its recursion limit.
var errRecursion = errors.New("exceeded maximum recursion depth")

// errInvalidUTF8 is protobuf's refusal of a string field that is not UTF-8.
var errInvalidUTF8 = errors.New("string field contains invalid UTF-8")

// str is the value of the string field f, refused when not UTF-8.
func str(f field) ([]byte, error) {
	if !utf8.Valid(f.v) {
		return nil, fmt.Errorf("field %d: %w", f.num, errInvalidUTF8)
	}
	return f.v, nil
}

// checkStrings checks b as a message whose string fields (repeated or
// not) are strs, as proto.Unmarshal does.
func checkStrings(b []byte, strs ...protowire.Number) error {
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		if f.typ != protowire.BytesType {
			continue
		}
		for _, n := range strs {
			if f.num == n {
				if _, err := str(f); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (d *decoder) resourceLogs(v []byte, i int) (Batch, error) {
	var b Batch
	// The resource may come after the records, and come more than once
	// (its attributes then add up): read it first.
	var resAttrs int
	for m := v; len(m) > 0; {
		f, rest, err := nextField(m)
		if err != nil {
			return b, fmt.Errorf(errNotRequest+"resourceLogs[%d]: %w", i, err)
		}
		m = rest
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case fieldResource:
			n, err := d.checkResource(f.v)
			if err != nil {
				return b, fmt.Errorf(errNotRequest+"resourceLogs[%d].resource: %w", i, err)
			}
			resAttrs += n
		case fieldResourceSchemaURL:
			if _, err := str(f); err != nil {
				return b, fmt.Errorf(errNotRequest+"resourceLogs[%d].schemaUrl: %w", i, err)
			}
		}
	}
	if n := count(v, fieldScopeLogs, fieldLogRecords); n > 0 {
		b.Records = make([]inbox.Record, 0, min(n, d.maxRecords))
	}
	j := 0
	for m := v; len(m) > 0; {
		f, rest, _ := nextField(m) // read above
		m = rest
		if f.num != fieldScopeLogs || f.typ != protowire.BytesType {
			continue
		}
		if err := d.scopeLogs(f.v, i, j, &b); err != nil {
			return b, err
		}
		j++
	}
	if len(b.Records) == 0 {
		return b, nil
	}
	if resAttrs > 0 {
		b.Resource = make([]record.KeyValue, 0, resAttrs)
	}
	for m := v; len(m) > 0; {
		f, rest, _ := nextField(m)
		m = rest
		if f.num != fieldResource || f.typ != protowire.BytesType {
			continue
		}
		for r := f.v; len(r) > 0; {
			a, rest, _ := nextField(r) // checked
			r = rest
			if a.num != fieldResourceAttributes || a.typ != protowire.BytesType {
				continue
			}
			key, val, err := d.keyValue(a.v, levelResource+1)
			if err != nil {
				return b, fmt.Errorf(errNotRequest+"resourceLogs[%d].resource: %w", i, err)
			}
			var s string
			s, err = d.text(val, levelResource+2)
			if err != nil {
				return b, fmt.Errorf(errNotRequest+"resourceLogs[%d].resource: %w", i, err)
			}
			b.Resource = append(b.Resource, record.KeyValue{Key: string(key), Value: s})
		}
	}
	return b, nil
}

// checkResource checks the Resource r as proto.Unmarshal does, and
// counts its attributes.
func (d *decoder) checkResource(r []byte) (int, error) {
	n := 0
	for len(r) > 0 {
		f, rest, err := nextField(r)
		if err != nil {
			return n, err
		}
		r = rest
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case fieldResourceAttributes:
			n++
			if err := d.checkKeyValue(f.v, levelResource+1); err != nil {
				return n, err
			}
		case fieldEntityRefs:
			if err := checkStrings(f.v, 1, 2, 3, 4); err != nil {
				return n, fmt.Errorf("entityRefs: %w", err)
			}
		}
	}
	return n, nil
}

func (d *decoder) scopeLogs(v []byte, i, j int, b *Batch) error {
	var sc scope
	for m := v; len(m) > 0; {
		f, rest, err := nextField(m)
		if err != nil {
			return fmt.Errorf(errNotRequest+"resourceLogs[%d].scopeLogs[%d]: %w", i, j, err)
		}
		m = rest
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case fieldScope:
			if err := d.scope(f.v, &sc); err != nil {
				return fmt.Errorf(errNotRequest+"resourceLogs[%d].scopeLogs[%d].scope: %w", i, j, err)
			}
		case fieldScopeSchemaURL:
			if _, err := str(f); err != nil {
				return fmt.Errorf(errNotRequest+"resourceLogs[%d].scopeLogs[%d].schemaUrl: %w", i, j, err)
			}
		}
	}
	k := 0
	for m := v; len(m) > 0; {
		f, rest, _ := nextField(m) // read above
		m = rest
		if f.num != fieldLogRecords || f.typ != protowire.BytesType {
			continue
		}
		if d.decoded++; d.decoded > d.maxRecords {
			// count found fewer; the bound holds all the same.
			return fmt.Errorf("%w: more than the %d such a body may hold: send fewer records a request", ErrTooManyRecords, d.maxRecords)
		}
		err := d.logRecord(f.v)
		var r inbox.Record
		if err == nil {
			r, err = d.convert(&sc)
		}
		if err != nil {
			return fmt.Errorf(errNotRequest+"resourceLogs[%d].scopeLogs[%d].logRecords[%d]: %w", i, j, k, err)
		}
		b.Records = append(b.Records, r)
		k++
	}
	return nil
}

// scope reads an InstrumentationScope into sc: a scope given twice is
// merged, the later one's fields winning.
func (d *decoder) scope(v []byte, sc *scope) error {
	for len(v) > 0 {
		f, rest, err := nextField(v)
		if err != nil {
			return err
		}
		v = rest
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case fieldScopeName:
			if sc.name, err = str(f); err != nil {
				return err
			}
		case fieldScopeVersion:
			if sc.version, err = str(f); err != nil {
				return err
			}
		case fieldScopeAttributes:
			if err := d.checkKeyValue(f.v, levelScope+1); err != nil {
				return fmt.Errorf("attributes: %w", err)
			}
		}
	}
	return nil
}

// logRecord reads the LogRecord v into d.lr.
func (d *decoder) logRecord(v []byte) error {
	lr := &d.lr
	attrs := lr.attributes[:0]
	lr.body.reset()
	*lr = logRecord{attributes: attrs, body: lr.body}
	var err error
	for len(v) > 0 {
		var f field
		if f, v, err = nextField(v); err != nil {
			return err
		}
		switch f.typ {
		case protowire.Fixed64Type:
			switch f.num {
			case fieldTime:
				lr.time = f.x
			case fieldObservedTime:
				lr.observed = f.x
			}
		case protowire.VarintType:
			if f.num == fieldSeverityNumber {
				lr.severityNumber = int32(f.x)
			}
		case protowire.Fixed32Type:
			if f.num == fieldFlags {
				lr.flags = uint32(f.x)
			}
		case protowire.BytesType:
			switch f.num {
			case fieldSeverityText:
				lr.severityText, err = str(f)
			case fieldEventName:
				lr.eventName, err = str(f)
			case fieldBody:
				lr.body.add(f.v)
			case fieldAttributes:
				// Read (checked) by convert.
				lr.attributes = append(lr.attributes, f.v)
			case fieldTraceID:
				lr.traceID = f.v
			case fieldSpanID:
				lr.spanID = f.v
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// convert converts d.lr, of scope sc, to an inbox record, reading its
// body and attributes (any error is in them: ids from the wire are bytes,
// which id takes as they are).
func (d *decoder) convert(sc *scope) (inbox.Record, error) {
	lr := &d.lr
	r := inbox.Record{Time: unixNano(lr.time)}
	if r.Time == 0 {
		r.Time = unixNano(lr.observed)
	}
	r.Severity = SeverityFromNumber(int64(lr.severityNumber))
	if r.Severity == record.SeverityNone {
		r.Severity = SeverityFromText(string(lr.severityText))
	}
	body, err := d.body(&lr.body)
	if err != nil {
		return r, fmt.Errorf("body: %w", err)
	}
	r.Body = body
	traceID, err := id(lr.traceID, 16, false)
	if err != nil {
		return r, fmt.Errorf("traceId: %w", err)
	}
	spanID, err := id(lr.spanID, 8, false)
	if err != nil {
		return r, fmt.Errorf("spanId: %w", err)
	}
	return d.attrs(r, lr, sc, traceID, spanID)
}

// attrs gives r the record's attributes, then those the protocol
// carried; allocated once to their number: a request of many small
// records must not cost many times its size.
func (d *decoder) attrs(r inbox.Record, lr *logRecord, sc *scope, traceID, spanID string) (inbox.Record, error) {
	n := len(lr.attributes)
	for _, set := range []bool{len(lr.severityText) > 0, traceID != "", spanID != "", lr.flags != 0,
		len(lr.eventName) > 0, len(sc.name) > 0, len(sc.version) > 0} {
		if set {
			n++
		}
	}
	if n > 0 {
		r.Attrs = make([]inbox.Attr, 0, n)
	}
	for i, kv := range lr.attributes {
		key, val, err := d.keyValue(kv, levelLogRecord+1)
		if err != nil {
			return r, fmt.Errorf("attributes[%d]: %w", i, err)
		}
		a, err := d.attr(string(key), val, levelLogRecord+2)
		if err != nil {
			return r, fmt.Errorf("attributes[%d]: %w", i, err)
		}
		r.Attrs = append(r.Attrs, a)
	}
	if len(lr.severityText) > 0 {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeySeverityText, Value: string(lr.severityText)})
	}
	if traceID != "" {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeyTraceID, Value: traceID})
	}
	if spanID != "" {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeySpanID, Value: spanID})
	}
	if lr.flags != 0 {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeyFlags, Value: strconv.FormatUint(uint64(lr.flags), 10), JSON: true})
	}
	if len(lr.eventName) > 0 {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeyEventName, Value: string(lr.eventName)})
	}
	if len(sc.name) > 0 {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeyScopeName, Value: string(sc.name)})
	}
	if len(sc.version) > 0 {
		r.Attrs = append(r.Attrs, inbox.Attr{Key: KeyScopeVersion, Value: string(sc.version)})
	}
	return r, nil
}

// anyValue is what an AnyValue holds: the kind of the oneof field given
// last, its bytes (string, bytes) or value (bool, int, double), and for an
// array or kvlist its occurrences since another kind was last given
// (protobuf merges those).
type anyValue struct {
	kind protowire.Number
	v    []byte
	x    uint64
	list segments
}

// value reads the AnyValue v, at level (its level in the request),
// checking every field proto.Unmarshal read, those a later field
// replaced too.
func (d *decoder) value(v *segments, level int) (anyValue, error) {
	var a anyValue
	if v.n > 0 && level > maxLevel {
		return a, errRecursion
	}
	for i := range v.n {
		for m := v.at(i); len(m) > 0; {
			f, rest, err := nextField(m)
			if err != nil {
				return a, err
			}
			m = rest
			if f.num < kindString || f.num > kindStrindex || f.typ != kindType(f.num) {
				continue // unknown, or of another wire type: skipped
			}
			if f.num == kindString {
				if _, err := str(f); err != nil {
					return a, err
				}
			}
			if f.num != a.kind && a.list.n > 0 {
				// The array or kvlist given before is replaced: read it
				// all the same.
				if _, err := d.appendJSON(nil, a, level); err != nil {
					return a, err
				}
				a.list.reset()
			}
			a.kind, a.v, a.x = f.num, f.v, f.x
			if f.num == kindArray || f.num == kindKvlist {
				a.list.add(f.v)
			}
		}
	}
	return a, nil
}

// kindType is the wire type of AnyValue's field num.
func kindType(num protowire.Number) protowire.Type {
	switch num {
	case kindBool, kindInt, kindStrindex:
		return protowire.VarintType
	case kindDouble:
		return protowire.Fixed64Type
	}
	return protowire.BytesType
}

// body is a record's body: a string as it is, bytes as they are (the
// pipeline keeps bytes that are not UTF-8 as it does for a file's), any
// other value as its JSON text, nothing for none.
func (d *decoder) body(v *segments) ([]byte, error) {
	a, err := d.value(v, levelLogRecord+1)
	if err != nil {
		return nil, err
	}
	switch a.kind {
	case kindNone, kindStrindex:
		return nil, nil
	case kindString, kindBytes:
		// Not nil when empty, as from the generated types.
		return append(make([]byte, 0, len(a.v)), a.v...), nil
	}
	d.buf, err = d.appendJSON(d.buf[:0], a, levelLogRecord+1)
	return append([]byte(nil), d.buf...), err
}

// attr is one attribute: a string as its text, anything else as JSON.
func (d *decoder) attr(key string, v *segments, level int) (inbox.Attr, error) {
	a, err := d.value(v, level)
	if err != nil {
		return inbox.Attr{}, err
	}
	if a.kind == kindString {
		return inbox.Attr{Key: key, Value: string(a.v)}, nil
	}
	d.buf, err = d.appendJSON(d.buf[:0], a, level)
	return inbox.Attr{Key: key, Value: string(d.buf), JSON: true}, err
}

// text is v as text: a string as it is, anything else as its JSON.
func (d *decoder) text(v *segments, level int) (string, error) {
	a, err := d.value(v, level)
	if err != nil || a.kind == kindString {
		return string(a.v), err
	}
	d.buf, err = d.appendJSON(d.buf[:0], a, level)
	return string(d.buf), err
}

// keyValue reads the KeyValue kv at level: its key (the last given) and
// its value's occurrences, in a segments the decoder lends until the
// next call at that level.
func (d *decoder) keyValue(kv []byte, level int) ([]byte, *segments, error) {
	for len(d.values) <= level {
		d.values = append(d.values, &segments{})
	}
	val := d.values[level]
	val.reset()
	var key []byte
	for len(kv) > 0 {
		f, rest, err := nextField(kv)
		if err != nil {
			return nil, nil, err
		}
		kv = rest
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case fieldKey:
			if key, err = str(f); err != nil {
				return nil, nil, err
			}
		case fieldValue:
			val.add(f.v)
		}
	}
	return key, val, nil
}

// checkKeyValue checks the KeyValue kv as proto.Unmarshal does.
func (d *decoder) checkKeyValue(kv []byte, level int) error {
	if level > maxLevel {
		return errRecursion
	}
	_, val, err := d.keyValue(kv, level)
	if err != nil {
		return err
	}
	a, err := d.value(val, level+1)
	if err != nil || a.list.n == 0 {
		return err
	}
	_, err = d.appendJSON(nil, a, level+1)
	return err
}

// appendJSON appends the value a, at level, as JSON: ints as numbers,
// kvlists as objects (their members in order, duplicates kept), arrays
// as arrays, bytes as a base64 string, NaN and infinities as the strings
// "NaN", "Infinity", "-Infinity" (JSON has no number for them), nothing
// (or a profiling string-table index, which logs do not have: absent, as
// the OTLP spec says) as null.
func (d *decoder) appendJSON(dst []byte, a anyValue, level int) ([]byte, error) {
	switch a.kind {
	case kindString:
		return record.AppendString(dst, a.v), nil
	case kindBool:
		return strconv.AppendBool(dst, a.x != 0), nil
	case kindInt:
		return strconv.AppendInt(dst, int64(a.x), 10), nil
	case kindDouble:
		f := math.Float64frombits(a.x)
		switch {
		case math.IsNaN(f):
			return append(dst, `"NaN"`...), nil
		case math.IsInf(f, 1):
			return append(dst, `"Infinity"`...), nil
		case math.IsInf(f, -1):
			return append(dst, `"-Infinity"`...), nil
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
	case kindBytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, a.v)
		return append(dst, '"'), nil
	case kindArray, kindKvlist:
		return d.appendList(dst, a, level)
	}
	return append(dst, "null"...), nil
}

// appendList appends the array or kvlist a, at level, as JSON.
func (d *decoder) appendList(dst []byte, a anyValue, level int) ([]byte, error) {
	if level+1 > maxLevel || a.kind == kindKvlist && level+2 > maxLevel && len(a.list.first) > 0 {
		// The ArrayValue or KeyValueList, or a KeyValue of it, is
		// deeper than proto.Unmarshal read.
		return dst, errRecursion
	}
	open, closing := byte('['), byte(']')
	if a.kind == kindKvlist {
		open, closing = '{', '}'
	}
	dst = append(dst, open)
	n := 0
	var elem segments
	for i := range a.list.n {
		for m := a.list.at(i); len(m) > 0; {
			f, rest, err := nextField(m)
			if err != nil {
				return dst, err
			}
			m = rest
			if f.num != fieldValues || f.typ != protowire.BytesType {
				continue
			}
			if n++; n > 1 {
				dst = append(dst, ',')
			}
			val := &elem
			if a.kind == kindKvlist {
				var key []byte
				if key, val, err = d.keyValue(f.v, level+2); err != nil {
					return dst, err
				}
				dst = record.AppendString(dst, key)
				dst = append(dst, ':')
			} else {
				elem.reset()
				elem.add(f.v)
			}
			// An array's values are at level+2 (AnyValue, ArrayValue,
			// AnyValue); a kvlist's at level+3 (…, KeyValue, AnyValue).
			vl := level + 2
			if a.kind == kindKvlist {
				vl++
			}
			v, err := d.value(val, vl)
			if err != nil {
				return dst, err
			}
			if dst, err = d.appendJSON(dst, v, vl); err != nil {
				return dst, err
			}
		}
	}
	return append(dst, closing), nil
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
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			break
		}
		b = rest
		if f.num == path[0] && f.typ == protowire.BytesType {
			n += count(f.v, path[1:]...)
		}
	}
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
