package console

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/hub/query"
)

// Severities are the stacks of the volume chart, highest first; NONE is
// records without a severity. They are in the order of the places of
// layout.Tally.Counts, so a tally adds to a bucket as it is.
var Severities = [numSeverities]string{"FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "NONE"}

const numSeverities = 7

// VolumeAnswer is what /api/v1/volume answers.
type VolumeAnswer struct {
	// Since and Until are the range (RFC 3339), Step a bucket's length in
	// seconds; bucket i starts at Since + i*Step.
	Since      string                `json:"since"`
	Until      string                `json:"until"`
	Step       float64               `json:"step"`
	Severities [numSeverities]string `json:"severities"`
	// Counts[i][j] is how many records of bucket i have severity
	// Severities[j].
	Counts [][numSeverities]int64 `json:"counts"`
	Total  int64                  `json:"total"`
	// Partial says the count stopped at its budget: later buckets may be
	// short (the count reads oldest first).
	Partial      bool   `json:"partial"`
	Reason       string `json:"reason,omitempty"`
	ScannedBytes int64  `json:"scanned_bytes"`
}

// steps are the bucket lengths the chart uses: round ones, so ticks fall
// on round times.
var steps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// Step is the smallest round bucket length that cuts span into at most n
// buckets.
func Step(span time.Duration, n int) time.Duration {
	for _, s := range steps {
		if span/s < time.Duration(n) {
			return s
		}
	}
	return (span/time.Duration(n) + 24*time.Hour - 1).Truncate(24 * time.Hour)
}

// severityIndex is a record's stack in Severities.
func severityIndex(s string) int {
	switch query.ParseSeverity(s) {
	case query.SeverityFatal:
		return 0
	case query.SeverityError:
		return 1
	case query.SeverityWarn:
		return 2
	case query.SeverityInfo:
		return 3
	case query.SeverityDebug:
		return 4
	case query.SeverityTrace:
		return 5
	}
	return 6
}

func (s *Server) volume(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	f, o, err := s.parse(v)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if o.Last > 0 {
		writeError(w, http.StatusBadRequest, errors.New("tail: the volume counts a time range (since, until), not the last records"))
		return
	}
	n, err := intParam(v, "buckets", 60, 1, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	now := s.o.Now()
	if f.Since.IsZero() {
		f.Since = now.Add(-time.Hour) // a chart needs a range: the last hour unless told
	}
	if f.Until.IsZero() {
		f.Until = now
	}
	step := Step(f.Until.Sub(f.Since), n)
	start := f.Since.Truncate(step)
	buckets := int(f.Until.Sub(start)/step) + 1
	ans := VolumeAnswer{
		Since: start.UTC().Format(time.RFC3339Nano), Until: f.Until.UTC().Format(time.RFC3339Nano), Step: step.Seconds(),
		Severities: Severities, Counts: make([][numSeverities]int64, buckets),
	}
	budget, timeout := s.budget(1)
	o.Budget = budget
	ctx, cancel := hubContext(r, timeout)
	defer cancel()
	// A count needs each record's time and severity only. The agent's
	// NATS sink writes them into each message's headers (how many records
	// of each severity, the earliest and latest time), so a message whose
	// records all fall in one bucket is counted from its headers, its body
	// never read; only the bodies of the others (a package across a
	// bucket's edge or the range's, messages of older agents or of Kafka)
	// are read, for their records' time and severity, without decoding
	// them whole. The count is exact either way.
	tally := func(t layout.Tally) bool {
		i := int(t.First.Sub(start) / step)
		if i < 0 || i >= buckets || i != int(t.Last.Sub(start)/step) {
			return false
		}
		for j, n := range t.Counts {
			ans.Counts[i][j] += n
		}
		ans.Total += t.Total()
		return true
	}
	err = query.Count(ctx, s.o.Hub, f, o, tally, func(rec query.Record) error {
		t, err := query.ParseTime(rec.Time)
		if err != nil {
			return nil // the filter's range kept it only if it parses
		}
		i := int(t.Sub(start) / step)
		if i < 0 || i >= buckets {
			return nil
		}
		ans.Counts[i][severityIndex(rec.Severity)]++
		ans.Total++
		return nil
	})
	ans.ScannedBytes = budget.Read()
	if errors.Is(err, query.ErrPartial) {
		ans.Partial, ans.Reason = true, partialReason(budget, s.o.MaxScanBytes)
	} else if err != nil {
		writeError(w, hubStatus(err), fmt.Errorf("volume: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, ans)
}
