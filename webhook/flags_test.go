package webhook

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestServerFlags(t *testing.T) {
	load := func(args ...string) (ServerOptions, error) {
		fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
		ServerFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return LoadServerOptions(fs, os.Environ())
	}
	o, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if o.CertMode != "self" || o.CertLifetime != 90*24*time.Hour || o.CertSecret == "" || o.WebhookConfig != "loglet" {
		t.Errorf("defaults: mode %q, lifetime %v, secret %q, config %q; want self, 90 days, a Secret, loglet", o.CertMode, o.CertLifetime, o.CertSecret, o.WebhookConfig)
	}
	if o, err := load("--cert-lifetime", "36h", "--cert-mode", "files", "--hub-secret", "hub"); err != nil || o.CertLifetime != 36*time.Hour || o.CertMode != "files" || o.Config.HubSecret != "hub" {
		t.Errorf("set: %+v, %v", o, err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--cert-mode", "cert-manager"}, []string{"cert-mode", "self, files"}},
		{[]string{"--cert-lifetime", "ninety days"}, []string{"cert-lifetime", "90d"}},
		{[]string{"--cert-lifetime", "0d"}, []string{"cert-lifetime", "a second or more"}},
		{[]string{"--port", "99999"}, []string{"port", "9443"}},
	} {
		_, err := load(tc.args...)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v, want it to say %q", tc.args, err, w)
			}
		}
	}
}
