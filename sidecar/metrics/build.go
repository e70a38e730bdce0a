package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterBuildInfo adds loglet_build_info{version, goversion} = 1 to reg,
// so dashboards can tell which version each agent and webhook runs.
func RegisterBuildInfo(reg prometheus.Registerer, version string) error {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "loglet_build_info", Help: "1, labelled with the running loglet's version and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}})
	g.Set(1)
	return reg.Register(g)
}
