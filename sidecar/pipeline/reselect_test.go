package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/sink"
	"github.com/loglet/loglet/sidecar/sink/sinktest"
	"github.com/loglet/loglet/sidecar/source"
)

// runReselectable runs an agent until the test calls stop, which drains
// it: every file it reads then is read to its end and delivered.
func runReselectable(t *testing.T, cfg Config, out string) (*Agent, func()) {
	t.Helper()
	a, _, stop := runRouted(t, cfg, out)
	return a, stop
}

// routeSink delivers to a file sink and keeps the route each record went
// to, which the file does not hold.
type routeSink struct {
	sink.Sink
	mu     sync.Mutex
	routes map[string]string // by body
}

func (s *routeSink) Write(ctx context.Context, pkgs []*record.Package) (int, error) {
	s.mu.Lock()
	for _, p := range pkgs {
		recs, _, _ := sinktest.Parse(bytes.NewReader(p.AppendNDJSON(nil)))
		for _, r := range recs {
			s.routes[r.Body] = p.Origin.Route
		}
	}
	s.mu.Unlock()
	return s.Sink.Write(ctx, pkgs)
}

func (s *routeSink) route(body string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.routes[body]
}

// runRouted is runReselectable with the routes delivered.
func runRouted(t *testing.T, cfg Config, out string) (*Agent, *routeSink, func()) {
	t.Helper()
	a, inner := newAgent(t, cfg, t.TempDir(), "file://"+out)
	sk := &routeSink{Sink: inner, routes: map[string]string{}}
	a.sink = sk
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx); sk.Close() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}
	t.Cleanup(stop)
	poll.Until(t, 10*time.Second, "agent ready", a.Ready)
	return a, sk, stop
}

// byInput selects each file by its name: names["old.log"] is its input.
// It reads any other file under no input, as a mode's Select reads the
// mode's own files (a sidecar's stdout copies): what the agent reads is
// up to its paths.
func byInput(names map[string]string) func(string) source.Choice {
	return func(path string) source.Choice {
		in := names[filepath.Base(path)]
		return source.Choice{Input: in, Route: in + "-route", Resource: []record.KeyValue{{Key: "input", Value: in}}}
	}
}

