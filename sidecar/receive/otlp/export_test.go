package otlp

// DecodeProtobuf decodes without a bound on the records.
func DecodeProtobuf(body []byte) ([]Batch, error) { return decodeProtobuf(body, 1<<62) }
