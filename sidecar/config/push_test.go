package config

import (
	"strings"
	"testing"
)

// TestPushInputs: inputs that listen load with their defaults, and what is
// wrong with one is named with its fix.
func TestPushInputs(t *testing.T) {
	c, err := load(t, map[string]string{"LOGLET_CONFIG": `{"inputs":[
		{"name":"syslog","syslog":{"listen":"udp://127.0.0.1:5514"}},
		{"name":"push","http":{}},
		{"name":"beats","lumberjack":{"listen":"0.0.0.0:5044","max-inbox-bytes":"64MiB"},"format":"json"},
		{"name":"files","files":["/var/log/app/*.log"]}]}`})
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ kind, network, addr, format string }
	for i, w := range []want{{PushSyslog, "udp", "127.0.0.1:5514", "syslog"}, {PushHTTP, "tcp", "127.0.0.1:4318", "raw"}, {PushLumberjack, "tcp", "0.0.0.0:5044", "json"}, {"", "", "", "raw"}} {
		in := c.Inputs[i]
		kind, l := in.Push()
		got := want{kind: kind, format: in.Format}
		if l != nil {
			got.network, got.addr = l.Network, l.Address
			if len(in.Files) > 0 || in.ContainerFormat != "inbox" {
				t.Errorf("input %s reads files %v with container-format %q; want none and inbox", in.Name, in.Files, in.ContainerFormat)
			}
		}
		if got != w {
			t.Errorf("input %s: %+v, want %+v", in.Name, got, w)
		}
	}
	if c.Inputs[2].Lumberjack.InboxBytes != 64<<20 || c.Inputs[1].HTTP.InboxBytes != 256<<20 {
		t.Errorf("max-inbox-bytes: %d and %d", c.Inputs[2].Lumberjack.InboxBytes, c.Inputs[1].HTTP.InboxBytes)
	}

	tests := []struct{ doc, want string }{
		{`{"name":"s","syslog":{"listen":"tcp://127.0.0.1:5514"},"files":["/a/*.log"]}`, "inputs[0] (s): files: an input that listens (syslog) reads no files"},
		{`{"name":"s","syslog":{},"http":{}}`, "syslog and http: an input listens for one protocol"},
		{`{"name":"s","syslog":{"listn":"tcp://127.0.0.1:1"}}`, `did you mean "listen"`},
		{`{"name":"s","syslog":{"listen":"sctp://127.0.0.1:1"}}`, "want tcp://host:port, udp://host:port, unix:///path or unixgram:///path"},
		{`{"name":"s","syslog":{"listen":"unix://rel.sock"}}`, "want an absolute socket path"},
		{`{"name":"h","http":{"listen":"0.0.0.0:4318"}}`, "reachable from other hosts, and anyone who reaches it could write records: give token-file"},
		{`{"name":"h","http":{"listen":"127.0.0.1:99999"}}`, `port "99999" is not a number from 0 to 65535`},
		{`{"name":"h","http":{"tls-cert-file":"/c.pem"}}`, "tls-cert-file and tls-key-file: give both"},
		{`{"name":"b","lumberjack":{"max-inbox-bytes":"lots"}}`, `max-inbox-bytes: invalid value "lots"`},
		{`{"name":"b","lumberjack":"0.0.0.0:5044"}`, "lumberjack: want a map like {listen: 127.0.0.1:5044}"},
		{`{"name":"a","syslog":{}},{"name":"b","syslog":{}}`, "input b: listen tcp://127.0.0.1:5514: input a listens there too"},
	}
	for _, tt := range tests {
		_, err := load(t, map[string]string{"LOGLET_CONFIG": `{"inputs":[` + tt.doc + `]}`})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.doc, err, tt.want)
		}
	}
	if _, err := load(t, map[string]string{"LOGLET_CONFIG": `{"once":true,"inputs":[{"name":"s","syslog":{}}]}`}); err == nil || !strings.Contains(err.Error(), "an input that listens has no end") {
		t.Errorf("once with an input that listens: %v", err)
	}
	// A token makes a listener on every address acceptable.
	if _, err := load(t, map[string]string{"LOGLET_CONFIG": `{"inputs":[{"name":"h","http":{"listen":"0.0.0.0:4318","token-file":"/t"}}]}`}); err != nil {
		t.Errorf("http on 0.0.0.0 with a token: %v", err)
	}
}
