package layout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/loglet/loglet/sidecar/record"
)

// NumSeverities is the number of places in Tally.Counts.
const NumSeverities = 7

// Tally is what HeaderSeverities and HeaderTimes say of a message's
// records: how many there are of each severity, and between which times
// they lie. A reader that counts records by time and severity needs
// nothing else of a message whose records all fall in one of its buckets.
type Tally struct {
	// Counts[i] is how many records have the i-th severity of
	// HeaderSeverities: FATAL, ERROR, WARN, INFO, DEBUG, TRACE, none.
	Counts [NumSeverities]int64
	// Timed says First and Last are known: every record has a time.
	Timed bool
	// First and Last are the earliest and the latest of the records'
	// times: not those of the first and the last record, since event
	// times parsed from the lines may go back.
	First, Last time.Time
}

// Total is how many records the tally counts.
func (t Tally) Total() int64 {
	var n int64
	for _, c := range t.Counts {
		n += c
	}
	return n
}

// SeverityPlace is the place of a severity in Tally.Counts.
func SeverityPlace(s record.Severity) int {
	switch s {
	case record.SeverityFatal:
		return 0
	case record.SeverityError:
		return 1
	case record.SeverityWarn:
		return 2
	case record.SeverityInfo:
		return 3
	case record.SeverityDebug:
		return 4
	case record.SeverityTrace:
		return 5
	}
	return 6
}

// TallyOf counts records [from, to) of p, by the severity and the time
// they have in p.AppendNDJSON's output: the event time, or when the
// record was observed (its span's time) if it has none.
func TallyOf(p *record.Package, from, to int) Tally {
	t := Tally{Timed: from < to}
	// Times as Unix nanoseconds, as event times are kept: this runs for
	// every record the agent ships.
	var (
		lo, hi   int64
		span     = -1
		observed int64
	)
	for i := from; i < to; i++ {
		e := p.Records[i]
		t.Counts[SeverityPlace(e.Severity)]++
		if !t.Timed {
			continue
		}
		at := e.Time
		if at == 0 {
			if span+1 < len(p.Spans) && p.Spans[span+1].First <= i {
				for span+1 < len(p.Spans) && p.Spans[span+1].First <= i {
					span++
				}
				st := p.Spans[span].Time
				if y := st.Year(); y < 1678 || y > 2261 {
					// Beyond what nanoseconds since 1970 hold: a clock
					// gone wrong; a reader must look at the records.
					t.Timed = false
					continue
				}
				observed = st.UnixNano()
			}
			if span < 0 {
				// No time at all: a reader must look at the records.
				t.Timed = false
				continue
			}
			at = observed
		}
		if i == from || at < lo {
			lo = at
		}
		if i == from || at > hi {
			hi = at
		}
	}
	if t.Timed {
		t.First, t.Last = time.Unix(0, lo).UTC(), time.Unix(0, hi).UTC()
	}
	return t
}

// SetHeader writes the tally into a message's headers.
func (t Tally) SetHeader(h nats.Header) {
	h.Set(HeaderSeverities, FormatSeverities(t.Counts))
	if t.Timed {
		h.Set(HeaderTimes, FormatTimes(t.First, t.Last))
	} else {
		h.Del(HeaderTimes)
	}
}

// ErrNoTally says a message has no HeaderSeverities: it was written by an
// agent older than the header, or by another producer. Its body tells.
var ErrNoTally = errors.New("the message has no " + HeaderSeverities + " header")

// TallyFrom reads the tally of a message from its headers: ErrNoTally
// without HeaderSeverities, a Tally that is not Timed without HeaderTimes.
func TallyFrom(h nats.Header) (Tally, error) {
	var t Tally
	sev := h.Get(HeaderSeverities)
	if sev == "" {
		return t, ErrNoTally
	}
	var err error
	if t.Counts, err = ParseSeverities(sev); err != nil {
		return Tally{}, err
	}
	if times := h.Get(HeaderTimes); times != "" {
		if t.First, t.Last, err = ParseTimes(times); err != nil {
			return Tally{}, err
		}
		t.Timed = true
	}
	return t, nil
}

// FormatSeverities is the value of HeaderSeverities.
func FormatSeverities(counts [NumSeverities]int64) string {
	b := make([]byte, 0, 4*NumSeverities)
	for i, c := range counts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, c, 10)
	}
	return string(b)
}

// ParseSeverities reads a HeaderSeverities value.
func ParseSeverities(s string) ([NumSeverities]int64, error) {
	var counts [NumSeverities]int64
	fields := strings.Split(s, ",")
	if len(fields) != NumSeverities {
		return counts, fmt.Errorf("%s %.80q: %d numbers, want %d (records of FATAL, ERROR, WARN, INFO, DEBUG, TRACE and none, comma separated)",
			HeaderSeverities, s, len(fields), NumSeverities)
	}
	for i, f := range fields {
		// ParseUint takes no sign, so "+1" and "-1" are refused; 63 bits
		// keep the count an int64.
		n, err := strconv.ParseUint(f, 10, 63)
		if err != nil {
			return counts, fmt.Errorf("%s %.80q: count %d is %.20q, want a number of records (0 or more)", HeaderSeverities, s, i+1, f)
		}
		counts[i] = int64(n)
	}
	return counts, nil
}

// FormatTimes is the value of HeaderTimes: first and last at nanosecond
// precision in UTC, in the fixed width records use.
func FormatTimes(first, last time.Time) string {
	b := make([]byte, 0, 2*len(record.TimeLayout)+1)
	b = first.UTC().AppendFormat(b, record.TimeLayout)
	b = append(b, '/')
	b = last.UTC().AppendFormat(b, record.TimeLayout)
	return string(b)
}

// ParseTimes reads a HeaderTimes value: two RFC 3339 times, the first not
// after the second, "/" between.
func ParseTimes(s string) (first, last time.Time, err error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return first, last, fmt.Errorf("%s %.80q: want FIRST/LAST, two RFC 3339 times", HeaderTimes, s)
	}
	if first, err = time.Parse(time.RFC3339Nano, a); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("%s %.80q: the first time: %w", HeaderTimes, s, err)
	}
	if last, err = time.Parse(time.RFC3339Nano, b); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("%s %.80q: the last time: %w", HeaderTimes, s, err)
	}
	first, last = first.UTC(), last.UTC()
	if first.Year() < 0 || last.Year() > 9999 {
		return time.Time{}, time.Time{}, fmt.Errorf("%s %.80q: a time outside the years 0 to 9999 in UTC", HeaderTimes, s)
	}
	if last.Before(first) {
		return time.Time{}, time.Time{}, fmt.Errorf("%s %.80q: the last time is before the first", HeaderTimes, s)
	}
	return first, last, nil
}
