package metrics

import (
	"github.com/loglet/loglet/internal/promtext"
	"github.com/loglet/loglet/sidecar/process"
)

// ServeProcessors registers the counters of the processor chains, read
// from the chains at scrape time: the records' path touches no metrics
// code.
func (m *Agent) ServeProcessors(chains []*process.Chain) {
	m.Registry.MustRegister(
		promtext.NewFunc(promtext.Desc{Name: "loglet_records_dropped_total", Type: promtext.TypeCounter, Labels: []string{"input", "processor", "reason"},
			Help: "Records a processor dropped (drop, keep, limit), by input, processor and reason (match, no-match, severity, rate)."},
			func(emit promtext.Emit) {
				for _, chain := range chains {
					dropped, _ := chain.Counts()
					for _, d := range dropped {
						emit(float64(d.Records), d.Input, d.Processor, d.Reason)
					}
				}
			}),
		promtext.NewFunc(promtext.Desc{Name: "loglet_redactions_total", Type: promtext.TypeCounter, Labels: []string{"input", "rule"},
			Help: "Secrets redact replaced, by input and rule (a built-in rule's name, or the pattern)."},
			func(emit promtext.Emit) {
				for _, chain := range chains {
					_, redacted := chain.Counts()
					for _, r := range redacted {
						emit(float64(r.Count), r.Input, r.Rule)
					}
				}
			}))
}
