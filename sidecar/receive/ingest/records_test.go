package ingest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/record"
)

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []inbox.Record
	}{{
		name: "NDJSON: body, time, level, the rest attributes",
		body: `{"msg":"paid","time":"2026-12-01T10:00:00.5Z","level":"warn","user":"ann","n":3,"tags":["a", "b"],"m":{"k": null}}` + "\n" +
			`{"message":{"nested":true},"timestamp":1764583200,"severity":"ERROR"}` + "\r\n\n" +
			`{"body":null,"@timestamp":1764583200123,"level":13}` + "\n" +
			`{"msg":"ns","time":1764583200123456789}` + "\n" +
			`{"msg":"µs","time":"1764583200123456"}` + "\n" +
			`{"msg":"float seconds","time":1764583200.25}`,
		want: []inbox.Record{
			{Time: 1796119200500000000, Severity: record.SeverityWarn, Body: []byte("paid"), Attrs: []inbox.Attr{
				{Key: "user", Value: "ann"}, {Key: "n", Value: "3", JSON: true}, {Key: "tags", Value: `["a","b"]`, JSON: true}, {Key: "m", Value: `{"k":null}`, JSON: true}}},
			{Time: 1764583200000000000, Severity: record.SeverityError, Body: []byte(`{"nested":true}`)},
			{Time: 1764583200123000000, Severity: record.SeverityWarn},
			{Time: 1764583200123456789, Body: []byte("ns")},
			{Time: 1764583200123456000, Body: []byte("µs")},
			{Time: 1764583200250000000, Body: []byte("float seconds")},
		},
	}, {
		name: "an array of objects, pretty-printed",
		body: "[\n  {\"msg\": \"a\"},\n  {\"msg\": \"b\", \"ctx\": {\n    \"x\": 1\n  }}\n]\n",
		want: []inbox.Record{{Body: []byte("a")}, {Body: []byte("b"), Attrs: []inbox.Attr{{Key: "ctx", Value: `{"x":1}`, JSON: true}}}},
	}, {
		name: "what does not read as a body, time or level stays an attribute; the first of each wins",
		body: `{"msg":"a","message":"b","time":"yesterday","timestamp":"2026-12-01T10:00:00Z","level":"chatty","severity":99,"level":"info"}`,
		want: []inbox.Record{{Time: 1796119200000000000, Severity: record.SeverityInfo, Body: []byte("a"), Attrs: []inbox.Attr{
			{Key: "message", Value: "b"}, {Key: "time", Value: "yesterday"}, {Key: "level", Value: "chatty"}, {Key: "severity", Value: "99", JSON: true}}}},
	}, {
		name: "empty",
		body: " \n",
	}, {
		name: "an empty array",
		body: "[]",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeJSON([]byte(tc.body), 1<<20)
			if err != nil {
				t.Fatalf("decodeJSON: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decodeJSON:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not an object", "{\"msg\":\"a\"}\n\"text\"\n", `record 2 (line 2): the string "text" is not a JSON object`},
		{"a number in an array", `[{"msg":"a"},{"msg":"b"},3]`, `record 3 (line 1): 3 is not a JSON object`},
		{"broken object", "{\"msg\":\"a\"}\n{\"msg\":\"b\",}\n", `record 2 (line 2): invalid character '}'`},
		{"array not closed", `[{"msg":"a"}`, `record 2 (line 1): the array does not end`},
		{"something after the array", `[{"msg":"a"}] {"msg":"b"}`, `more follows the array`},
		{"plain text", "hello world\n", `record 1 (line 1): invalid character 'h'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeJSON([]byte(tc.body), 1<<20)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decodeJSON: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestDecodeText(t *testing.T) {
	got, err := decodeText([]byte("one\r\n\n  \ntwo\nthree"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := []inbox.Record{{Body: []byte("one")}, {Body: []byte("two")}, {Body: []byte("three")}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decodeText:\n got %+v\nwant %+v", got, want)
	}
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add([]byte(`{"msg":"a","time":1764583200,"level":"info","x":{"y":[1,2]}}` + "\n" + `{"message":"b"}`))
	f.Add([]byte(`[{"body":{"k":1},"@timestamp":"2026-12-01T10:00:00Z","severity":9}]`))
	f.Add([]byte("[\n{\"a\":\n1}\n]"))
	f.Add([]byte(`{"time":1e300,"level":-1}`))
	f.Add([]byte("plain\ntext"))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := decodeJSON(body, 1<<20)
		if err != nil {
			if json.Valid(body) && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) && !strings.Contains(err.Error(), "is not a JSON object") {
				t.Fatalf("a valid JSON object was refused: %v", err)
			}
			return
		}
		lines, err := decodeText(body, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range append(recs, lines...) {
			line := r.AppendLine(nil)
			if bytes.IndexByte(line, '\n') != len(line)-1 || !json.Valid(line) {
				t.Fatalf("record %+v makes the inbox line %q: not one line of JSON", r, line)
			}
		}
	})
}
