package metrics

import (
	"github.com/loglet/loglet/internal/promtext"
	"github.com/loglet/loglet/sidecar/receive"
)

// PushInput is what an input that listens counts, for the metrics.
type PushInput struct {
	Input, Protocol string
	Stats           *receive.Stats
	// Held is how many bytes its inbox holds.
	Held func() int64
}

// ServePush registers the counters of the inputs that listen.
func (m *Agent) ServePush(inputs []PushInput) {
	family := func(name, help string, typ promtext.Type, pick func(PushInput) (int64, bool)) *promtext.Func {
		return promtext.NewFunc(promtext.Desc{Name: name, Help: help, Type: typ, Labels: []string{"input", "protocol"}}, func(emit promtext.Emit) {
			for _, in := range inputs {
				if v, ok := pick(in); ok {
					emit(float64(v), in.Input, in.Protocol)
				}
			}
		})
	}
	stat := func(f func(*receive.Stats) int64) func(PushInput) (int64, bool) {
		return func(in PushInput) (int64, bool) { return f(in.Stats), true }
	}
	m.Registry.MustRegister(
		family("loglet_push_records_total", "Records senders pushed that the input's inbox took (synced to disk before the sender was answered).",
			promtext.TypeCounter, stat(func(s *receive.Stats) int64 { return s.Records.Load() })),
		family("loglet_push_bytes_total", "Bytes of body senders pushed that the input's inbox took.",
			promtext.TypeCounter, stat(func(s *receive.Stats) int64 { return s.Bytes.Load() })),
		family("loglet_push_refused_total", "Pushes turned away because the inbox was full (HTTP 429, a lumberjack window not yet acknowledged, a syslog connection not read): the hub is behind.",
			promtext.TypeCounter, stat(func(s *receive.Stats) int64 { return s.Refused.Load() })),
		family("loglet_push_rejected_total", "Pushes refused as not valid (malformed, too large, wrong content type, unauthorised), and connections cut for a protocol error.",
			promtext.TypeCounter, stat(func(s *receive.Stats) int64 { return s.Rejected.Load() })),
		family("loglet_push_dropped_total", "Records lost without the sender knowing: syslog datagrams that came while the inbox was full.",
			promtext.TypeCounter, stat(func(s *receive.Stats) int64 { return s.Dropped.Load() })),
		family("loglet_push_connections", "Connections open now.",
			promtext.TypeGauge, stat(func(s *receive.Stats) int64 { return s.Conns.Load() })),
		family("loglet_inbox_bytes", "Bytes the input's inbox holds that the hub has not acknowledged yet.",
			promtext.TypeGauge, func(in PushInput) (int64, bool) {
				if in.Held == nil {
					return 0, false
				}
				return in.Held(), true
			}))
}
