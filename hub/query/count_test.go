package query

import (
	"regexp"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/loglet/loglet/hub/layout"
)

// TestCountable: a message's headers count its records only when they say
// all the filter asks: every record inside the range (or every one
// outside it), a subject the server already filtered by, a tally that
// parses; the severities below the filter's are left out.
func TestCountable(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	const sub = "loglet.default.shop.web-1.app.src" // this layout
	header := func(sev, times string) nats.Header {
		h := nats.Header{}
		if sev != "" {
			h.Set(layout.HeaderSeverities, sev)
		}
		if times != "" {
			h.Set(layout.HeaderTimes, times)
		}
		return h
	}
	minute := layout.FormatTimes(at, at.Add(time.Minute))
	for _, tc := range []struct {
		name    string
		subject string
		h       nats.Header
		f       Filter
		ok      bool
		want    [layout.NumSeverities]int64
	}{
		{"no filter", sub, header("1,2,3,4,5,6,7", minute), Filter{}, true, [7]int64{1, 2, 3, 4, 5, 6, 7}},
		{"inside the range", sub, header("1,2,3,4,5,6,7", minute), Filter{Since: at, Until: at.Add(time.Minute)}, true, [7]int64{1, 2, 3, 4, 5, 6, 7}},
		{"before the range", sub, header("1,2,3,4,5,6,7", minute), Filter{Since: at.Add(time.Hour)}, true, [7]int64{}},
		{"after the range", sub, header("1,2,3,4,5,6,7", minute), Filter{Until: at.Add(-time.Nanosecond)}, true, [7]int64{}},
		{"across Since", sub, header("1,2,3,4,5,6,7", minute), Filter{Since: at.Add(time.Second)}, false, [7]int64{}},
		{"across Until", sub, header("1,2,3,4,5,6,7", minute), Filter{Until: at.Add(time.Second)}, false, [7]int64{}},
		{"WARN and above", sub, header("1,2,3,4,5,6,7", minute), Filter{MinSeverity: SeverityWarn}, true, [7]int64{1, 2, 3, 0, 0, 0, 0}},
		{"TRACE and above", sub, header("1,2,3,4,5,6,7", minute), Filter{MinSeverity: SeverityTrace}, true, [7]int64{1, 2, 3, 4, 5, 6, 0}},
		{"a namespace, this layout", sub, header("1,2,3,4,5,6,7", minute), Filter{Namespace: "shop"}, true, [7]int64{1, 2, 3, 4, 5, 6, 7}},
		{"a namespace, the layout before", "loglet.default.src", header("1,2,3,4,5,6,7", minute), Filter{Namespace: "shop"}, false, [7]int64{}},
		{"a condition", sub, header("1,2,3,4,5,6,7", minute), Filter{Where: []Cond{{Key: "k", Value: "v"}}}, false, [7]int64{}},
		{"a grep", sub, header("1,2,3,4,5,6,7", minute), Filter{Grep: regexp.MustCompile("x")}, false, [7]int64{}},
		{"no times", sub, header("1,2,3,4,5,6,7", ""), Filter{}, false, [7]int64{}},
		{"an older agent", sub, header("", ""), Filter{}, false, [7]int64{}},
		{"a damaged tally", sub, header("1,2,3", minute), Filter{}, false, [7]int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			f.TimeAndSeverity = true
			got, ok := countable(tc.subject, tc.h, &f)
			if ok != tc.ok || (ok && got.Counts != tc.want) {
				t.Errorf("ok %v counts %v; want ok %v counts %v", ok, got.Counts, tc.ok, tc.want)
			}
		})
	}
}
