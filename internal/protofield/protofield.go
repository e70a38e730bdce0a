// Package protofield writes protobuf length-delimited fields in place, as
// the OTLP sink and the OTLP/JSON receiver (which transcodes to protobuf)
// both do: Open appends the field's tag and one byte for its length, the
// caller appends the content, and Close writes the length. Most nested
// messages (attributes, values) are shorter than 128 bytes, whose length
// takes that one byte; a longer one (a record, a request) is moved along
// by the bytes more its length takes: one copy, cheaper than measuring
// the content first.
package protofield

import "google.golang.org/protobuf/encoding/protowire"

// Open appends the tag of the length-delimited field num and one byte
// for its length, and returns where its content starts, for Close.
func Open(dst []byte, num protowire.Number) ([]byte, int) {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	dst = append(dst, 0)
	return dst, len(dst)
}

// Close writes the length of the field Open opened at start, now that its
// content is written.
func Close(dst []byte, start int) []byte {
	n := len(dst) - start
	if n < 0x80 {
		dst[start-1] = byte(n)
		return dst
	}
	w := protowire.SizeVarint(uint64(n))
	dst = append(dst, make([]byte, w-1)...)
	copy(dst[start+w-1:], dst[start:start+n])
	protowire.AppendVarint(dst[:start-1], uint64(n))
	return dst
}
