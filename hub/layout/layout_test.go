package layout_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/sidecar/record"
)

func TestSubjects(t *testing.T) {
	for _, tc := range []struct {
		stream string
		sub    layout.Subject
		want   string
	}{
		{"LOGLET", layout.Subject{Route: "default", Namespace: "shop", Pod: "web-1", Container: "app", SourceID: "ab12"}, "loglet.default.shop.web-1.app.ab12"},
		{"AUDIT", layout.Subject{Route: "r", SourceID: "ab12"}, "audit.r._._._.ab12"},
		{"LOGLET", layout.Subject{Route: "default", Namespace: "shop", Pod: "web.1", Container: "a b", SourceID: "x"}, "loglet.default.shop.web_1.a_b.x"},
		{"LOGLET", layout.Subject{Route: "default", Namespace: "*", Pod: ">", Container: "\t", SourceID: "x"}, "loglet.default._._._.x"},
	} {
		if got := tc.sub.String(tc.stream); got != tc.want {
			t.Errorf("%+v in %s: %s, want %s", tc.sub, tc.stream, got, tc.want)
		}
	}
	got := layout.Select{Namespace: "shop", Pod: "web.1"}.Filters("LOGLET")
	if want := []string{"loglet.*.shop.web_1.*.*", "loglet.*.*"}; !slices.Equal(got, want) {
		t.Errorf("filters %q, want %q", got, want)
	}
	got = layout.Select{Route: "audit", SourceID: "ab12"}.Filters("LOGLET")
	if want := []string{"loglet.audit.*.*.*.ab12", "loglet.audit.ab12"}; !slices.Equal(got, want) {
		t.Errorf("filters %q, want %q", got, want)
	}
}

func TestEncodeDecode(t *testing.T) {
	ndjson := []byte(strings.Repeat(`{"time":"2026-12-01T10:00:00Z","body":"GET /api 200"}`+"\n", 20000))
	enc := layout.NewEncoder()
	var dec layout.Decoder
	for range 2 { // the encoder and the decoder are reused
		data, err := enc.Encode(ndjson)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("\xff\x06\x00\x00S2sTwO")) || len(data) > len(ndjson)/5 {
			t.Fatalf("encoded %d bytes of %d, starting %q: want the S2 stream format, compressed", len(data), len(ndjson), data[:min(10, len(data))])
		}
		out, err := dec.Decode(layout.Encoding, data)
		if err != nil || !bytes.Equal(out, ndjson) {
			t.Fatalf("decoded %d bytes, %v; want the %d in", len(out), err, len(ndjson))
		}
	}
	// A package is encoded straight into the compressor, in pieces.
	p := &record.Package{Origin: record.NewOrigin("src", "/var/log/app.log", nil)}
	for i := range 20000 {
		start := len(p.Data)
		p.Data = fmt.Appendf(p.Data, "GET /api/orders/%d 200", i)
		p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(len(p.Data))})
	}
	want := p.AppendNDJSON(nil)
	for range 2 {
		data, err := enc.EncodePackage(p)
		if err != nil {
			t.Fatal(err)
		}
		out, err := dec.Decode(layout.Encoding, data)
		if err != nil || !bytes.Equal(out, want) {
			t.Fatalf("package decoded to %d bytes, %v; want its %d bytes of NDJSON", len(out), err, len(want))
		}
	}
	// What loglet wrote before: an S2 block.
	if out, err := layout.Decode("s2", s2.Encode(nil, ndjson)); err != nil || !bytes.Equal(out, ndjson) {
		t.Errorf("an S2 block: %d bytes, %v", len(out), err)
	}
	for _, tc := range []struct {
		encoding string
		data     []byte
		want     string
	}{
		{"s2", []byte("plain text"), "s2 block"},
		{"s2", append([]byte("\xff\x06\x00\x00S2sTwO"), 0, 5, 0, 0, 1, 2, 3, 4, 5), "s2 stream"},
		{"gzip", []byte{0x1f, 0x8b}, `encoding "gzip" (loglet writes "s2")`},
	} {
		_, err := dec.Decode(tc.encoding, tc.data)
		if !errors.Is(err, layout.ErrUndecodable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: %v, want not a loglet package: %s", tc.encoding, tc.data, err, tc.want)
		}
	}
}
