package ingest

import (
	"bytes"
	"testing"

	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TestStatus: the google.rpc.Status an OTLP failure answers is what
// genproto's type gave through proto.Marshal (the same bytes) and
// protojson.Marshal (the same message; protojson puts in spaces at
// random, so the JSON is held to a literal too).
func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		code     int32
		msg      string
		wantJSON string
	}{
		{3, "the body is not valid gzip", `{"code":3,"message":"the body is not valid gzip"}`},
		{16, "", `{"code":16}`},
		{0, "m", `{"message":"m"}`},
		{0, "", `{}`},
		{-1, "neg", `{"code":-1,"message":"neg"}`},
		{14, "q\"b\\s/<>&\b\f\n\r\t\x00\x1f\x7f é \u2028 😀", `{"code":14,"message":"q\"b\\s/<>&\b\f\n\r\t\u0000\u001f` + "\x7f é \u2028 😀" + `"}`},
		{8, string(make([]byte, 200)), `{"code":8,"message":"` + string(bytes.Repeat([]byte(`\u0000`), 200)) + `"}`},
	} {
		want := &statuspb.Status{Code: tc.code, Message: tc.msg}
		pb, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if got := statusProto(tc.code, tc.msg); !bytes.Equal(got, pb) {
			t.Errorf("statusProto(%d, %q) = %x, want proto.Marshal's %x", tc.code, tc.msg, got, pb)
		}
		js := statusJSON(tc.code, tc.msg)
		if string(js) != tc.wantJSON {
			t.Errorf("statusJSON(%d, %q) = %s, want %s", tc.code, tc.msg, js, tc.wantJSON)
		}
		var got statuspb.Status
		if err := protojson.Unmarshal(js, &got); err != nil || !proto.Equal(&got, want) {
			t.Errorf("statusJSON(%d, %q) = %s reads as %v (%v), want %v", tc.code, tc.msg, js, &got, err, want)
		}
	}
	// A message that is not UTF-8 (protobuf refused it: the answer was
	// empty) goes with U+FFFD.
	var got statuspb.Status
	if err := proto.Unmarshal(statusProto(3, "bad \xff"), &got); err != nil || got.GetMessage() != "bad \uFFFD" {
		t.Errorf("protobuf: %v (%v), want message %q", &got, err, "bad \uFFFD")
	}
	if err := protojson.Unmarshal(statusJSON(3, "bad \xff"), &got); err != nil || got.GetMessage() != "bad \uFFFD" {
		t.Errorf("JSON: %v (%v), want message %q", &got, err, "bad \uFFFD")
	}
}
