package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// SourceInvalid is how many records of one source had text that was not
// valid UTF-8 (or not valid in the source's encoding): each was marked in
// loglet.parse_error and its bytes replaced by U+FFFD (and kept in
// loglet.raw_body under invalid-utf8: keep).
type SourceInvalid struct {
	Input, SourceID, Path string
	Records               int64
}

var invalidDesc = prometheus.NewDesc("loglet_invalid_utf8_records_total",
	"Records whose text was not valid UTF-8 (or not valid in the input's encoding), by source; only sources that had one have a series. The agent logs each source's first with a hint at its encoding.",
	[]string{"input", "source_id", "path"}, nil)

// ServeInvalidText registers loglet_invalid_utf8_records_total, computed
// from counts at scrape time (the sources count; the records' path
// touches no Prometheus code). counts returns the sources with at least
// one such record.
func (m *Agent) ServeInvalidText(counts func() []SourceInvalid) {
	m.Registry.MustRegister(invalidCollector(counts))
}

type invalidCollector func() []SourceInvalid

func (c invalidCollector) Describe(ch chan<- *prometheus.Desc) { ch <- invalidDesc }

func (c invalidCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c() {
		if s.Records == 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(invalidDesc, prometheus.CounterValue, float64(s.Records),
			LabelValue(s.Input), LabelValue(s.SourceID), LabelValue(s.Path))
	}
}
