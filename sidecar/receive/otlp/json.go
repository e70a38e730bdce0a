package otlp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/loglet/loglet/internal/protofield"
	"google.golang.org/protobuf/encoding/protowire"
)

// decodeJSON decodes an OTLP/JSON export request as protojson read it
// into the generated types (unknown fields discarded), the reference of
// FuzzDecodeJSONProtojson: it is transcoded to the protobuf wire format,
// which decodeProtobuf then reads. What protojson took, it takes: field
// names in lowerCamelCase or as in the .proto, 64-bit integers as strings
// or numbers, enums by number or name, bytes in base64, null as absent,
// fields it does not know ignored; what protojson refused (a field given
// twice, two values of a oneof, a string that is not UTF-8, a number out
// of its type's range), it refuses. Trace and span ids are in hex, as
// OTLP/JSON writes them, or in base64, protojson's way (see jsonID).
func decodeJSON(body []byte) ([]Batch, error) {
	wire, err := transcodeJSON(body)
	if err != nil {
		return nil, err
	}
	// Bounded already: by the JSON objects.
	return decodeProtobuf(wire, math.MaxInt)
}

// A jsonMessage is the fields of a message as OTLP/JSON names them.
type jsonMessage []jsonField

type jsonField struct {
	name, protoName string // lowerCamelCase, and as in the .proto
	num             protowire.Number
	kind            jsonKind
	msg             *jsonMessage // kind jsonMsg
	repeated, oneof bool
}

type jsonKind uint8

const (
	jsonString jsonKind = iota
	jsonBytes
	jsonBool
	jsonInt32
	jsonInt64
	jsonUint32
	jsonFixed32
	jsonFixed64
	jsonDouble
	jsonEnum // SeverityNumber, the one enum of a LogsData
	jsonMsg
	jsonTraceID // bytes, 16 of them
	jsonSpanID  // bytes, 8 of them
)

// The messages of a LogsData (ExportLogsServiceRequest's one field has
// the same name and number), as opentelemetry-proto v1.9 has them.
var (
	logsData, resourceLogsMsg, resourceMsg, entityRefMsg, scopeLogsMsg, scopeMsg,
	logRecordMsg, keyValueMsg, anyValueMsg, arrayValueMsg, kvlistMsg jsonMessage
)

