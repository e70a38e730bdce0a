package config

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, env map[string]string, args ...string) (Agent, error) {
	t.Helper()
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	AgentFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(fs, environ)
}

func TestLoadAgentDefaults(t *testing.T) {
	c, err := load(t, nil, "--path", "/var/log/*.log")
	if err != nil {
		t.Fatal(err)
	}
	p := c.Pipeline
	if p.BatchBytes != 524288 || p.BatchWait != time.Second || p.MaxLineBytes != 262144 || p.MaxBufferBytes != 64<<20 ||
		p.StartAtEnd || p.DrainTimeout != 25*time.Second || p.ScanInterval != time.Second || p.Once {
		t.Errorf("defaults: %+v", p)
	}
	if len(c.Inputs) != 1 || c.Inputs[0].Name != DefaultInput || c.Inputs[0].Format != "raw" || c.Inputs[0].Parse == nil {
		t.Errorf("the flags' input: %+v", c.Inputs)
	}
}

func TestLoadAgentEnvironment(t *testing.T) {
	c, err := load(t, map[string]string{
		"LOGLET_PATH":        "/a/*.log, /b/**/*.log",
		"LOGLET_BATCH_BYTES": "1MiB",
		"LOGLET_ONCE":        "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Inputs[0].Files, "|") != "/a/*.log|/b/**/*.log" || c.Pipeline.BatchBytes != 1<<20 || !c.Pipeline.Once {
		t.Errorf("from env: %+v", c)
	}
	_, err = load(t, map[string]string{"LOGLET_PATH": "/a/*.log", "LOGLET_ONCE": "sometimes"})
	if err == nil || !strings.Contains(err.Error(), "LOGLET_ONCE") {
		t.Errorf("bad env value: %v, want an error naming LOGLET_ONCE", err)
	}
}

func TestLoadAgentErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "--path"},
		{[]string{"--path", "/a", "--mode", "cloud"}, "mode"},
		{[]string{"--mode", "node", "--pods-dir", "var/log/pods"}, "an absolute folder"},
		{[]string{"--mode", "node"}, "needs node-name"},
		{[]string{"--mode", "node", "--pod-metadata=false", "--include-pods", "app in web"}, "include-pods"},
		{[]string{"--mode", "node", "--pod-metadata=false", "--route-label", "log_type", "--route", "a.b"}, "route"},
		{[]string{"--path", "/a", "--route", "access.log"}, "1 to 64 letters"},
		{[]string{"--path", "/a", "--batch-bytes", "0"}, "batch-bytes"},
		{[]string{"--path", "/a", "--max-line-bytes", "1GiB"}, "max-line-bytes"},
		{[]string{"--path", "/a", "--scan-interval", "0s"}, "scan-interval"},
		{[]string{"--path", "/a", "--log-level", "loud"}, "log-level"},
		{[]string{"--mode", "sidecar", "--stdout", "api"}, "needs container-images"},
		{[]string{"--mode", "sidecar", "--stdout", "api", "--container-images", `{"app":"a:1"}`}, "needs pod-namespace and pod-name"},
		{[]string{"--mode", "sidecar", "--stdout", "api", "--container-images", "app=a:1"}, `a JSON object like {"app":"nginx:1.27"}`},
		{[]string{"--mode", "sidecar", "--stdout", "off", "--exit-when-done"}, "needs stdout: wrap or api"},
		{[]string{"--mode", "sidecar", "--stdout", "wrap", "--exit-when-done"}, "needs container-images"},
	}
	for _, tc := range tests {
		_, err := load(t, nil, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
}

func TestPodIdentityBecomesResource(t *testing.T) {
	c, err := load(t, map[string]string{"LOGLET_PATH": "/a/*.log", "LOGLET_POD_NAME": "shop-7d9", "LOGLET_POD_NAMESPACE": "prod"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range c.Pipeline.Resource {
		got[kv.Key] = kv.Value
	}
	if got["k8s.pod.name"] != "shop-7d9" || got["k8s.namespace.name"] != "prod" || got["host.name"] == "" {
		t.Errorf("resource %v", got)
	}
	if _, ok := got["k8s.pod.uid"]; ok {
		t.Errorf("unset identity became an attribute: %v", got)
	}
}
