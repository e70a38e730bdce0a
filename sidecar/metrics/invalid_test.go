package metrics

import (
	"fmt"
	"slices"
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
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		if f.GetName() != "loglet_invalid_utf8_records_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got = append(got, fmt.Sprintf("%s %s %s %v", labels["input"], labels["source_id"], labels["path"], s.GetCounter().GetValue()))
		}
	}
	slices.Sort(got)
	want := []string{"app s1 /var/log/gbk.log 3", "app s3 /var/log/\ufffd.log 1"}
	if !slices.Equal(got, want) {
		t.Errorf("series %q, want %q (none for a source without invalid text)", got, want)
	}
}
