package modes

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loglet/loglet/logconfig"
	"github.com/loglet/loglet/sidecar/pipeline"
)

// lcPod is a sidecar's volume with the pod's labels, and its settings
// with a LogConfig file (absent until written).
func lcPod(t *testing.T, stdout string) (vol, file string, env []string) {
	t.Helper()
	vol, dir := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(vol, "podinfo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "podinfo", "labels"), []byte("app=\"web\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, logconfig.ConfigMapKey)
	doc := `{"mode":"sidecar","stdout":"` + stdout + `","pod-volume":"` + vol + `","pod-name":"web-1","pod-namespace":"shop",
	  "container-images":"{\"app\":\"shop:1\",\"side\":\"side:1\"}",
	  "container-mounts":"{\"app\":{\"/var/log/app\":\"c/app/0\"}}",
	  "logconfig-file":"` + file + `",
	  "inputs":[{"name":"web/access","files":["` + vol + `/c/app/0/*.log"]}]}`
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	// stdout: api streams from this server once the capture runs, which
	// these tests do not start.
	return vol, file, []string{"LOGLET_CONFIG=" + doc, "LOGLET_API_SERVER=http://127.0.0.1:1", "LOGLET_API_TOKEN_FILE=" + token, "LOGLET_API_CA_FILE="}
}

// doc is a rendered ConfigMap document with one LogConfig, web,
// selecting app=web.
func doc(t *testing.T, inputs ...map[string]any) []byte {
	t.Helper()
	return docFor(t, nil, inputs...)
}

// docFor is doc for these containers of the pod (nil: all).
func docFor(t *testing.T, containers []string, inputs ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"version": 1, "configs": []any{map[string]any{
		"kind": "LogConfig", "name": "web", "selector": map[string]any{"matchLabels": map[string]string{"app": "web"}},
		"containers": containers, "inputs": inputs}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder is Reselect for a test: it keeps the last selection.
type recorder struct{ last *pipeline.Selection }

func (r *recorder) apply(_ context.Context, s pipeline.Selection) error {
	r.last = &s
	return nil
}

// TestLogConfigRefusedKeepsInputs: a file that does not parse, is of a
// newer version, or has an input the loader refuses is reported (error
// log naming the file and the problem, the invalid count) and the inputs
// applied before go on; the next good file is applied.
func TestLogConfigRefusedKeepsInputs(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"not JSON", `{"version":1,"configs":[`, "unexpected end of JSON input"},
		{"newer version", `{"version":2,"configs":[]}`, "version 2: this loglet reads version 1"},
		{"input the loader refuses", `{"version":1,"configs":[{"kind":"LogConfig","name":"web","inputs":[{"name":"x","files":["/var/log/app/*.log"],"format":"regex:("}]}]}`, "regex"},
		{"unknown encoding", `{"version":1,"configs":[{"kind":"LogConfig","name":"web","inputs":[{"name":"x","files":["/var/log/app/*.log"],"encoding":"klingon"}]}]}`, "klingon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vol, file, env := lcPod(t, "off")
			if err := os.WriteFile(file, doc(t, map[string]any{"name": "access", "files": []string{"/var/log/app/*.log"}, "format": "json"}), 0o644); err != nil {
				t.Fatal(err)
			}
			a, err := Wire(load(t, env))
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Pipeline.Select(vol + "/c/app/0/a.log"); got.Input != "web/access" {
				t.Fatalf("at start: input %q, want web/access", got.Input)
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			r := &recorder{}
			if err := os.WriteFile(file, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			a.Reload.(*LogConfigs).check(context.Background(), r.apply, log)
			if r.last != nil {
				t.Fatalf("a refused file was applied: %v", r.last.Paths)
			}
			if n := invalidReloads(t, a.Reload.(*LogConfigs)); n != 1 {
				t.Errorf("invalid reloads %v, want 1", n)
			}
			if l := logs.String(); !strings.Contains(l, "LogConfig file refused") || !strings.Contains(l, file) || !strings.Contains(l, tc.want) {
				t.Errorf("log %q: want the refusal naming %s and %q", l, file, tc.want)
			}
			// Read again unchanged: not reported twice.
			a.Reload.(*LogConfigs).check(context.Background(), r.apply, log)
			if n := invalidReloads(t, a.Reload.(*LogConfigs)); n != 1 {
				t.Errorf("invalid reloads %v after reading the same file again, want 1", n)
			}
			if err := os.WriteFile(file, doc(t, map[string]any{"name": "audit", "files": []string{"/var/log/app/*.audit"}}), 0o644); err != nil {
				t.Fatal(err)
			}
			a.Reload.(*LogConfigs).check(context.Background(), r.apply, log)
			if r.last == nil || strings.Join(r.last.Paths, " ") != vol+"/c/app/0/*.audit" {
				t.Fatalf("the good file after the refused one: %+v", r.last)
			}
			if got := r.last.Select(vol + "/c/app/0/a.audit"); got.Input != "web/audit" {
				t.Errorf("input %q, want web/audit", got.Input)
			}
		})
	}
}

// TestLogConfigStartsWithWebhookInputs: until the file appears (an
// optional ConfigMap not rendered yet), the inputs the webhook wrote are
// read; once it appears, what it renders for the pod replaces them, with
// only the pod's selected configs and containers, and files in folders not
// shared with the sidecar reported once, not read.
func TestLogConfigStartsWithWebhookInputs(t *testing.T) {
	vol, file, env := lcPod(t, "off")
	a, err := Wire(load(t, env))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.Pipeline.Paths, " "); got != vol+"/c/app/0/*.log" {
		t.Fatalf("paths before the file: %q, want the webhook's input", got)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	r := &recorder{}
	a.Reload.(*LogConfigs).check(context.Background(), r.apply, log)
	if r.last != nil {
		t.Fatal("applied a file that does not exist")
	}
	rendered, err := json.Marshal(map[string]any{"version": 1, "configs": []any{
		map[string]any{"kind": "LogConfig", "name": "web", "selector": map[string]any{"matchLabels": map[string]string{"app": "web"}},
			"containers": []string{"app"},
			"inputs":     []any{map[string]any{"name": "access", "files": []string{"/var/log/app/*.log", "/var/log/other/*.log"}}}},
		map[string]any{"kind": "LogConfig", "name": "db", "selector": map[string]any{"matchLabels": map[string]string{"app": "db"}},
			"inputs": []any{map[string]any{"name": "slow", "files": []string{"/var/log/app/slow.log"}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, rendered, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		a.Reload.(*LogConfigs).check(context.Background(), r.apply, log)
	}
	if r.last == nil || strings.Join(r.last.Paths, " ") != vol+"/c/app/0/*.log" {
		t.Fatalf("selection %+v; want web's access input only (db selects other pods)", r.last)
	}
	if n := strings.Count(logs.String(), "not shared with the sidecar"); n != 1 || !strings.Contains(logs.String(), "app:/var/log/other/*.log") {
		t.Errorf("unshared file reported %d times, want once naming app:/var/log/other/*.log: %s", n, logs.String())
	}
	// The ConfigMap deleted: its inputs go.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	a.Reload.(*LogConfigs).check(context.Background(), r.apply, log)
	if len(r.last.Paths) != 0 {
		t.Errorf("paths %q after the file went, want none", r.last.Paths)
	}
}

// TestLogConfigUnchangedInputsKeepTheirParsing: a reload that leaves an
// input as it was hands the pipeline the same compiled parsing and
// processors for its files, so they go on untouched; a changed input gets
// new ones. A stdout input reads its containers' copies (not the others')
// with its own parsing.
func TestLogConfigUnchangedInputsKeepTheirParsing(t *testing.T) {
	for _, capture := range []string{"wrap", "api"} {
		t.Run(capture, func(t *testing.T) {
			vol, file, env := lcPod(t, capture)
			access := map[string]any{"name": "access", "files": []string{"/var/log/app/*.log"}, "format": "json",
				"processors": []any{map[string]any{"drop": map[string]any{"match": "GET /healthz"}}}}
			if err := os.WriteFile(file, docFor(t, []string{"app"}, access, map[string]any{"name": "out", "stdout": true, "format": "logfmt"}), 0o644); err != nil {
				t.Fatal(err)
			}
			a, err := Wire(load(t, env))
			if err != nil {
				t.Fatal(err)
			}
			spool := "stdout.log"
			if capture == "api" {
				spool = "api.log"
			}
			before := a.Pipeline.Select(vol + "/c/app/0/a.log")
			out := a.Pipeline.Select(vol + "/stdout/app/" + spool)
			other := a.Pipeline.Select(vol + "/stdout/side/" + spool)
			if before.Input != "web/access" || before.Process == nil || out.Input != "web/out" || other.Input == "web/out" || out.Parse == other.Parse {
				t.Fatalf("access %q (processors %v), app's stdout %q, side's stdout %q (same parsing %v)",
					before.Input, before.Process != nil, out.Input, other.Input, out.Parse == other.Parse)
			}
			r := &recorder{}
			log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
			if err := os.WriteFile(file, docFor(t, []string{"app"}, access, map[string]any{"name": "out", "stdout": true, "format": "json"}), 0o644); err != nil {
				t.Fatal(err)
			}
			a.Reload.(*LogConfigs).check(context.Background(), r.apply, log)
			if r.last == nil {
				t.Fatal("not applied")
			}
			after := r.last.Select(vol + "/c/app/0/a.log")
			if after.Parse != before.Parse || after.Process != before.Process {
				t.Error("an unchanged input got new parsing or processors: its files would be read again under them")
			}
			if now := r.last.Select(vol + "/stdout/app/" + spool); now.Input != "web/out" || now.Parse == out.Parse {
				t.Errorf("the changed stdout input: %q, same parsing %v", now.Input, now.Parse == out.Parse)
			}
		})
	}
}

func invalidReloads(t *testing.T, l *LogConfigs) float64 {
	t.Helper()
	return l.reloads.WithLabelValues(reloadInvalid).Value()
}

// FuzzLogConfigLoad: whatever the mounted file holds, loading it returns
// inputs or an error naming the file, never panics; what loads, the
// pipeline accepts.
func FuzzLogConfigLoad(f *testing.F) {
	f.Add([]byte(`{"version":1,"configs":[{"kind":"LogConfig","name":"web","selector":{"matchLabels":{"app":"web"}},"inputs":[{"name":"a","files":["/var/log/app/*.log"],"format":"json"}]}]}`))
	f.Add([]byte(`{"version":1,"configs":[{"kind":"ClusterLogConfig","name":"all","containers":["app"],"inputs":[{"name":"out","stdout":true,"multiline":{"preset":"java"}}]}]}`))
	f.Add([]byte(`{"version":1,"configs":[{"kind":"LogConfig","name":"x","selector":{"matchExpressions":[{"key":"app","operator":"Bogus"}]},"inputs":[]}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"version":1,"configs":[{"name":"w","inputs":[{"name":"a","files":["/var/log/app/../x"],"format":"regex:("}]}]}`))
	vol := f.TempDir()
	doc := `{"mode":"sidecar","stdout":"wrap","pod-volume":"` + vol + `","container-images":"{\"app\":\"shop:1\"}",
	  "container-mounts":"{\"app\":{\"/var/log/app\":\"c/app/0\"}}","logconfig-file":"` + vol + `/none.json",
	  "inputs":[{"name":"default","files":["` + vol + `/c/app/0/*.log"]}]}`
	a, err := Wire(load(f, []string{"LOGLET_CONFIG=" + doc}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		loaded, err := a.Reload.(*LogConfigs).load(data)
		if err != nil {
			if !strings.Contains(err.Error(), "none.json") && !strings.Contains(err.Error(), "logconfigs.json") {
				t.Fatalf("error %q names neither the file nor its key", err)
			}
			return
		}
		s := a.Reload.(*LogConfigs).side.selection(loaded)
		for _, p := range s.Paths {
			if !filepath.IsAbs(p) || !strings.HasPrefix(p, vol+"/") {
				t.Fatalf("path %q is not on the volume", p)
			}
		}
	})
}