func init() {
	logsData = jsonMessage{{name: "resourceLogs", protoName: "resource_logs", num: fieldResourceLogs, kind: jsonMsg, msg: &resourceLogsMsg, repeated: true}}
	resourceLogsMsg = jsonMessage{
		{name: "resource", num: fieldResource, kind: jsonMsg, msg: &resourceMsg},
		{name: "scopeLogs", protoName: "scope_logs", num: fieldScopeLogs, kind: jsonMsg, msg: &scopeLogsMsg, repeated: true},
		{name: "schemaUrl", protoName: "schema_url", num: fieldResourceSchemaURL},
	}
	resourceMsg = jsonMessage{
		{name: "attributes", num: fieldResourceAttributes, kind: jsonMsg, msg: &keyValueMsg, repeated: true},
		{name: "droppedAttributesCount", protoName: "dropped_attributes_count", num: fieldResourceDropped, kind: jsonUint32},
		{name: "entityRefs", protoName: "entity_refs", num: fieldEntityRefs, kind: jsonMsg, msg: &entityRefMsg, repeated: true},
	}
	entityRefMsg = jsonMessage{
		{name: "schemaUrl", protoName: "schema_url", num: 1},
		{name: "type", num: 2},
		{name: "idKeys", protoName: "id_keys", num: 3, repeated: true},
		{name: "descriptionKeys", protoName: "description_keys", num: 4, repeated: true},
	}
	scopeLogsMsg = jsonMessage{
		{name: "scope", num: fieldScope, kind: jsonMsg, msg: &scopeMsg},
		{name: "logRecords", protoName: "log_records", num: fieldLogRecords, kind: jsonMsg, msg: &logRecordMsg, repeated: true},
		{name: "schemaUrl", protoName: "schema_url", num: fieldScopeSchemaURL},
	}
	scopeMsg = jsonMessage{
		{name: "name", num: fieldScopeName},
		{name: "version", num: fieldScopeVersion},
		{name: "attributes", num: fieldScopeAttributes, kind: jsonMsg, msg: &keyValueMsg, repeated: true},
		{name: "droppedAttributesCount", protoName: "dropped_attributes_count", num: fieldScopeDropped, kind: jsonUint32},
	}
	logRecordMsg = jsonMessage{
		{name: "timeUnixNano", protoName: "time_unix_nano", num: fieldTime, kind: jsonFixed64},
		{name: "observedTimeUnixNano", protoName: "observed_time_unix_nano", num: fieldObservedTime, kind: jsonFixed64},
		{name: "severityNumber", protoName: "severity_number", num: fieldSeverityNumber, kind: jsonEnum},
		{name: "severityText", protoName: "severity_text", num: fieldSeverityText},
		{name: "body", num: fieldBody, kind: jsonMsg, msg: &anyValueMsg},
		{name: "attributes", num: fieldAttributes, kind: jsonMsg, msg: &keyValueMsg, repeated: true},
		{name: "droppedAttributesCount", protoName: "dropped_attributes_count", num: fieldDropped, kind: jsonUint32},
		{name: "flags", num: fieldFlags, kind: jsonFixed32},
		{name: "traceId", protoName: "trace_id", num: fieldTraceID, kind: jsonTraceID},
		{name: "spanId", protoName: "span_id", num: fieldSpanID, kind: jsonSpanID},
		{name: "eventName", protoName: "event_name", num: fieldEventName},
	}
	keyValueMsg = jsonMessage{
		{name: "key", num: fieldKey},
		{name: "value", num: fieldValue, kind: jsonMsg, msg: &anyValueMsg},
		{name: "keyStrindex", protoName: "key_strindex", num: fieldKeyStrindex, kind: jsonInt32},
	}
	anyValueMsg = jsonMessage{
		{name: "stringValue", protoName: "string_value", num: kindString, oneof: true},
		{name: "boolValue", protoName: "bool_value", num: kindBool, kind: jsonBool, oneof: true},
		{name: "intValue", protoName: "int_value", num: kindInt, kind: jsonInt64, oneof: true},
		{name: "doubleValue", protoName: "double_value", num: kindDouble, kind: jsonDouble, oneof: true},
		{name: "arrayValue", protoName: "array_value", num: kindArray, kind: jsonMsg, msg: &arrayValueMsg, oneof: true},
		{name: "kvlistValue", protoName: "kvlist_value", num: kindKvlist, kind: jsonMsg, msg: &kvlistMsg, oneof: true},
		{name: "bytesValue", protoName: "bytes_value", num: kindBytes, kind: jsonBytes, oneof: true},
		{name: "stringValueStrindex", protoName: "string_value_strindex", num: kindStrindex, kind: jsonInt32, oneof: true},
	}
	arrayValueMsg = jsonMessage{{name: "values", num: fieldValues, kind: jsonMsg, msg: &anyValueMsg, repeated: true}}
	kvlistMsg = jsonMessage{{name: "values", num: fieldValues, kind: jsonMsg, msg: &keyValueMsg, repeated: true}}
}

func (m jsonMessage) field(name string) *jsonField {
	for i := range m {
		if m[i].name == name || m[i].protoName != "" && m[i].protoName == name {
			return &m[i]
		}
	}
	return nil
}

// severityNumbers are SeverityNumber's values by name.
var severityNumbers = func() map[string]int32 {
	m := map[string]int32{"SEVERITY_NUMBER_UNSPECIFIED": 0}
	for i, level := range []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"} {
		for j := range 4 {
			name := "SEVERITY_NUMBER_" + level
			if j > 0 {
				name += strconv.Itoa(j + 1)
			}
			m[name] = int32(4*i + j + 1)
		}
	}
	return m
}()

// transcoder reads OTLP/JSON and writes the message it holds in the
// protobuf wire format.
type transcoder struct {
	body []byte
	d    *json.Decoder
	out  []byte
	// path names the record being read, for an error in its ids:
	// resourceLogs[i].scopeLogs[j].logRecords[k].
	path [3]int
}

func transcodeJSON(body []byte) ([]byte, error) {
	// encoding/json reads a string that is not UTF-8, and an escaped
	// UTF-16 surrogate that is not half of a pair, as U+FFFD; protojson
	// refused them, as protobuf strings are UTF-8.
	if !utf8.Valid(body) {
		return nil, errors.New(errNotRequest + "invalid UTF-8")
	}
	if err := checkSurrogates(body); err != nil {
		return nil, fmt.Errorf(errNotRequest+"%w", err)
	}
	t := &transcoder{body: body, d: json.NewDecoder(bytes.NewReader(body))}
	t.d.UseNumber()
	t.out = make([]byte, 0, len(body)/2)
	if err := t.message(logsData, 1); err != nil {
		var ie idError
		if errors.As(err, &ie) {
			return nil, ie.error
		}
		return nil, fmt.Errorf(errNotRequest+"%w", err)
	}
	if _, err := t.d.Token(); err != io.EOF {
		return nil, errors.New(errNotRequest + "data after the request's object")
	}
	return t.out, nil
}

// idError is an error in a trace or span id, which names the record.
type idError struct{ error }

