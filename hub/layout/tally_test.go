package layout_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/sidecar/record"
)

var (
	observed  = time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	observed2 = observed.Add(1500 * time.Millisecond)
)

// entry is one record of a test package: its severity and event time
// (zero: none, the span's time stands in).
type entry struct {
	sev record.Severity
	at  time.Time
}

func testPackage(entries []entry, spans ...record.Span) *record.Package {
	p := &record.Package{Origin: record.NewOrigin("src", "/var/log/app.log", []record.KeyValue{{Key: "k8s.pod.name", Value: "web-1"}}), ID: 7, Spans: spans}
	for i, e := range entries {
		start := len(p.Data)
		p.Data = append(p.Data, strings.Repeat("x", i+1)...)
		var ns int64
		if !e.at.IsZero() {
			ns = e.at.UnixNano()
		}
		p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(len(p.Data)), Severity: e.sev, Time: ns})
	}
	return p
}

// fromRecords is the tally of records [from, to) as a reader of the
// package's NDJSON finds it: what the headers must agree with.
func fromRecords(t *testing.T, p *record.Package, from, to int) layout.Tally {
	t.Helper()
	places := map[string]int{"FATAL": 0, "ERROR": 1, "WARN": 2, "INFO": 3, "DEBUG": 4, "TRACE": 5, "": 6}
	want := layout.Tally{Timed: true}
	sc := bufio.NewScanner(bytes.NewReader(p.AppendNDJSON(nil)))
	for i := 0; sc.Scan(); i++ {
		if i < from || i >= to {
			continue
		}
		var rec struct{ Time, Severity string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		want.Counts[places[rec.Severity]]++
		at, err := time.Parse(time.RFC3339Nano, rec.Time)
		if err != nil {
			want.Timed = false
			continue
		}
		if i == from || at.Before(want.First) {
			want.First = at
		}
		if i == from || at.After(want.Last) {
			want.Last = at
		}
	}
	if !want.Timed || from >= to {
		want.Timed, want.First, want.Last = false, time.Time{}, time.Time{}
	}
	return want
}

// TestTallyOf: the tally of a package (or of a chunk's records) counts
// what its NDJSON holds: the severities, and the earliest and latest of
// the times written (event times, which may go back, or the span's).
func TestTallyOf(t *testing.T) {
	spans := []record.Span{{First: 0, Time: observed}, {First: 3, Time: observed2}}
	ev := func(d time.Duration) time.Time { return observed.Add(d) }
	for _, tc := range []struct {
		name     string
		entries  []entry
		spans    []record.Span
		from, to int
		want     string // HeaderSeverities
		times    string // HeaderTimes; "" none
	}{
		{"raw lines, one span", []entry{{}, {}, {}}, spans[:1], 0, 3, "0,0,0,0,0,0,3",
			"2026-12-01T10:00:00.123456789Z/2026-12-01T10:00:00.123456789Z"},
		{"raw lines, two spans", []entry{{}, {}, {}, {}}, spans, 0, 4, "0,0,0,0,0,0,4",
			"2026-12-01T10:00:00.123456789Z/2026-12-01T10:00:01.623456789Z"},
		{"every severity", []entry{{sev: record.SeverityFatal}, {sev: record.SeverityError}, {sev: record.SeverityError}, {sev: record.SeverityWarn},
			{sev: record.SeverityInfo}, {sev: record.SeverityDebug}, {sev: record.SeverityTrace}, {}}, spans[:1], 0, 8, "1,2,1,1,1,1,1",
			"2026-12-01T10:00:00.123456789Z/2026-12-01T10:00:00.123456789Z"},
		{"event times going back", []entry{{record.SeverityInfo, ev(time.Hour)}, {record.SeverityInfo, ev(-time.Hour)}, {record.SeverityError, ev(time.Minute)}}, spans[:1], 0, 3,
			"0,1,0,2,0,0,0", "2026-12-01T09:00:00.123456789Z/2026-12-01T11:00:00.123456789Z"},
		{"event and observed times", []entry{{record.SeverityWarn, ev(-time.Second)}, {}, {}, {}}, spans, 0, 4,
			"0,0,1,0,0,0,3", "2026-12-01T09:59:59.123456789Z/2026-12-01T10:00:01.623456789Z"},
		{"a chunk in the second span", []entry{{}, {}, {}, {sev: record.SeverityDebug}, {}}, spans, 3, 5,
			"0,0,0,0,1,0,1", "2026-12-01T10:00:01.623456789Z/2026-12-01T10:00:01.623456789Z"},
		{"a chunk of the first span", []entry{{}, {sev: record.SeverityTrace}, {}, {}, {}}, spans, 1, 3,
			"0,0,0,0,0,1,1", "2026-12-01T10:00:00.123456789Z/2026-12-01T10:00:00.123456789Z"},
		{"no records", nil, spans, 0, 0, "0,0,0,0,0,0,0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPackage(tc.entries, tc.spans...)
			got := layout.TallyOf(p, tc.from, tc.to)
			if want := fromRecords(t, p, tc.from, tc.to); got != want {
				t.Errorf("tally %+v, the records say %+v", got, want)
			}
			h := nats.Header{}
			got.SetHeader(h)
			if h.Get(layout.HeaderSeverities) != tc.want || h.Get(layout.HeaderTimes) != tc.times {
				t.Errorf("headers %q %q, want %q %q", h.Get(layout.HeaderSeverities), h.Get(layout.HeaderTimes), tc.want, tc.times)
			}
			back, err := layout.TallyFrom(h)
			if err != nil || back != got {
				t.Errorf("read back: %+v, %v; want %+v", back, err, got)
			}
		})
	}
}

