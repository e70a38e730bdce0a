// Package utf16test writes text as UTF-16 for tests of the decoders, with
// the standard library rather than the code under test.
package utf16test

import (
	"encoding/binary"
	"unicode/utf16"
)

// LE is s in UTF-16LE.
func LE(s string) string { return encode(s, binary.LittleEndian) }

// BE is s in UTF-16BE.
func BE(s string) string { return encode(s, binary.BigEndian) }

func encode(s string, order binary.AppendByteOrder) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = order.AppendUint16(b, u)
	}
	return string(b)
}
