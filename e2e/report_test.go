package e2e

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"
)

// The report printed after the run: per scenario, the lines written,
// delivered and stored more than once, and the p99 delivery latency (from
// the line's time to the hub storing it).
var report struct {
	sync.Mutex
	rows []reportRow
}

type reportRow struct {
	scenario                 string
	written, delivered, dups int
	p50, p99                 time.Duration
	// note stands for the figures of a scenario that ships no lines.
	note string
}

// addNote adds a row that says what a scenario without lines showed.
func addNote(t *testing.T, scenario, note string) {
	t.Logf("%s: %s", scenario, note)
	report.Lock()
	report.rows = append(report.rows, reportRow{scenario: scenario, note: note})
	report.Unlock()
}

// addReport counts written lines at the hub and adds the scenario's row.
func (s *serverless) addReport(t *testing.T, scenario string, written []string) {
	t.Helper()
	recs, counts := s.stored(t)
	row := reportRow{scenario: scenario, written: len(written)}
	var lat []time.Duration
	for _, body := range written {
		r, ok := recs[body]
		if !ok {
			continue
		}
		row.delivered++
		row.dups += counts[body] - 1
		if at, err := time.Parse(time.RFC3339Nano, r.Time); err == nil && !r.Stored.IsZero() {
			lat = append(lat, r.Stored.Sub(at))
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		row.p50, row.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	t.Logf("%s: %d written, %d delivered, %d stored twice, latency p50 %v p99 %v", scenario, row.written, row.delivered, row.dups, row.p50, row.p99)
	report.Lock()
	report.rows = append(report.rows, row)
	report.Unlock()
}

func printReport(w io.Writer) {
	report.Lock()
	defer report.Unlock()
	if len(report.rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\ne2e report\n%-44s %8s %10s %8s %10s %10s\n", "scenario", "written", "delivered", "twice", "p50", "p99")
	for _, r := range report.rows {
		if r.note != "" {
			fmt.Fprintf(w, "%-44s %s\n", r.scenario, r.note)
			continue
		}
		fmt.Fprintf(w, "%-44s %8d %10d %8d %10v %10v\n", r.scenario, r.written, r.delivered, r.dups,
			r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond))
	}
}
