package promtext

import (
	"bytes"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func sample() *Registry {
	r := NewRegistry()
	c := NewCounter("app_sent_total", "Records sent.")
	c.Add(3)
	c.Inc()
	c.Add(-5) // ignored: counters never go down
	g := NewGauge("app_up", "1 while up;\nsee \\docs.")
	g.Set(1)
	g.Dec()
	g.Add(0.5)
	v := NewCounterVec("app_refused_total", "Files refused.", "reason", "path")
	v.WithLabelValues("outside", `/var/log/"q".log`).Inc()
	v.WithLabelValues("outside", "/var/log/\xff.log").Add(2)
	v.WithLabelValues("special", "a\\b\nc").Inc()
	r.MustRegister(c, g, v,
		NewGaugeFunc("app_inf", "Infinite.", func() float64 { return math.Inf(1) }),
		NewCounterFunc("app_big_total", "Big.", func() float64 { return 1.5e20 }))
	return r
}

func TestWriteTo(t *testing.T) {
	var b bytes.Buffer
	if _, err := sample().WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP app_big_total Big.
# TYPE app_big_total counter
app_big_total 1.5e+20
# HELP app_inf Infinite.
# TYPE app_inf gauge
app_inf +Inf
# HELP app_refused_total Files refused.
# TYPE app_refused_total counter
app_refused_total{reason="outside",path="/var/log/\"q\".log"} 1
app_refused_total{reason="outside",path="/var/log/` + "\uFFFD" + `.log"} 2
app_refused_total{reason="special",path="a\\b\nc"} 1
# HELP app_sent_total Records sent.
# TYPE app_sent_total counter
app_sent_total 4
# HELP app_up 1 while up;\nsee \\docs.
# TYPE app_up gauge
app_up 0.5
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestParsers reads a scrape with Prometheus's own text parser and, where
// make test provides it, promtool's linter: what a real Prometheus reads.
func TestParsers(t *testing.T) {
	r := sample()
	if err := RegisterRuntime(r); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); expfmt.ResponseFormat(rec.Header()) != expfmt.NewFormat(expfmt.TypeTextPlain) {
		t.Errorf("Content-Type %q is not the text format's", ct)
	}
	body := rec.Body.Bytes()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("Prometheus's parser refuses the scrape: %v\n%s", err, body)
	}
	for _, name := range []string{"app_refused_total", "process_resident_memory_bytes", "process_cpu_seconds_total", "process_start_time_seconds",
		"process_open_fds", "go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes", "go_info"} {
		f, ok := fams[name]
		if !ok || len(f.GetMetric()) == 0 {
			t.Errorf("no %s in the scrape", name)
			continue
		}
		m := f.GetMetric()[0]
		if v := m.GetGauge().GetValue() + m.GetCounter().GetValue(); v <= 0 && name != "app_refused_total" {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	var paths []string
	for _, m := range fams["app_refused_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "path" {
				paths = append(paths, l.GetValue())
			}
		}
	}
	if want := []string{`/var/log/"q".log`, "/var/log/\uFFFD.log", "a\\b\nc"}; !slices.Equal(paths, want) {
		t.Errorf("path labels as Prometheus reads them: %q, want %q", paths, want)
	}

	promtool := os.Getenv("PROMTOOL")
	if promtool == "" {
		if os.Getenv("PROMTOOL_REQUIRED") != "" {
			t.Fatal("PROMTOOL_REQUIRED is set but PROMTOOL is not")
		}
		t.Skip("PROMTOOL is not set: make test sets it (hack/promtool.sh)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestRegisterRefuses(t *testing.T) {
	r := NewRegistry()
	r.MustRegister(NewCounter("ok_total", "x"))
	for _, tc := range []struct {
		c    Collector
		want string
	}{
		{NewCounter("ok_total", "again"), "already registered"},
		{NewCounter("1bad", "x"), `metric name "1bad" is not valid`},
		{NewCounter("bad-name", "x"), `metric name "bad-name" is not valid`},
		{NewCounterVec("v_total", "x", "le:x"), `label name "le:x" is not valid`},
		{NewCounterVec("w_total", "x", "__name"), `label name "__name" is not valid`},
		{NewFunc(Desc{Name: "h", Type: "histogram"}, func(Emit) {}), `type "histogram"`},
	} {
		err := r.Register(tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Register(%s): %v, want an error with %q", tc.c.Desc().Name, err, tc.want)
		}
	}
}

// TestWrongLabelCount keeps a collector's bug out of the scrape: a sample
// with fewer label values than names is dropped, not written half.
func TestWrongLabelCount(t *testing.T) {
	r := NewRegistry()
	r.MustRegister(NewFunc(Desc{Name: "x", Type: TypeGauge, Labels: []string{"a", "b"}}, func(emit Emit) {
		emit(1, "only-a")
		emit(2, "a", "b")
	}))
	f := r.Gather()[0]
	if len(f.Samples) != 1 || f.Samples[0].Value != 2 {
		t.Errorf("samples %+v, want only the one with both labels", f.Samples)
	}
}
