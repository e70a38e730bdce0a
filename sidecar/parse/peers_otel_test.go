package parse_test

import (
	"testing"

	"github.com/loglet/loglet/sidecar/parse"
)

// TestOTelContainerCases: the container parser cases of the OpenTelemetry
// Collector's stanza (open-telemetry/opentelemetry-collector-contrib,
// pkg/stanza/operator/parser/container/parser_test.go, Apache-2.0; their
// input lines, restated as files) with loglet's container-format auto.
// The k8s.* resource it takes from /var/log/pods paths is node mode's
// (sidecar/node), not the parser's, and is left out here.
func TestOTelContainerCases(t *testing.T) {
	auto := parse.Config{Container: "auto"}
	check(t, []tcase{
		// stanza takes a Docker line whose log has no final newline as
		// whole; in json-file only a piece of a split line lacks it, so
		// loglet waits for the rest, and ships what there is at the end.
		{"docker", `{"log":"INFO: log line here","stream":"stdout","time":"2029-03-30T08:31:20.545192187Z"}` + "\n", auto,
			[]rec{{Body: "INFO: log line here", Stream: "stdout", Time: "2029-03-30T08:31:20.545192187Z", Severity: "INFO"}}},
		{"crio standalone, -10:00", "2024-04-13T07:59:37.505201169-10:00 stdout F standalone crio line which is awesome!\n", auto,
			[]rec{{Body: "standalone crio line which is awesome!", Stream: "stdout", Time: "2024-04-13T17:59:37.505201169Z"}}},
		{"containerd standalone", "2024-04-13T07:59:37.505201169Z stdout F standalone containerd line which is awesome!\n", auto,
			[]rec{{Body: "standalone containerd line which is awesome!", Stream: "stdout", Time: "2024-04-13T07:59:37.505201169Z"}}},
		{"crio multiple", "2024-04-13T07:59:37.505201169-10:00 stdout P standalone crio line which i\n2024-04-13T07:59:37.505201169-10:00 stdout F s awesome!\n", auto,
			[]rec{{Body: "standalone crio line which is awesome!", Stream: "stdout", Time: "2024-04-13T17:59:37.505201169Z"}}},
		{"containerd multiple", "2024-04-13T07:59:37.505201169Z stdout P standalone containerd line which i\n2024-04-13T07:59:37.505201169Z stdout F s awesome!\n", auto,
			[]rec{{Body: "standalone containerd line which is awesome!", Stream: "stdout", Time: "2024-04-13T07:59:37.505201169Z"}}},
		// stanza's format detection fails on this; loglet ships it as a
		// plain line (auto decides per file from its first line).
		{"invalid container format", "invalid container format\n", auto, []rec{{Body: "invalid container format"}}},
	})
}
