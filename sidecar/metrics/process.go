package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loglet/loglet/sidecar/process"
)

var (
	droppedDesc = prometheus.NewDesc("loglet_records_dropped_total",
		"Records a processor dropped (drop, keep, limit), by input, processor and reason (match, no-match, severity, rate).",
		[]string{"input", "processor", "reason"}, nil)
	redactedDesc = prometheus.NewDesc("loglet_redactions_total",
		"Secrets redact replaced, by input and rule (a built-in rule's name, or the pattern).",
		[]string{"input", "rule"}, nil)
)

// ServeProcessors registers the counters of the processor chains, read
// from the chains at scrape time: the records' path touches no Prometheus
// code.
func (m *Agent) ServeProcessors(chains []*process.Chain) {
	m.Registry.MustRegister(processCollector(chains))
}

type processCollector []*process.Chain

func (c processCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- droppedDesc
	ch <- redactedDesc
}

func (c processCollector) Collect(ch chan<- prometheus.Metric) {
	for _, chain := range c {
		dropped, redacted := chain.Counts()
		for _, d := range dropped {
			ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(d.Records), d.Input, d.Processor, d.Reason)
		}
		for _, r := range redacted {
			ch <- prometheus.MustNewConstMetric(redactedDesc, prometheus.CounterValue, float64(r.Count), r.Input, LabelValue(r.Rule))
		}
	}
}
