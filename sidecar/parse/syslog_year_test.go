package parse

import (
	"testing"
	"time"
	_ "time/tzdata" // America/New_York without the system's zone files
)

// TestSyslogYearless: an RFC 3164 stamp has no year and no zone; it is read
// in the agent's zone and given the year nearest the read time, not more
// than a day after it. The stage reads the same lines with the read times
// and zones below, as the reader's spans give them.
func TestSyslogYearless(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	plus14 := time.FixedZone("UTC+14", 14*3600)
	tests := []struct {
		name  string
		loc   *time.Location
		read  string // RFC 3339
		line  string
		want  string // RFC 3339 in UTC, "" for a line that does not parse
		wantN int    // attributes
	}{
		{"same day", time.UTC, "2026-12-01T10:00:05Z", "Dec  1 10:00:01 h a: m", "2026-12-01T10:00:01Z", 2},
		{"earlier this year", time.UTC, "2026-12-01T10:00:05Z", "Oct 11 22:14:15 h a: m", "2026-10-11T22:14:15Z", 2},
		{"december read in january is last year", time.UTC, "2027-01-01T00:00:02Z", "Dec 31 23:59:59 h a: m", "2026-12-31T23:59:59Z", 2},
		{"a day ahead is still this year", time.UTC, "2026-12-31T00:30:00Z", "Dec 31 23:59:59 h a: m", "2026-12-31T23:59:59Z", 2},
		{"more than a day ahead is last year", time.UTC, "2026-12-01T10:00:00Z", "Dec  2 10:00:01 h a: m", "2025-12-02T10:00:01Z", 2},
		{"january read on new year's eve is next year", time.UTC, "2026-12-31T23:59:00Z", "Jan  1 00:00:30 h a: m", "2027-01-01T00:00:30Z", 2},
		{"feb 29 goes back to a leap year", time.UTC, "2027-03-01T00:00:00Z", "Feb 29 12:00:00 h a: m", "2024-02-29T12:00:00Z", 2},
		{"the agent's zone", ny, "2026-12-01T15:00:05Z", "Dec  1 10:00:01 h a: m", "2026-12-01T15:00:01Z", 2},
		{"the agent's zone in summer", ny, "2026-12-01T15:00:05Z", "Jul  4 12:00:00 h a: m", "2026-07-04T16:00:00Z", 2},
		{"the zone decides the year", plus14, "2026-12-31T10:30:00Z", "Jan  1 00:15:00 h a: m", "2026-12-31T10:15:00Z", 2},
		{"fraction", time.UTC, "2026-12-01T10:00:05Z", "Dec  1 10:00:01.250 h a: m", "2026-12-01T10:00:01.25Z", 2},
		{"unpadded day", time.UTC, "2026-12-01T10:00:05Z", "Dec 1 10:00:01 h a: m", "2026-12-01T10:00:01Z", 2},
		{"no such day", time.UTC, "2026-12-01T10:00:05Z", "Apr 31 10:00:01 h a: m", "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			read, err := time.Parse(time.RFC3339, tc.read)
			if err != nil {
				t.Fatal(err)
			}
			got := yearlessRecord(t, tc.loc, read, tc.line)
			if got.Time != tc.want || got.attrs != tc.wantN {
				t.Errorf("%q read at %s in %s: time %q with %d attributes, want %q with %d", tc.line, tc.read, tc.loc, got.Time, got.attrs, tc.want, tc.wantN)
			}
		})
	}
}

// TestSyslogYearCacheFollowsTheReadTime: the same stamp read a year later
// (a stage runs for as long as its file lives) is placed in the later year,
// though the stage remembers the stamp.
func TestSyslogYearCacheFollowsTheReadTime(t *testing.T) {
	spec, err := Compile(Config{Format: "syslog", MaxLineBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	st := spec.NewStage()
	st.parser.(*syslogParser).loc = time.UTC
	for _, step := range []struct{ read, want string }{
		{"2026-03-01T00:00:00Z", "2026-02-10T08:00:00Z"},
		{"2026-03-02T00:00:00Z", "2026-02-10T08:00:00Z"},
		{"2027-02-09T07:00:00Z", "2026-02-10T08:00:00Z"},
		{"2027-02-09T08:00:00Z", "2027-02-10T08:00:00Z"}, // a day before: this year's
		{"2028-06-01T00:00:00Z", "2028-02-10T08:00:00Z"},
		{"2027-06-01T00:00:00Z", "2027-02-10T08:00:00Z"}, // a clock set back
	} {
		read, _ := time.Parse(time.RFC3339, step.read)
		p := rawPackage([]byte("Feb 10 08:00:00 host app: m\n"))
		p.Spans[0].Time = read
		st.Process(p, true)
		if got := time.Unix(0, p.Records[0].Time).UTC().Format(time.RFC3339Nano); got != step.want {
			t.Errorf("read at %s: %s, want %s", step.read, got, step.want)
		}
	}
}

type yearlessResult struct {
	Time  string
	attrs int
}

func yearlessRecord(t *testing.T, loc *time.Location, read time.Time, line string) yearlessResult {
	t.Helper()
	spec, err := Compile(Config{Format: "syslog", MaxLineBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	st := spec.NewStage()
	st.parser.(*syslogParser).loc = loc
	p := rawPackage([]byte(line + "\n"))
	p.Spans[0].Time = read
	st.Process(p, true)
	if len(p.Records) != 1 {
		t.Fatalf("%d records, want 1", len(p.Records))
	}
	var r yearlessResult
	if e := p.Records[0]; e.Time != 0 {
		r.Time = time.Unix(0, e.Time).UTC().Format(time.RFC3339Nano)
	}
	r.attrs = len(p.Attributes(0))
	return r
}
