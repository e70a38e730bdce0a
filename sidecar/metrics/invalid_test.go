package metrics

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestServeInvalidText(t *testing.T) {
	m := NewAgent(func() Reading { return Reading{} })
	m.ServeInvalidText(func() []SourceInvalid {
		return []SourceInvalid{
			{Input: "app", SourceID: "s1", Path: "/var/log/gbk.log", Records: 3},
			{Input: "app", SourceID: "s2", Path: "/var/log/ok.log"},
			{Input: "app", SourceID: "s3", Path: "/var/log/\xff.log", Records: 1},
		}
	})
	var got []string
	for _, f := range m.Registry.Gather() {
		if f.Name != "loglet_invalid_utf8_records_total" {
			continue
		}
		for _, s := range f.Samples {
			got = append(got, fmt.Sprintf("%s %v", strings.Join(s.LabelValues, " "), s.Value))
		}
	}
	slices.Sort(got)
	want := []string{"app s1 /var/log/gbk.log 3", "app s3 /var/log/\ufffd.log 1"}
	if !slices.Equal(got, want) {
		t.Errorf("series %q, want %q (none for a source without invalid text)", got, want)
	}
}
