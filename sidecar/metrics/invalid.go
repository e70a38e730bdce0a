package metrics

import "github.com/loglet/loglet/internal/promtext"

// SourceInvalid is how many records of one source had text that was not
// valid UTF-8 (or not valid in the source's encoding): each was marked in
// loglet.parse_error and its bytes replaced by U+FFFD (and kept in
// loglet.raw_body under invalid-utf8: keep).
type SourceInvalid struct {
	Input, SourceID, Path string
	Records               int64
}

// ServeInvalidText registers loglet_invalid_utf8_records_total, computed
// from counts at scrape time (the sources count; the records' path
// touches no metrics code). counts returns the sources with at least one
// such record.
func (m *Agent) ServeInvalidText(counts func() []SourceInvalid) {
	m.Registry.MustRegister(promtext.NewFunc(promtext.Desc{Name: "loglet_invalid_utf8_records_total", Type: promtext.TypeCounter,
		Labels: []string{"input", "source_id", "path"},
		Help:   "Records whose text was not valid UTF-8 (or not valid in the input's encoding), by source; only sources that had one have a series. The agent logs each source's first with a hint at its encoding."},
		func(emit promtext.Emit) {
			for _, s := range counts() {
				if s.Records > 0 {
					emit(float64(s.Records), s.Input, s.SourceID, s.Path)
				}
			}
		}))
}
