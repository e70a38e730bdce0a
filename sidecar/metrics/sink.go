package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// SinkUp is loglet_sink_up: 1 while the hub acknowledges, 0 from a failed
// delivery attempt until the next acknowledged one. It starts at 1: an
// agent that has not tried yet has no failure to report, and a 0 before
// the first package would page someone for a pod that logs nothing.
//
// It is a signal for alerts and dashboards, not for readiness: /readyz
// (Serve's ready func) does not look at it, because a sidecar turning
// unready takes its whole pod out of its Services over a problem of the
// hub's, which the agent already rides out (reading waits, nothing is
// lost).
//
// The pipeline registers it when delivery starts; registering it earlier
// too (pipeline.New) would serve it from the first scrape: the later
// registration then finds it and leaves it as it is.
type SinkUp struct {
	gauge prometheus.Gauge
}

// RegisterSinkUp registers loglet_sink_up in reg, set to 1. Registering
// it again in the same registry (a second Run of one agent) returns the
// gauge already there, unchanged.
func RegisterSinkUp(reg prometheus.Registerer) (*SinkUp, error) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "loglet_sink_up",
		Help: "1 while the hub acknowledges deliveries; 0 from a failed attempt until the next acknowledged one (see loglet_send_errors_total and the agent's log for the cause).",
	})
	if err := reg.Register(g); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			if old, ok := dup.ExistingCollector.(prometheus.Gauge); ok {
				return &SinkUp{gauge: old}, nil
			}
		}
		return nil, fmt.Errorf("register loglet_sink_up: %w", err)
	}
	g.Set(1)
	return &SinkUp{gauge: g}, nil
}

// Up records an acknowledged delivery. A nil SinkUp (one that could not
// be registered) does nothing: delivery must not stop over a metric.
func (s *SinkUp) Up() {
	if s != nil {
		s.gauge.Set(1)
	}
}

// Down records a failed delivery attempt.
func (s *SinkUp) Down() {
	if s != nil {
		s.gauge.Set(0)
	}
}
