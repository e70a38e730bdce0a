package settings

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestSuggest(t *testing.T) {
	known := []string{"LOGLET_BATCH_BYTES", "LOGLET_BATCH_WAIT", "LOGLET_SINK", "LOGLET_FORMAT"}
	for _, tc := range []struct{ in, want string }{
		{"LOGLET_BATCH_BYTE", "LOGLET_BATCH_BYTES"},
		{"LOGLET_BTACH_WAIT", "LOGLET_BATCH_WAIT"},
		{"loglet_sink", "LOGLET_SINK"},
		{"LOGLET_FROMAT", "LOGLET_FORMAT"},
		{"LOGLET_COLOUR", ""}, // nothing near: no guess
	} {
		if got := Suggest(tc.in, known); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func flags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("batch-bytes", "512KiB", "")
	fs.StringSlice("path", nil, "")
	fs.String("config", "", "")
	return fs
}

// TestPrecedence: a flag set on the command line wins over the
// environment, which wins over the document, which wins over the default.
func TestPrecedence(t *testing.T) {
	doc := map[string]any{"batch-bytes": "1MiB", "path": []any{"/doc/*.log"}}
	env := map[string]string{"LOGLET_BATCH_BYTES": "2MiB"}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		doc  map[string]any
		want int64
	}{
		{nil, nil, nil, 512 << 10},
		{nil, nil, doc, 1 << 20},
		{nil, env, doc, 2 << 20},
		{[]string{"--batch-bytes", "3MiB"}, env, doc, 3 << 20},
	} {
		fs := flags()
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		r := New(fs, tc.env, tc.doc)
		if got := r.Bytes("batch-bytes", 1, 1<<30); got != tc.want || r.Err() != nil {
			t.Errorf("%v %v %v: %d, %v; want %d", tc.args, tc.env, tc.doc, got, r.Err(), tc.want)
		}
	}
	r := New(flags(), nil, doc)
	if got := r.List("path"); len(got) != 1 || got[0] != "/doc/*.log" {
		t.Errorf("path from the document: %v", got)
	}
}

func TestOpenRefusesUnknownNames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		want    string
	}{
		{"variable", []string{"LOGLET_BATCH_BYTE=1MiB"}, `unknown environment variable "LOGLET_BATCH_BYTE": did you mean "LOGLET_BATCH_BYTES"?`},
		{"key", []string{`LOGLET_CONFIG={"bach-bytes": 1}`}, `config document (LOGLET_CONFIG): unknown key "bach-bytes": did you mean "batch-bytes"?`},
		{"not a document", []string{`LOGLET_CONFIG={"a": [}`}, "config document (LOGLET_CONFIG)"},
		{"variable of another command", []string{"LOGLET_STDOUT_DIR=/x"}, ""},
		// What the kubelet gives every pod for the Services loglet-webhook
		// and loglet-hub in its namespace (enableServiceLinks).
		{"service links", []string{"LOGLET_WEBHOOK_PORT=tcp://10.96.0.12:443", "LOGLET_WEBHOOK_SERVICE_HOST=10.96.0.12",
			"LOGLET_WEBHOOK_SERVICE_PORT=443", "LOGLET_WEBHOOK_SERVICE_PORT_HTTPS=443", "LOGLET_WEBHOOK_PORT_443_TCP=tcp://10.96.0.12:443",
			"LOGLET_WEBHOOK_PORT_443_TCP_PROTO=tcp", "LOGLET_WEBHOOK_PORT_443_TCP_PORT=443", "LOGLET_WEBHOOK_PORT_443_TCP_ADDR=10.96.0.12",
			"LOGLET_HUB_SERVICE_HOST=fd00::12", "LOGLET_HUB_PORT_4222_TCP=tcp://[fd00::12]:4222"}, ""},
		{"a typo shaped like a service link", []string{"LOGLET_SIDECAR_PORT=9745"}, `unknown environment variable "LOGLET_SIDECAR_PORT"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Open(flags(), tc.environ, nil, []string{"LOGLET_STDOUT_DIR"})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}