// message reads a JSON object as the message m, at level (as protojson's
// recursion limit counts: the request is 1).
func (t *transcoder) message(m jsonMessage, level int) error {
	if level > maxLevel {
		return errRecursion
	}
	if err := t.delim('{'); err != nil {
		return err
	}
	var seen, oneof uint32 // field numbers, below 32
	for t.d.More() {
		tok, err := t.d.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		f := m.field(name)
		if f == nil {
			// A field this version does not know: OTLP/JSON receivers
			// ignore it.
			if err := t.skip(); err != nil {
				return err
			}
			continue
		}
		if seen&(1<<f.num) != 0 {
			return fmt.Errorf("duplicate field %q", name)
		}
		seen |= 1 << f.num
		if t.null() {
			continue
		}
		if f.repeated {
			if err := t.list(f, level); err != nil {
				return err
			}
			continue
		}
		if f.oneof {
			if oneof != 0 {
				return fmt.Errorf("field %q: a value of another kind is already set", name)
			}
			oneof = 1
		}
		if err := t.value(f, level); err != nil {
			return err
		}
	}
	return t.delim('}')
}

// list reads the JSON array of the repeated field f.
func (t *transcoder) list(f *jsonField, level int) error {
	if err := t.delim('['); err != nil {
		return fmt.Errorf("field %q: %w", f.name, err)
	}
	for i := 0; t.d.More(); i++ {
		if f == &logsData[0] {
			t.path = [3]int{i, 0, 0}
		} else if f.msg == &scopeLogsMsg {
			t.path[1], t.path[2] = i, 0
		} else if f.msg == &logRecordMsg {
			t.path[2] = i
		}
		if err := t.value(f, level); err != nil {
			return err
		}
	}
	return t.delim(']')
}

// value reads one value of the field f, of a message at level, and writes
// it as the field (a message: at level+1).
func (t *transcoder) value(f *jsonField, level int) error {
	if f.kind == jsonMsg {
		var start int
		t.out, start = protofield.Open(t.out, f.num)
		if err := t.message(*f.msg, level+1); err != nil {
			return err
		}
		t.out = protofield.Close(t.out, start)
		return nil
	}
	tok, err := t.d.Token()
	if err != nil {
		return err
	}
	bad := func() error { return fmt.Errorf("field %q: invalid value %v", f.name, tok) }
	s, isString := tok.(string)
	n, isNumber := tok.(json.Number)
	switch f.kind {
	case jsonString:
		if !isString {
			return bad()
		}
		t.out = protowire.AppendTag(t.out, f.num, protowire.BytesType)
		t.out = protowire.AppendString(t.out, s)
	case jsonBytes, jsonTraceID, jsonSpanID:
		if !isString {
			return bad()
		}
		b, ok := jsonBytesValue(s)
		if !ok {
			return bad()
		}
		if f.kind != jsonBytes {
			size := map[jsonKind]int{jsonTraceID: 16, jsonSpanID: 8}[f.kind]
			if b, err = jsonID(b, size); err != nil {
				return idError{fmt.Errorf("otlp: resourceLogs[%d].scopeLogs[%d].logRecords[%d]: %s: %w", t.path[0], t.path[1], t.path[2], f.name, err)}
			}
		}
		t.out = protowire.AppendTag(t.out, f.num, protowire.BytesType)
		t.out = protowire.AppendBytes(t.out, b)
	case jsonBool:
		v, ok := tok.(bool)
		if !ok {
			return bad()
		}
		t.out = protowire.AppendTag(t.out, f.num, protowire.VarintType)
		t.out = protowire.AppendVarint(t.out, protowire.EncodeBool(v))
	case jsonInt32, jsonInt64:
		bits := map[jsonKind]int{jsonInt32: 32, jsonInt64: 64}[f.kind]
		v, ok := jsonInt(tok, bits)
		if !ok {
			return bad()
		}
		t.out = protowire.AppendTag(t.out, f.num, protowire.VarintType)
		t.out = protowire.AppendVarint(t.out, uint64(v))
	case jsonUint32, jsonFixed32, jsonFixed64:
		bits := map[jsonKind]int{jsonUint32: 32, jsonFixed32: 32, jsonFixed64: 64}[f.kind]
		v, ok := jsonUint(tok, bits)
		if !ok {
			return bad()
		}
		switch f.kind {
		case jsonUint32:
			t.out = protowire.AppendTag(t.out, f.num, protowire.VarintType)
			t.out = protowire.AppendVarint(t.out, v)
		case jsonFixed32:
			t.out = protowire.AppendTag(t.out, f.num, protowire.Fixed32Type)
			t.out = protowire.AppendFixed32(t.out, uint32(v))
		default:
			t.out = protowire.AppendTag(t.out, f.num, protowire.Fixed64Type)
			t.out = protowire.AppendFixed64(t.out, v)
		}
	case jsonDouble:
		var v float64
		var ok bool
		switch {
		case isNumber:
			v, ok = jsonFloat(string(n))
		case isString:
			switch s {
			case "NaN":
				v, ok = math.NaN(), true
			case "Infinity":
				v, ok = math.Inf(1), true
			case "-Infinity":
				v, ok = math.Inf(-1), true
			default:
				v, ok = jsonFloat(s)
			}
		}
		if !ok {
			return bad()
		}
		t.out = protowire.AppendTag(t.out, f.num, protowire.Fixed64Type)
		t.out = protowire.AppendFixed64(t.out, math.Float64bits(v))
	case jsonEnum:
		var v int32
		switch {
		case isNumber:
			x, ok := jsonInt(n, 32)
			if !ok {
				return bad()
			}
			v = int32(x)
		case isString:
			x, ok := severityNumbers[s]
			if !ok {
				return nil // a value this version does not know: unset
			}
			v = x
		default:
			return bad()
		}
		t.out = protowire.AppendTag(t.out, f.num, protowire.VarintType)
		t.out = protowire.AppendVarint(t.out, uint64(int64(v)))
	}
	return nil
}

