package webhook

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loglet/loglet/sidecar/metrics"
)

// BuildInfo is loglet_build_info{version, goversion} = 1, which tells
// dashboards the version each webhook replica runs, named and labelled as
// the agent's (metrics.RegisterBuildInfo). `loglet webhook` registers it
// where the webhook's metrics are served from: controller-runtime's
// registry.
func BuildInfo(version string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: metrics.BuildInfoName, Help: metrics.BuildInfoHelp,
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}})
	g.Set(1)
	return g
}
