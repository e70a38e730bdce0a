package protofield

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestNested: fields of every length class, nested, come out as
// protowire's own length-prefixed encoding.
func TestNested(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 16383, 16384, 70000} {
		content := bytes.Repeat([]byte{'x'}, n)
		want := protowire.AppendTag(nil, 1, protowire.BytesType)
		inner := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), content)
		want = protowire.AppendBytes(want, inner)

		dst := []byte{}
		dst, outer := Open(dst, 1)
		dst, in := Open(dst, 2)
		dst = append(dst, content...)
		dst = Close(dst, in)
		dst = Close(dst, outer)
		if !bytes.Equal(dst, want) {
			t.Errorf("content of %d bytes: got %d bytes, want %d (protowire.AppendBytes)", n, len(dst), len(want))
		}
	}
}
