package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loglet/loglet/sidecar/receive"
)

// PushInput is what an input that listens counts, for the metrics.
type PushInput struct {
	Input, Protocol string
	Stats           *receive.Stats
	// Held is how many bytes its inbox holds.
	Held func() int64
}

var (
	pushLabels       = []string{"input", "protocol"}
	pushRecordsDesc  = prometheus.NewDesc("loglet_push_records_total", "Records senders pushed that the input's inbox took (synced to disk before the sender was answered).", pushLabels, nil)
	pushBytesDesc    = prometheus.NewDesc("loglet_push_bytes_total", "Bytes of body senders pushed that the input's inbox took.", pushLabels, nil)
	pushRefusedDesc  = prometheus.NewDesc("loglet_push_refused_total", "Pushes turned away because the inbox was full (HTTP 429, a lumberjack window not yet acknowledged, a syslog connection not read): the hub is behind.", pushLabels, nil)
	pushRejectedDesc = prometheus.NewDesc("loglet_push_rejected_total", "Pushes refused as not valid (malformed, too large, wrong content type, unauthorised), and connections cut for a protocol error.", pushLabels, nil)
	pushDroppedDesc  = prometheus.NewDesc("loglet_push_dropped_total", "Records lost without the sender knowing: syslog datagrams that came while the inbox was full.", pushLabels, nil)
	pushConnsDesc    = prometheus.NewDesc("loglet_push_connections", "Connections open now.", pushLabels, nil)
	inboxBytesDesc   = prometheus.NewDesc("loglet_inbox_bytes", "Bytes the input's inbox holds that the hub has not acknowledged yet.", pushLabels, nil)
)

// ServePush registers the counters of the inputs that listen.
func (m *Agent) ServePush(inputs []PushInput) {
	m.Registry.MustRegister(pushCollector(inputs))
}

type pushCollector []PushInput

func (c pushCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pushRecordsDesc, pushBytesDesc, pushRefusedDesc, pushRejectedDesc, pushDroppedDesc, pushConnsDesc, inboxBytesDesc} {
		ch <- d
	}
}

func (c pushCollector) Collect(ch chan<- prometheus.Metric) {
	for _, in := range c {
		s, l := in.Stats, []string{in.Input, in.Protocol}
		ch <- prometheus.MustNewConstMetric(pushRecordsDesc, prometheus.CounterValue, float64(s.Records.Load()), l...)
		ch <- prometheus.MustNewConstMetric(pushBytesDesc, prometheus.CounterValue, float64(s.Bytes.Load()), l...)
		ch <- prometheus.MustNewConstMetric(pushRefusedDesc, prometheus.CounterValue, float64(s.Refused.Load()), l...)
		ch <- prometheus.MustNewConstMetric(pushRejectedDesc, prometheus.CounterValue, float64(s.Rejected.Load()), l...)
		ch <- prometheus.MustNewConstMetric(pushDroppedDesc, prometheus.CounterValue, float64(s.Dropped.Load()), l...)
		ch <- prometheus.MustNewConstMetric(pushConnsDesc, prometheus.GaugeValue, float64(s.Conns.Load()), l...)
		if in.Held != nil {
			ch <- prometheus.MustNewConstMetric(inboxBytesDesc, prometheus.GaugeValue, float64(in.Held()), l...)
		}
	}
}