// delim reads the delimiter want.
func (t *transcoder) delim(want json.Delim) error {
	tok, err := t.d.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("%v where %v belongs", tok, want)
	}
	return nil
}

// null reads a JSON null if that is what comes next.
func (t *transcoder) null() bool {
	rest := bytes.TrimLeft(t.body[t.d.InputOffset():], " \t\r\n:")
	if !bytes.HasPrefix(rest, []byte("null")) {
		return false
	}
	_, err := t.d.Token()
	return err == nil
}

// skip reads a value, whatever it is.
func (t *transcoder) skip() error {
	depth := 0
	for {
		tok, err := t.d.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// jsonBytesValue decodes base64 as protojson did: the standard or the
// URL alphabet, padded or not.
func jsonBytesValue(s string) ([]byte, bool) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.DecodeString(s)
	return b, err == nil
}

// jsonInt reads an integer as protojson did: a JSON number whose value is
// an integer (1e3 and 1.0 are), or a string holding one.
func jsonInt(tok json.Token, bits int) (int64, bool) {
	s, ok := jsonIntString(tok)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, bits)
	return n, err == nil
}

func jsonUint(tok json.Token, bits int) (uint64, bool) {
	s, ok := jsonIntString(tok)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, bits)
	return n, err == nil
}

// jsonFloat reads a double from a JSON number's text as protojson did,
// one beyond a double's range refused.
func jsonFloat(s string) (float64, bool) {
	if !isJSONNumber(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// jsonIntString is the integer a JSON number, or a string holding just
// one, has the value of, in decimal digits.
func jsonIntString(tok json.Token) (string, bool) {
	var s string
	switch v := tok.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = v
	default:
		return "", false
	}
	if !isJSONNumber(s) {
		return "", false
	}
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	mant, exp, _ := strings.Cut(strings.ToLower(s), "e")
	intp, frac, _ := strings.Cut(mant, ".")
	intp = strings.TrimLeft(intp, "0")
	frac = strings.TrimRight(frac, "0")
	if intp == "" && frac == "" {
		return "0", true
	}
	e := 0
	if exp != "" {
		x, err := strconv.ParseInt(exp, 10, 32)
		if err != nil {
			return "", false
		}
		e = int(x)
	}
	var num string
	if e >= 0 {
		if len(frac) > e || len(intp)+e > 20 {
			return "", false
		}
		num = intp + frac + strings.Repeat("0", e-len(frac))
	} else {
		i := len(intp) + e
		if len(frac) > 0 || i < 0 || strings.Trim(intp[i:], "0") != "" {
			return "", false
		}
		num = intp[:i]
	}
	if neg {
		return "-" + num, true
	}
	return num, true
}

// isJSONNumber reports whether s is a JSON number, nothing around it.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// checkSurrogates refuses an escaped UTF-16 surrogate in b's strings that
// is not the first half of a pair followed by its second.
func checkSurrogates(b []byte) error {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		i++
		if i >= len(b) || b[i] != 'u' {
			continue // another escape, or the end: the JSON reader judges
		}
		r, ok := hex4(b[i+1:])
		if !ok || r < 0xd800 || r > 0xdfff {
			continue
		}
		if r < 0xdc00 && len(b) >= i+11 && b[i+5] == '\\' && b[i+6] == 'u' {
			if r2, ok := hex4(b[i+7:]); ok && 0xdc00 <= r2 && r2 <= 0xdfff {
				i += 10
				continue
			}
		}
		return fmt.Errorf("invalid escape code %q in string", b[i-1:i+5])
	}
	return nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(n), err == nil
}