// TestTallyFrom: a message without the headers says so (its body tells);
// a damaged header is an error naming it and what it should hold.
func TestTallyFrom(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sev, times string
		want       string // error; "" none
		timed      bool
	}{
		{"an older agent's", "", "", layout.ErrNoTally.Error(), false},
		{"no times", "1,2,3,4,5,6,7", "", "", false},
		{"whole", "0,0,0,12,0,0,0", "2026-12-01T10:00:00Z/2026-12-01T10:00:01.5Z", "", true},
		{"another offset", "0,0,0,12,0,0,0", "2026-12-01T11:00:00+01:00/2026-12-01T10:00:01.5Z", "", true},
		{"too few", "1,2,3", "", "Loglet-Severities \"1,2,3\": 3 numbers, want 7", false},
		{"too many", "1,2,3,4,5,6,7,8", "", "8 numbers, want 7", false},
		{"negative", "1,2,3,-4,5,6,7", "", "count 4 is \"-4\", want a number of records", false},
		{"a sign", "+1,2,3,4,5,6,7", "", "count 1 is \"+1\"", false},
		{"not a number", "1,2,3,4,5,6,x", "", "count 7 is \"x\"", false},
		{"spaces", "1, 2,3,4,5,6,7", "", "count 2 is \" 2\"", false},
		{"too large", "1,2,3,4,5,6,9223372036854775808", "", "count 7", false},
		{"one time", "1,2,3,4,5,6,7", "2026-12-01T10:00:00Z", "Loglet-Times \"2026-12-01T10:00:00Z\": want FIRST/LAST", false},
		{"a bad time", "1,2,3,4,5,6,7", "2026-12-01T10:00:00Z/yesterday", "the last time", false},
		{"backwards", "1,2,3,4,5,6,7", "2026-12-01T10:00:01Z/2026-12-01T10:00:00Z", "the last time is before the first", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := nats.Header{}
			if tc.sev != "" {
				h.Set(layout.HeaderSeverities, tc.sev)
			}
			if tc.times != "" {
				h.Set(layout.HeaderTimes, tc.times)
			}
			got, err := layout.TallyFrom(h)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%+v, %v; want an error saying %q", got, err, tc.want)
				}
				return
			}
			if err != nil || got.Timed != tc.timed || (got.Timed && (got.First.Location() != time.UTC || got.Last.Before(got.First))) {
				t.Fatalf("%+v, %v; want timed %v, in UTC", got, err, tc.timed)
			}
		})
	}
}

// FuzzParseTally: no header value makes the parsers panic, and whatever
// they accept reads back the same once written again.
func FuzzParseTally(f *testing.F) {
	for _, s := range [][2]string{
		{"0,2,5,100,0,0,3", "2026-12-01T10:00:00.000000000Z/2026-12-01T10:00:00.999000000Z"},
		{"1,2,3", "2026-12-01T10:00:00Z"},
		{"9223372036854775807,0,0,0,0,0,0", "2026-12-01T11:00:00+01:00/2026-12-01T10:00:00Z"},
		{",,,,,,", "/"},
		{"-1,+1,0x1,1e3,1,1,1", "0000-01-01T00:00:00Z/9999-12-31T23:59:59.999999999Z"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, sev, times string) {
		if counts, err := layout.ParseSeverities(sev); err == nil {
			for _, c := range counts {
				if c < 0 {
					t.Fatalf("%q: a negative count %d", sev, c)
				}
			}
			if again, err := layout.ParseSeverities(layout.FormatSeverities(counts)); err != nil || again != counts {
				t.Fatalf("%q: %v reads back as %v, %v", sev, counts, again, err)
			}
		}
		if first, last, err := layout.ParseTimes(times); err == nil {
			if last.Before(first) {
				t.Fatalf("%q: last %v before first %v", times, last, first)
			}
			f2, l2, err := layout.ParseTimes(layout.FormatTimes(first, last))
			if err != nil || !f2.Equal(first) || !l2.Equal(last) {
				t.Fatalf("%q: %v/%v reads back as %v/%v, %v", times, first, last, f2, l2, err)
			}
		}
	})
}
