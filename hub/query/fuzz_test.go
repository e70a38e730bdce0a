package query

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/loglet/loglet/hub/layout"
)

// FuzzRecords feeds the decoder random messages (no panic; an error or
// records), and checks that packages of random bodies come back whole,
// and that the grep prefilter passes on every record the grep selects.
func FuzzRecords(f *testing.F) {
	f.Add("s2", []byte("plain text"), "GET /ab 200\nab\"cd\n")
	f.Add("", []byte(`{"body":"x"}`+"\n"+`{"body":1}`), "a\\b\x00ab\xff")
	f.Add("s2", []byte("\xff\x06\x00\x00S2sTwO\x00\x05\x00\x00\x01\x02\x03\x04\x05"), "")
	f.Fuzz(func(t *testing.T, encoding string, data []byte, bodies string) {
		var dec layout.Decoder
		grep := Filter{Grep: regexp.MustCompile(`ab`)}
		grep.prepare()
		_ = records(&dec, encoding, data, &grep, func(Record) error { return nil })

		var ndjson []byte
		lines := strings.Split(bodies, "\n")
		for _, b := range lines {
			q, _ := json.Marshal(b)
			ndjson = append(append(append(ndjson, `{"body":`...), q...), "}\n"...)
		}
		msg, err := layout.NewEncoder().Encode(ndjson)
		if err != nil {
			t.Fatal(err)
		}
		var got, hits []string
		if err := records(&dec, layout.Encoding, msg, nil, func(r Record) error { got = append(got, r.Body); return nil }); err != nil {
			t.Fatal(err)
		}
		want := make([]string, len(lines))
		for i, b := range lines {
			want[i] = string([]rune(b)) // as JSON carries it: U+FFFD per invalid byte
		}
		if !slices.Equal(got, want) {
			t.Fatalf("decoded %q, want %q", got, want)
		}
		if err := records(&dec, layout.Encoding, msg, &grep, func(r Record) error {
			if grep.match(r) {
				hits = append(hits, r.Body)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var wantHits []string
		for _, b := range want {
			if strings.Contains(b, "ab") {
				wantHits = append(wantHits, b)
			}
		}
		if !slices.Equal(hits, wantHits) {
			t.Fatalf("grep ab selected %q, want %q", hits, wantHits)
		}
	})
}
