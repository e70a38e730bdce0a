package webhook

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
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
	if o.Reinject != "off" {
		t.Errorf("reinject defaults to %q; want off (evicting is asked for)", o.Reinject)
	}
	if o, err := load("--reinject", "evict"); err != nil || o.Reinject != "evict" {
		t.Errorf("--reinject evict: %q, %v", o.Reinject, err)
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
		{[]string{"--reinject", "delete"}, []string{"reinject", "off, evict"}},
	} {
		_, err := load(tc.args...)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v, want it to say %q", tc.args, err, w)
			}
		}
	}
}

// TestAgentSettings: the chart's agentSettings (--agent-setting) reach
// every sidecar, so a typo or a setting the sidecar cannot take stops the
// webhook at start, naming the setting and what to do, instead of being
// ignored or failing every pod's sidecar.
func TestAgentSettings(t *testing.T) {
	tests := []struct {
		setting string
		want    string // "" accepted
	}{
		{"LOGLET_BATCH_BYTES=1MiB", ""},
		{"LOGLET_DRAIN_TIMEOUT=40s", ""},
		{"LOGLET_MEMORY_LIMIT=none", ""},
		{"LOGLET_BATCH_BYTE=1MiB", "agent-setting LOGLET_BATCH_BYTE: unknown agent setting; did you mean LOGLET_BATCH_BYTES?"},
		{"LOGLET_BATCH_WAIT_TIME=1s", "agent-setting LOGLET_BATCH_WAIT_TIME: unknown agent setting; did you mean LOGLET_BATCH_WAIT?"},
		{"LOGLET_NOTHING_LIKE_IT=1", "agent-setting LOGLET_NOTHING_LIKE_IT: unknown agent setting; `loglet agent --help` lists them"},
		{"BATCH_BYTES=1MiB", "LOGLET_NAME=value"},
		{"LOGLET_FORMAT=json", "agent-setting LOGLET_FORMAT: set per pod with loglet.io/format"},
		{"LOGLET_PATH=/var/log/*.log", "agent-setting LOGLET_PATH: set per pod with loglet.io/paths"},
		{"LOGLET_CSV_FIELDS=a,b", "agent-setting LOGLET_CSV_FIELDS: set per pod with loglet.io/csv-fields"},
		{"LOGLET_MULTILINE_START=^x", "agent-setting LOGLET_MULTILINE_START: set per pod with loglet.io/multiline-start"},
		{"LOGLET_ROUTE=orders", "agent-setting LOGLET_ROUTE: set per pod with loglet.io/route"},
		{"LOGLET_TIME_KEY=ts", "agent-setting LOGLET_TIME_KEY: a setting of each input"},
		{"LOGLET_MODE=node", "agent-setting LOGLET_MODE: the webhook sets it"},
		{"LOGLET_POD_NAME=x", "agent-setting LOGLET_POD_NAME: the webhook sets it"},
		{"LOGLET_NODE_NAME=x", "agent-setting LOGLET_NODE_NAME: the webhook sets it"},
		{"LOGLET_CONFIG={}", "agent-setting LOGLET_CONFIG: the webhook sets it"},
		{"LOGLET_STDOUT=api", "agent-setting LOGLET_STDOUT: set per pod with loglet.io/stdout"},
		{"LOGLET_SINK=stdout://", "agent-setting LOGLET_SINK: the webhook sets it; set --sink"},
		{"LOGLET_METRICS_ADDR=:9000", "agent-setting LOGLET_METRICS_ADDR: the webhook sets it; set --sidecar-metrics-port"},
		{"LOGLET_PODS_DIR=/logs", "agent-setting LOGLET_PODS_DIR: a setting of mode node"},
		{"LOGLET_BATCH_BYTES=lots", `agent-setting: a sidecar could not start with these settings: batch-bytes`},
		{"LOGLET_FOLLOW_SYMLINKS=true", `agent-setting LOGLET_FOLLOW_SYMLINKS: not for sidecars: the sidecar opens only files beneath the folder each glob names`},
		{"LOGLET_ONCE=true", `agent-setting LOGLET_ONCE: not for sidecars`},
	}
	for _, tc := range tests {
		t.Run(tc.setting, func(t *testing.T) {
			fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
			ServerFlags(fs)
			if err := fs.Parse([]string{"--agent-setting", tc.setting}); err != nil {
				t.Fatal(err)
			}
			o, err := LoadServerOptions(fs, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "":
				k, v, _ := strings.Cut(tc.setting, "=")
				if o.Config.Agent[k] != v {
					t.Errorf("agent settings %v, want %s", o.Config.Agent, tc.setting)
				}
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestDefaultImageIsTheChart's: without --image, the webhook and loglet
// inject use the slim image and tag the chart of this tree installs
// (image.slimRepository, and image.tag's default, the appVersion), so
// a preview shows what helm install runs.
func TestDefaultImageIsTheChart(t *testing.T) {
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	var values struct {
		Image struct {
			SlimRepository string `json:"slimRepository"`
			Tag            string `json:"tag"`
		} `json:"image"`
	}
	for file, v := range map[string]any{"Chart.yaml": &chart, "values.yaml": &values} {
		b, err := os.ReadFile("../charts/loglet/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	tag := values.Image.Tag
	if tag == "" {
		tag = chart.AppVersion
	}
	want := values.Image.SlimRepository + ":" + tag
	if got := DefaultConfig().Image; got != want {
		t.Errorf("default image %s, the chart installs %s: set ChartAppVersion to the chart's appVersion", got, want)
	}
	fs := pflag.NewFlagSet("inject", pflag.ContinueOnError)
	InjectFlags(fs)
	if got := fs.Lookup("image").DefValue; got != want {
		t.Errorf("--image defaults to %s, the chart installs %s", got, want)
	}
}