func appendNumbered(t *testing.T, path, prefix string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s %05d\n", prefix, i)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

// delivered counts the delivered records by body, and gives each body's
// input.
func delivered(t *testing.T, out string) (count map[string]int, input map[string]string) {
	t.Helper()
	recs, torn, err := sinktest.ReadFileAs[sinktest.Full](out)
	if err != nil && !os.IsNotExist(err) || torn > 0 {
		t.Fatalf("read %s: %v (%d torn)", out, err, torn)
	}
	count, input = map[string]int{}, map[string]string{}
	for _, r := range recs {
		count[r.Body]++
		input[r.Body], _ = r.Attributes["loglet.input"].(string)
	}
	return count, input
}

// TestReselectSwapsInputs: a selection that drops one input's file and
// adds another's while the agent runs: the new file is read from its
// start, the dropped one's lines written before arrive once and those
// written after it was released are never read (not even by the drain at
// the end, which reads every file being read to its end), and a file both
// selections read goes on as one source.
func TestReselectSwapsInputs(t *testing.T) {
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out.ndjson")
	old, keep, add := filepath.Join(dir, "old.log"), filepath.Join(dir, "keep.log"), filepath.Join(dir, "new.log")
	appendNumbered(t, old, "old", 0, 200)
	appendNumbered(t, keep, "keep", 0, 100)
	appendNumbered(t, add, "new", 0, 100) // before the swap: read from its start
	cfg := testConfig(old, keep)
	cfg.Select = byInput(map[string]string{"old.log": "old", "keep.log": "keep"})
	a, stop := runReselectable(t, cfg, out)
	poll.Until(t, 10*time.Second, "old and keep delivered", func() bool {
		n, _ := delivered(t, out)
		return n["old 00199"] > 0 && n["keep 00099"] > 0
	})
	appendNumbered(t, old, "old", 200, 300) // written before the swap: delivered

	swapped := time.Now()
	err := a.Reselect(context.Background(), Selection{Paths: []string{keep, add},
		Select: byInput(map[string]string{"keep.log": "keep", "new.log": "new"})})
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "new's lines and old's last line delivered", func() bool {
		n, _ := delivered(t, out)
		return n["new 00099"] > 0 && n["old 00299"] > 0
	})
	t.Logf("new input delivered %s after the swap", time.Since(swapped))
	appendNumbered(t, keep, "keep", 100, 200)
	// Its source released, the old file is not read any more.
	poll.Until(t, 10*time.Second, "old's source released", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, f := range a.live {
			if f.Origin().Path == old {
				return false
			}
		}
		return len(a.retiring) == 0
	})
	appendNumbered(t, old, "late", 0, 50)
	// Another selection (the same) sweeps the checkpoints: the old file's,
	// grown, is not finished as a rotated file would be.
	if err := a.Reselect(context.Background(), Selection{Paths: []string{keep, add},
		Select: byInput(map[string]string{"keep.log": "keep", "new.log": "new"})}); err != nil {
		t.Fatal(err)
	}
	appendNumbered(t, add, "new", 100, 200)
	poll.Until(t, 10*time.Second, "new lines after the swap delivered", func() bool {
		n, _ := delivered(t, out)
		return n["new 00199"] > 0 && n["keep 00199"] > 0
	})
	stop()

	n, input := delivered(t, out)
	sources := map[string]bool{}
	recs, _, _ := sinktest.ReadFileAs[sinktest.Full](out)
	for _, r := range recs {
		if strings.HasPrefix(r.Body, "keep ") {
			sources[r.Attributes["loglet.source_id"].(string)] = true
		}
	}
	if len(sources) != 1 {
		t.Errorf("keep.log was read as %d sources, want 1 (untouched by the swap)", len(sources))
	}
	for _, c := range []struct {
		prefix, input string
		n             int
	}{{"old", "old", 300}, {"keep", "keep", 200}, {"new", "new", 200}} {
		for i := range c.n {
			body := fmt.Sprintf("%s %05d", c.prefix, i)
			if n[body] != 1 || input[body] != c.input {
				t.Fatalf("%q delivered %d times with input %q, want once with %q", body, n[body], input[body], c.input)
			}
		}
	}
	for body := range n {
		if strings.HasPrefix(body, "late ") {
			t.Fatalf("%q was written to old.log after its input was removed and released, and was read", body)
		}
	}
}

// TestReselectChangesInput: a file the new selection reads under another
// input (same path) is finished under the old one and resumed from its
// checkpoint under the new one: every line once, the old input's lines
// first, the new one's after, never mixed, each to its input's route.
func TestReselectChangesInput(t *testing.T) {
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out.ndjson")
	app := filepath.Join(dir, "app.log")
	appendNumbered(t, app, "line", 0, 100)
	cfg := testConfig(app)
	cfg.Select = byInput(map[string]string{"app.log": "a"})
	a, routes, stop := runRouted(t, cfg, out)
	poll.Until(t, 10*time.Second, "first lines delivered", func() bool {
		n, _ := delivered(t, out)
		return n["line 00099"] > 0
	})
	if err := a.Reselect(context.Background(), Selection{Paths: []string{app}, Select: byInput(map[string]string{"app.log": "b"})}); err != nil {
		t.Fatal(err)
	}
	next := 100
	poll.Until(t, 10*time.Second, "a line under input b", func() bool {
		appendNumbered(t, app, "line", next, next+1)
		next++
		_, input := delivered(t, out)
		for _, in := range input {
			if in == "b" {
				return true
			}
		}
		return false
	})
	stop()
	n, input := delivered(t, out)
	switched := false
	for i := range next {
		body := fmt.Sprintf("line %05d", i)
		if n[body] != 1 {
			t.Fatalf("%q delivered %d times, want once", body, n[body])
		}
		if r := routes.route(body); r != input[body]+"-route" {
			t.Fatalf("%q of input %q went to route %q, want %s-route", body, input[body], r, input[body])
		}
		switch in := input[body]; {
		case in == "b":
			switched = true
		case in != "a" || switched:
			t.Fatalf("%q has input %q after input b began (or none): the inputs mixed", body, in)
		}
	}
	if i := input[fmt.Sprintf("line %05d", next-1)]; i != "b" {
		t.Fatalf("the last line has input %q, want b", i)
	}
}
