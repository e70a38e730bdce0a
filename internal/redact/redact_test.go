package redact

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://hub:4222/LOGLET", "nats://hub:4222/LOGLET"},
		{"nats://agent:s3cret@hub:4222/LOGLET", "nats://agent:xxxxx@hub:4222/LOGLET"},
		{"nats://s3cret@hub-0:4222,hub-1:4222/LOGLET", "nats://xxxxx@hub-0:4222,hub-1:4222/LOGLET"},
		{"https://u:s3cret@hub/ingest?x=1", "https://u:xxxxx@hub/ingest?x=1"},
		{"nats://hub:4222/LOGLET?creds=/etc/loglet/hub/nats.creds", "nats://hub:4222/LOGLET?creds=/etc/loglet/hub/nats.creds"},
		{"nats://s3cret@hub:bad port", "(a URL that does not parse)"},
	} {
		got := String(tc.in)
		if got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("String(%q) shows the secret: %q", tc.in, got)
		}
	}
}
