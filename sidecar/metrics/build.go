package metrics

import (
	"runtime"

	"github.com/loglet/loglet/internal/promtext"
)

// BuildInfoName and BuildInfoHelp name the series that tells dashboards
// which version each agent and webhook runs; the webhook registers it with
// client_golang under the same name.
const (
	BuildInfoName = "loglet_build_info"
	BuildInfoHelp = "1, labelled with the running loglet's version and the Go version it was built with."
)

// RegisterBuildInfo adds loglet_build_info{version, goversion} = 1 to reg.
func RegisterBuildInfo(reg *promtext.Registry, version string) error {
	return reg.Register(promtext.NewFunc(promtext.Desc{Name: BuildInfoName, Help: BuildInfoHelp, Type: promtext.TypeGauge, Labels: []string{"goversion", "version"}},
		func(emit promtext.Emit) { emit(1, runtime.Version(), version) }))
}
