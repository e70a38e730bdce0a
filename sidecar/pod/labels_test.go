package pod

import (
	"maps"
	"strconv"
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	got, err := ParseLabels([]byte("app=\"web\"\npod-template-hash=\"566975b449\"\nnote=\"a \\\"quoted\\\" value\\n\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"app": "web", "pod-template-hash": "566975b449", "note": "a \"quoted\" value\n"}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"app", "=\"x\"", "app=web"} {
		if _, err := ParseLabels([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v, want an error naming the line", bad, err)
		}
	}
}

// FuzzParseLabels: what parses rebuilds to the same labels; nothing panics.
func FuzzParseLabels(f *testing.F) {
	f.Add([]byte("app=\"web\"\ntier=\"a\\tb\"\n"))
	f.Add([]byte("x=\"\\xff\"\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		labels, err := ParseLabels(b)
		if err != nil {
			return
		}
		var sb strings.Builder
		for k, v := range labels {
			sb.WriteString(k + "=" + strconv.Quote(v) + "\n")
		}
		again, err := ParseLabels([]byte(sb.String()))
		if err != nil || !maps.Equal(again, labels) {
			t.Fatalf("%q parsed as %v; written back, %v, %v", b, labels, again, err)
		}
	})
}
