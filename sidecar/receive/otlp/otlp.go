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
	"strings"

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
	return decodeJSON(body)
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

// id is a trace or span id as lowercase hex, "" when absent or all
// zeros; from protojson (the reference's JSON), as jsonID reads it.
func id(b []byte, size int, fromJSON bool) (string, error) {
	if fromJSON {
		var err error
		if b, err = jsonID(b, size); err != nil {
			return "", err
		}
	}
	if len(b) == 0 || allZero(b) {
		return "", nil
	}
	return hex.EncodeToString(b), nil
}

// jsonID is an id of size bytes from OTLP/JSON, b as protojson decoded
// it. OTLP/JSON writes ids as hex where protojson reads bytes as base64:
// hex digits are base64 digits too, so protojson decoded the 2×size hex
// digits into 3/4 as many bytes, which encode back to them. An id that
// decoded to size bytes was sent as base64 (protojson's own way), and is
// taken as it is.
func jsonID(b []byte, size int) ([]byte, error) {
	if len(b) != size*2*3/4 {
		return b, nil
	}
	digits := base64.StdEncoding.EncodeToString(b)
	raw, err := hex.DecodeString(digits)
	if err != nil {
		return nil, fmt.Errorf("%q is not %d hex digits", digits, size*2)
	}
	return raw, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
