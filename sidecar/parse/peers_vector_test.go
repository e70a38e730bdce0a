package parse_test

import (
	"testing"

	"github.com/loglet/loglet/sidecar/parse"
)

// TestVectorDockerCases: the Docker json-file lines that Vector's
// kubernetes_logs parser rejects (vectordotdev/vector, src/sources/
// kubernetes_logs/parser/docker.rs, test_parsing_invalid, MPL-2.0; their
// input lines, restated as files). Vector drops each; loglet keeps each as
// a record of its own, marked, with the raw line or the text it could
// read.
func TestVectorDockerCases(t *testing.T) {
	const (
		ts        = "2016-10-05T00:00:30.082640485Z"
		notDocker = `docker: not a json-file log line ({"log":"…","stream":"…","time":"…"})`
	)
	docker := parse.Config{Container: "docker"}
	whole := func(line string) tcase {
		return tcase{line, line + "\n", docker, []rec{{Body: line, Attrs: map[string]string{markKey: notDocker}}}}
	}
	check(t, []tcase{
		whole(`{`),
		whole(`hello world`),
		whole(`123`),
		whole(`{}`),
		whole(`{"stream": "stderr", "time": "` + ts + `"}`),
		whole(`{"log": 123, "stream": "stderr", "time": "` + ts + `"}`),
		{"empty line", "\n", docker, []rec{{Body: "", Attrs: map[string]string{markKey: notDocker}}}},
		{"no timestamp", `{"log": "Hello world\n", "stream": "stdout"}` + "\n", docker,
			[]rec{{Body: "Hello world", Stream: "stdout", Attrs: map[string]string{markKey: "docker: time missing"}}}},
		{"timestamp not a string", `{"log": "Hello world\n", "stream": "stdout", "time": 123}` + "\n", docker,
			[]rec{{Body: "Hello world", Stream: "stdout", Attrs: map[string]string{markKey: "docker: time is not a string: 123"}}}},
		{"empty timestamp", `{"log": "Hello world\n", "stream": "stdout", "time": ""}` + "\n", docker,
			[]rec{{Body: "Hello world", Stream: "stdout", Attrs: map[string]string{markKey: `docker: time: cannot parse "" as rfc3339`}}}},
		{"invalid timestamp", `{"log": "Hello world\n", "stream": "stdout", "time": "qwerty"}` + "\n", docker,
			[]rec{{Body: "Hello world", Stream: "stdout", Attrs: map[string]string{markKey: `docker: time: cannot parse "qwerty" as rfc3339`}}}},
		// Vector's lines have no final \n in "log" (a piece of a split
		// line in json-file): loglet waits for the rest and, at the end,
		// ships what there is, the first piece's time mark with it.
		{"no timestamp, no newline", `{"log": "Hello world", "stream": "stdout"}` + "\n", docker,
			[]rec{{Body: "Hello world", Stream: "stdout", Attrs: map[string]string{markKey: "docker: time missing"}}}},
		{"a line without newline at the end", `{"log": "A line without newline chan at the end", "stream": "stdout", "time": "` + ts + `"}` + "\n", docker,
			[]rec{{Body: "A line without newline chan at the end", Stream: "stdout", Time: ts}}},
	})
}

// TestVectorCRISplitCharacter: Vector's CRI byte case — a runtime cuts a
// long line into P pieces by bytes, so a piece may end inside a UTF-8
// character ("Ми\xd1"). loglet checks UTF-8 on the joined line, so the
// character comes back whole; a piece whose rest never comes is marked and
// kept.
func TestVectorCRISplitCharacter(t *testing.T) {
	const ts = "2021-08-05T17:35:26.640507539Z"
	cri := parse.Config{Container: "cri"}
	check(t, []tcase{
		{"joined", ts + " stdout P Hello World Привет Ми\xd1\n" + ts + " stdout F \x80!\n", cri,
			[]rec{{Body: "Hello World Привет Мир!", Stream: "stdout", Time: ts}}},
		{"the rest never comes", ts + " stdout P Hello World Привет Ми\xd1\n", cri,
			[]rec{{Body: "Hello World Привет Ми\ufffd", Stream: "stdout", Time: ts,
				Attrs: map[string]string{markKey: invalidKeepMark, "loglet.raw_body": `Hello World Привет Ми\xd1`}}}},
	})
}
