package parse_test

import (
	"testing"

	"github.com/loglet/loglet/sidecar/parse"
)

// TestFilebeatContainerCases: the container-log cases of Filebeat's
// docker/CRI reader test (elastic/beats, libbeat/reader/readjson/
// docker_json_test.go, Apache-2.0; its input lines, restated as files),
// with what loglet makes of each. Where Filebeat returns an error loglet
// keeps the line, whole, marked. Filebeat's stream filter and its
// "partial: false" switch have no loglet equivalent and are left out.
func TestFilebeatContainerCases(t *testing.T) {
	const (
		shutdown  = "1:M 09 Nov 13:27:36.276 # User requested shutdown..."
		calico    = "2017-09-12 22:32:21.212 [INFO][88] table.go 710: Invalidating dataplane cache"
		dockerT   = "2017-11-09T13:27:36.277747246Z"
		notDocker = `docker: not a json-file log line ({"log":"…","stream":"…","time":"…"})`
		notCRI    = "cri: not a CRI log line (<RFC 3339 time> <stdout|stderr> <P|F> <text>)"
	)
	docker := parse.Config{Container: "docker"}
	cri := parse.Config{Container: "cri"}
	check(t, []tcase{
		{"common log message", `{"log":"` + shutdown + `\n","stream":"stdout","time":"` + dockerT + `"}` + "\n", docker,
			[]rec{{Body: shutdown, Stream: "stdout", Time: dockerT}}},
		{"wrong JSON", "this is not JSON\n", docker,
			[]rec{{Body: "this is not JSON", Attrs: map[string]string{markKey: notDocker}}}},
		{"wrong CRI", "2017-09-12T22:32:21.212861448Z stdout\n", cri,
			[]rec{{Body: "2017-09-12T22:32:21.212861448Z stdout", Attrs: map[string]string{markKey: notCRI}}}},
		{"not JSON nor CRI", "{this is not JSON nor CRI\n", cri,
			[]rec{{Body: "{this is not JSON nor CRI", Attrs: map[string]string{markKey: notCRI}}}},
		{"missing time", `{"log":"` + shutdown + `\n","stream":"stdout"}` + "\n", docker,
			[]rec{{Body: shutdown, Stream: "stdout", Attrs: map[string]string{markKey: "docker: time missing"}}}},
		// Filebeat reads the CRI format before its P/F tag (cri.flags:
		// false); containerd and CRI-O have written the tag since
		// Kubernetes 1.10, so loglet keeps such a line whole and marked.
		{"CRI log no tags", "2017-09-12T22:32:21.212861448Z stdout " + calico + "\n", cri,
			[]rec{{Body: "2017-09-12T22:32:21.212861448Z stdout " + calico, Attrs: map[string]string{markKey: notCRI}}}},
		{"CRI log", "2017-09-12T22:32:21.212861448Z stdout F " + calico + "\n", cri,
			[]rec{{Body: calico, Stream: "stdout", Time: "2017-09-12T22:32:21.212861448Z", Severity: "INFO"}}},
		{"split lines", `{"log":"1:M 09 Nov 13:27:36.276 # User requested ","stream":"stdout","time":"` + dockerT + `"}` + "\n" +
			`{"log":"shutdown...\n","stream":"stdout","time":"` + dockerT + `"}` + "\n", docker,
			[]rec{{Body: shutdown, Stream: "stdout", Time: dockerT}}},
		{"CRI split lines", "2017-10-12T13:32:21.232861448Z stdout P " + calico + "\n2017-11-12T23:32:21.212771448Z stdout F  error\n", cri,
			[]rec{{Body: calico + " error", Stream: "stdout", Time: "2017-10-12T13:32:21.232861448Z", Severity: "INFO"}}},
		{"force CRI with JSON logs", `{"log":"` + shutdown + `\n","stream":"stdout"}` + "\n", cri,
			[]rec{{Body: `{"log":"` + shutdown + `\n","stream":"stdout"}`, Attrs: map[string]string{markKey: notCRI}}}},
		{"force JSON with CRI logs", "2017-09-12T22:32:21.212861448Z stdout " + calico + "\n", docker,
			[]rec{{Body: "2017-09-12T22:32:21.212861448Z stdout " + calico, Attrs: map[string]string{markKey: notDocker}}}},
		// A split line whose next piece is torn: the piece there is, and
		// the torn line, each kept.
		{"error parsing keeps what was read", `{"log":"1:M 09 Nov 13:27:36.276 # User requested ","stream":"stdout","time":"` + dockerT + `"}` + "\n" +
			`{"log":"shutdown...\n","stream` + "\n", docker,
			[]rec{{Body: "1:M 09 Nov 13:27:36.276 # User requested ", Stream: "stdout", Time: dockerT},
				{Body: `{"log":"shutdown...\n","stream`, Attrs: map[string]string{markKey: notDocker}}}},
		// Filebeat carries Docker's attrs (labels and env the log driver
		// adds) as docker.attrs; loglet has no such feature and keeps
		// the body, stream and time.
		{"docker attrs", `{"log":"hello\n","stream":"stdout","attrs":{"KEY1":"value1","KEY2":"value2"},"time":"` + dockerT + `"}` + "\n", docker,
			[]rec{{Body: "hello", Stream: "stdout", Time: dockerT}}},
	})
}
