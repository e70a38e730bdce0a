package modes

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/loglet/loglet/sidecar/config"
	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/record"
)

func load(t testing.TB, env []string, args ...string) config.Agent {
	t.Helper()
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	config.AgentFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(fs, env)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestInputsChoose: each file is read as the first input whose files
// match it and whose excludes do not say; a file an input leaves out is
// not read by it; a mode's own files (a container's stdout) belong to the
// first input.
func TestInputsChoose(t *testing.T) {
	doc := `{"inputs":[
	  {"name":"app","files":["/logs/app/*.log"],"exclude":["debug-*"],"format":"json","route":"apps"},
	  {"name":"web","files":["/logs/web/*.log","/logs/app/debug-*.log"],"format":"nginx"}]}`
	c := load(t, []string{"LOGLET_CONFIG=" + doc})
	a, err := Wire(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.Pipeline.Paths, " "); got != "/logs/app/*.log /logs/web/*.log /logs/app/debug-*.log" {
		t.Errorf("paths %q", got)
	}
	if a.Pipeline.Waits {
		t.Error("no input's records wait for more lines, yet the read buffers leave room for them")
	}
	for _, tc := range []struct {
		path, input, route string
		skip               bool
	}{
		{"/logs/app/a.log", "app", "apps", false},
		{"/logs/web/access.log", "web", "", false},
		{"/logs/app/debug-1.log", "web", "", false}, // left out by app, matched by web
		{"/logs/other/x.log", "", "", true},
	} {
		ch := a.Pipeline.Select(tc.path)
		if ch.Skip != tc.skip || ch.Input != tc.input || ch.Route != tc.route {
			t.Errorf("%s: input %q route %q skip %v; want %q %q %v", tc.path, ch.Input, ch.Route, ch.Skip, tc.input, tc.route, tc.skip)
		}
		if !tc.skip && (ch.Parse == nil || len(ch.Resource) == 0) {
			t.Errorf("%s: no parsing or resource: %+v", tc.path, ch)
		}
	}
}

// TestSidecarStdoutBelongsToTheFirstInput: in a sidecar, the containers'
// stdout copies are parsed with the first input's format and carry its
// name, and the input's files on the volume carry the container.
func TestSidecarStdoutBelongsToTheFirstInput(t *testing.T) {
	vol := t.TempDir()
	doc := `{"mode":"sidecar","stdout":"wrap","pod-volume":"` + vol + `","container-images":"{\"app\":\"shop:1\"}",
	  "inputs":[{"name":"default","files":["` + vol + `/c/app/0/*.log"],"format":"json","route":"shop"}]}`
	a, err := Wire(load(t, []string{"LOGLET_CONFIG=" + doc}))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{vol + "/c/app/0/app.log", vol + "/stdout/app/stdout.log"} {
		ch := a.Pipeline.Select(path)
		res := map[string]string{}
		for _, kv := range ch.Resource {
			res[kv.Key] = kv.Value
		}
		if ch.Input != "default" || ch.Route != "shop" || res["k8s.container.name"] != "app" || ch.Parse == nil {
			t.Errorf("%s: input %q route %q resource %v", path, ch.Input, ch.Route, res)
		}
	}
	if !a.Pipeline.Waits {
		t.Error("stdout copies have CRI partial lines, yet the read buffers leave no room for them")
	}
}

func TestWireErrors(t *testing.T) {
	c := load(t, nil, "--mode", "sidecar", "--stdout", "api", "--container-images", `{"app":"a:1"}`, "--pod-namespace", "shop", "--pod-name", "web",
		"--pod-volume", t.TempDir())
	if _, err := Wire(c); err == nil || !strings.Contains(err.Error(), "outside a pod needs --api-server") {
		t.Errorf("stdout api outside a pod: %v", err)
	}
}

// TestSidecarStdoutWithUTF16Files: the first input's files are UTF-16
// (a Windows-born app); its stdout, which a runtime writes as UTF-8 lines,
// is read as UTF-8, and the sidecar starts (stdout: api compiles the same
// config).
func TestSidecarStdoutWithUTF16Files(t *testing.T) {
	vol := t.TempDir()
	doc := `{"mode":"sidecar","stdout":"wrap","pod-volume":"` + vol + `","container-images":"{\"app\":\"shop:1\"}",
	  "inputs":[{"name":"default","files":["` + vol + `/c/app/0/*.log"],"encoding":"utf-16le"}]}`
	a, err := Wire(load(t, []string{"LOGLET_CONFIG=" + doc}))
	if err != nil {
		t.Fatal(err)
	}
	if ch := a.Pipeline.Select(vol + "/c/app/0/app.log"); ch.Parse == nil || ch.Parse.Encoding().Name() != "utf-16le" {
		t.Error("the files' encoding is lost")
	}
}

// TestNodeInputsExclude: in node mode a host file an input's excludes
// leave out is skipped, not read as the pods' input (it was).
func TestNodeInputsExclude(t *testing.T) {
	doc := `{"inputs":[{"name":"pods"},{"name":"host","files":["/host/var/log/*"],"exclude":["*.gz"]}]}`
	c := load(t, []string{"LOGLET_CONFIG=" + doc}, "--mode", "node", "--pod-metadata=false", "--pods-dir", "/var/log/pods")
	a, err := Wire(c)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/host/var/log/syslog":                      "host",
		"/host/var/log/syslog.2.gz":                 "skip",
		"/var/log/pods/shop_web-1_0d3f/nginx/0.log": "pods",
	} {
		ch := a.Pipeline.Select(path)
		got := ch.Input
		if ch.Skip {
			got = "skip"
		}
		if got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
}

// TestPushInputReadsItsInbox: an input that listens reads its inbox's
// segments whole, with the resource its sender gave beside the agent's.
func TestPushInputReadsItsInbox(t *testing.T) {
	state := t.TempDir()
	doc := `{"state-dir":"` + state + `","inputs":[{"name":"otlp","http":{}},{"name":"app","files":["/logs/*.log"]}]}`
	c := load(t, []string{"LOGLET_CONFIG=" + doc}, "--pod-name", "web-1")
	a, err := Wire(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.Pipeline.Paths, " "); got != state+"/inbox/otlp/*/*.log /logs/*.log" {
		t.Errorf("paths %q", got)
	}
	box, err := inbox.Open(config.InboxDir(state, "otlp"), inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := []record.KeyValue{{Key: "service.name", Value: "checkout"}, {Key: "k8s.pod.name", Value: "sdk-says"}}
	if err := box.Append(res, []inbox.Record{{Body: []byte("hi")}}); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(box.Glob())
	ch := a.Pipeline.Select(segs[0])
	got := map[string]string{}
	for _, kv := range ch.Resource {
		got[kv.Key] = kv.Value
	}
	if ch.Input != "otlp" || !ch.Inbox || got["service.name"] != "checkout" || got["k8s.pod.name"] != "web-1" {
		t.Errorf("segment read as input %q, inbox %v, resource %v; want otlp, whole, service.name from the sender and the agent's pod name", ch.Input, ch.Inbox, got)
	}
	if ch := a.Pipeline.Select("/logs/a.log"); ch.Input != "app" || ch.Inbox {
		t.Errorf("a file: input %q, inbox %v", ch.Input, ch.Inbox)
	}
}
