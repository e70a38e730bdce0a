package otlp

import (
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"
)

// DecodeFull is the reference FuzzDecodeProtobuf holds the record-by-record
// decoder to: the whole request unmarshalled, then converted.
func DecodeFull(body []byte) ([]Batch, error) {
	req := &collogspb.ExportLogsServiceRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		return nil, err
	}
	return convert(&logspb.LogsData{ResourceLogs: req.ResourceLogs}, false)
}

// DecodeProtobuf decodes without a bound on the records.
func DecodeProtobuf(body []byte) ([]Batch, error) { return decodeProtobuf(body, 1<<62) }
