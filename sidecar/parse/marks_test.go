package parse_test

import (
	"testing"

	"github.com/loglet/loglet/sidecar/parse"
)

const markKey = "loglet.parse_error"

// TestMarks: every record with something not understood says so in
// loglet.parse_error and keeps the raw value (issue 18, Marks).
func TestMarks(t *testing.T) {
	const ts = "2026-11-25T10:00:00.123456789Z"
	check(t, []tcase{
		{"json time that cannot be read", `{"@timestamp":"invalid","msg":"hi"}` + "\n",
			parse.Config{Format: "json", TimeKey: "@timestamp"},
			[]rec{{Body: "hi", Attrs: map[string]string{"@timestamp": "invalid", markKey: `time: cannot parse "invalid" as rfc3339`}}}},
		{"json time under a layout", `{"t":"25/11/2026","msg":"hi"}` + "\n",
			parse.Config{Format: "json", TimeKey: "t", TimeFormat: "2006-01-02"},
			[]rec{{Body: "hi", Attrs: map[string]string{"t": "25/11/2026", markKey: `time: cannot parse "25/11/2026" as 2006-01-02`}}}},
		{"logfmt time number as rfc3339", "ts=12 msg=hi\n",
			parse.Config{Format: "logfmt", TimeKey: "ts"},
			[]rec{{Body: "hi", Attrs: map[string]string{"ts": "12", markKey: `time: cannot parse "12" as rfc3339`}}}},
		{"json time and a good one", `{"@timestamp":"2026-11-25T10:00:00Z","msg":"ok"}` + "\n",
			parse.Config{Format: "json", TimeKey: "@timestamp"},
			[]rec{{Body: "ok", Time: "2026-11-25T10:00:00Z", Attrs: map[string]string{"@timestamp": "2026-11-25T10:00:00Z"}}}},
		{"docker time missing", `{"log":"a\n","stream":"stdout"}` + "\n", parse.Config{Container: "docker"},
			[]rec{{Body: "a", Stream: "stdout", Attrs: map[string]string{markKey: "docker: time missing"}}}},
		{"docker time empty", `{"log":"a\n","stream":"stdout","time":""}` + "\n", parse.Config{Container: "docker"},
			[]rec{{Body: "a", Stream: "stdout", Attrs: map[string]string{markKey: `docker: time: cannot parse "" as rfc3339`}}}},
		{"docker time a number", `{"log":"a\n","stream":"stdout","time":12}` + "\n", parse.Config{Container: "docker"},
			[]rec{{Body: "a", Stream: "stdout", Attrs: map[string]string{markKey: "docker: time is not a string: 12"}}}},
		{"docker time qwerty", `{"log":"a\n","stream":"stderr","time":"qwerty"}` + "\n", parse.Config{Container: "docker"},
			[]rec{{Body: "a", Stream: "stderr", Attrs: map[string]string{markKey: `docker: time: cannot parse "qwerty" as rfc3339`}}}},
		{"docker time qwerty and json that fails", `{"log":"{\"a\":\n","stream":"stderr","time":"qwerty"}` + "\n", parse.Config{Container: "docker", Format: "json"},
			[]rec{{Body: `{"a":`, Stream: "stderr", Attrs: map[string]string{markKey: `docker: time: cannot parse "qwerty" as rfc3339; json: truncated JSON`}}}},
		// Fluent Bit issue 3817: a line that is not CRI inside a CRI file
		// with multiline on is its own record, marked, without a stream.
		{"non-CRI line in CRI file with multiline", ts + " stdout F 2026-11-25 first\n" + ts + " stdout F   at cont\nnot a cri line\n" + ts + " stdout F 2026-11-25 second\n",
			parse.Config{Container: "cri", MultilineStart: `^\d{4}-`},
			[]rec{{Body: "2026-11-25 first\n  at cont", Time: ts, Stream: "stdout"},
				{Body: "not a cri line", Attrs: map[string]string{markKey: "cri: not a CRI log line (<RFC 3339 time> <stdout|stderr> <P|F> <text>)"}},
				{Body: "2026-11-25 second", Time: ts, Stream: "stdout"}}},
		{"non-CRI line first in auto with multiline", "not a cri line\n" + ts + " stdout F 2026-11-25 first\n",
			parse.Config{Container: "auto", MultilineStart: `^\d{4}-`},
			[]rec{{Body: "not a cri line"}, {Body: ts + " stdout F 2026-11-25 first"}}},
	})
}

const invalidKeepMark = `utf-8: invalid bytes replaced by U+FFFD, the original in loglet.raw_body (\xHH escapes, \\ a backslash); set encoding if the text is in another`
