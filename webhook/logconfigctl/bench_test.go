package logconfigctl_test

import (
	"testing"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/webhook/logconfigctl"
)

// BenchmarkCheckLogConfig: what checking one config costs, as each pass
// over a namespace checks its configs and every ClusterLogConfig.
func BenchmarkCheckLogConfig(b *testing.B) {
	lc := &v1alpha1.LogConfig{Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{
		{Name: "app", Files: []string{"/var/log/app/*.log"}, Format: `regex:^(?P<time>\S+) (?P<level>\w+) (?P<msg>.*)$`, Multiline: &v1alpha1.Multiline{Start: `^\d{4}-`}},
		{Name: "out", Stdout: true, Format: "json"},
	}}}
	for b.Loop() {
		if err := logconfigctl.CheckLogConfig(lc); err != nil {
			b.Fatal(err)
		}
	}
}
