package parse_test

import (
	"testing"

	"github.com/loglet/loglet/sidecar/parse"
)

// TestInbox: what a push input spooled comes back as the record the sender
// sent: body, time, severity and its attributes, and the input's format
// parses the body (issue 20).
func TestInbox(t *testing.T) {
	inbox := parse.Config{Container: "inbox"}
	check(t, []tcase{
		{"body, time, severity, attributes",
			`{"t":1764583201100000000,"s":5,"b":"card declined\n\tat Pay","a":{"trace_id":"5b8efff798038103d269b633813fc60c","http.status":502,"ok":false,"nested":{"k":"v"},"esc\"key":"a\u00e9"}}` + "\n",
			inbox,
			[]rec{{Body: "card declined\n\tat Pay", Time: "2025-12-01T10:00:01.1Z", Severity: "ERROR",
				Attrs: map[string]string{"trace_id": "5b8efff798038103d269b633813fc60c", "http.status": "502", "ok": "false", "nested": `{"k":"v"}`, `esc"key`: "aé"}}}},
		{"only a body", `{"b":"hello"}` + "\n", inbox, []rec{{Body: "hello", Attrs: map[string]string{}}}},
		{"a body that is not UTF-8 keeps its bytes", `{"B":"aP8="}` + "\n", inbox,
			[]rec{{Body: "h\ufffd", Attrs: map[string]string{"loglet.raw_body": `h\xff`, markKey: `utf-8: invalid bytes replaced by U+FFFD, the original in loglet.raw_body (\xHH escapes, \\ a backslash); set encoding if the text is in another`}}}},
		{"syslog body parsed by the input's format",
			`{"b":"<165>1 2026-12-01T10:00:01.003Z web01 shop 42 ID47 [x@1 a=\"b\"] paid"}` + "\n",
			parse.Config{Container: "inbox", Format: "syslog"},
			[]rec{{Body: "paid", Time: "2026-12-01T10:00:01.003Z", Severity: "INFO", Attrs: map[string]string{
				"hostname": "web01", "appname": "shop", "proc_id": "42", "msg_id": "ID47", "facility": "local4", "priority": "165", "structured_data.x@1.a": "b"}}}},
		{"the sender's severity wins over the body's level word", `{"s":4,"b":"ERROR is only a word here"}` + "\n", inbox,
			[]rec{{Body: "ERROR is only a word here", Severity: "WARN", Attrs: map[string]string{}}}},
		{"a line that is not an inbox line is kept, marked", "{\"t\":\"x\",\"b\":\"a\"}\n", inbox,
			[]rec{{Body: `{"t":"x","b":"a"}`, Attrs: map[string]string{markKey: `inbox: not an inbox line ({"t":<Unix ns>,"s":<1-6>,"b":"…","a":{…}})`}}}},
	})
}
