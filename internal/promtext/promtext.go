// Package promtext keeps the agent's Prometheus metrics and writes them in
// the text exposition format (version 0.0.4), the format every Prometheus
// scrapes.
//
// The agent links it instead of client_golang: client_golang's data model is
// generated protobuf, and with the protobuf runtime it weighed ~1.4 MB of the
// slim binary (go tool nm -size) for counters and gauges a scrape reads as
// text. The webhook and the hub, in the full build only, keep client_golang.
package promtext

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Type is a metric family's type, as the # TYPE line says it.
type Type string

// The types the agent uses. Histograms and summaries are left out: the
// agent has none.
const (
	TypeCounter Type = "counter"
	TypeGauge   Type = "gauge"
)

// Desc names a family of series.
type Desc struct {
	Name, Help string
	Type       Type
	// Labels are the label names; every sample gives a value for each.
	Labels []string
}

// Emit hands one sample of a family to the writer: its value and one value
// per label of the family's Desc, in order.
type Emit func(value float64, labelValues ...string)

// Collector is a family whose samples are read at scrape time.
type Collector interface {
	Desc() Desc
	Collect(emit Emit)
}

// Registry is the set of families one /metrics endpoint serves. It is safe
// for concurrent use.
type Registry struct {
	mu         sync.Mutex
	collectors map[string]Collector
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{collectors: map[string]Collector{}} }

// Register adds c. It refuses an invalid metric or label name, and a name
// already registered: two families of one name would make the scrape
// invalid.
func (r *Registry) Register(c Collector) error {
	d := c.Desc()
	if !validName(d.Name, true) {
		return fmt.Errorf("metric name %q is not valid: use letters, digits, '_' and ':', not starting with a digit", d.Name)
	}
	if d.Type != TypeCounter && d.Type != TypeGauge {
		return fmt.Errorf("metric %s: type %q is not %q or %q", d.Name, d.Type, TypeCounter, TypeGauge)
	}
	for _, l := range d.Labels {
		if !validName(l, false) || strings.HasPrefix(l, "__") {
			return fmt.Errorf("metric %s: label name %q is not valid: use letters, digits and '_', not starting with a digit or '__'", d.Name, l)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.collectors[d.Name]; ok {
		return fmt.Errorf("metric %s is already registered", d.Name)
	}
	r.collectors[d.Name] = c
	return nil
}

// MustRegister registers each of cs, and panics if one cannot be: the
// families are the program's own, so an error is a bug, not input.
func (r *Registry) MustRegister(cs ...Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Family is one family as a scrape sees it.
type Family struct {
	Desc
	Samples []Sample
}

// Sample is one series of a family and its value.
type Sample struct {
	// LabelValues are in the order of the family's Desc.Labels.
	LabelValues []string
	Value       float64
}

// Gather reads every family, sorted by name. Label values that are not
// valid UTF-8 get U+FFFD: Prometheus refuses a scrape that holds one.
func (r *Registry) Gather() []Family {
	r.mu.Lock()
	cs := make([]Collector, 0, len(r.collectors))
	for _, c := range r.collectors {
		cs = append(cs, c)
	}
	r.mu.Unlock()
	fams := make([]Family, 0, len(cs))
	for _, c := range cs {
		f := Family{Desc: c.Desc()}
		c.Collect(func(v float64, values ...string) {
			if len(values) != len(f.Labels) {
				// A collector's bug; a sample with the wrong labels would
				// make Prometheus refuse the whole scrape.
				return
			}
			vs := make([]string, len(values))
			for i, s := range values {
				vs[i] = strings.ToValidUTF8(s, "\uFFFD")
			}
			f.Samples = append(f.Samples, Sample{LabelValues: vs, Value: v})
		})
		fams = append(fams, f)
	}
	slices.SortFunc(fams, func(a, b Family) int { return cmp.Compare(a.Name, b.Name) })
	return fams
}

// WriteTo writes every family in the text exposition format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	var b []byte
	for _, f := range r.Gather() {
		b = appendFamily(b, f)
	}
	n, err := w.Write(b)
	return int64(n), err
}

// ContentType is the text exposition format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// ServeHTTP serves the families as a scrape reads them.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", ContentType)
	r.WriteTo(w)
}

func appendFamily(b []byte, f Family) []byte {
	b = append(b, "# HELP "...)
	b = append(b, f.Name...)
	b = append(b, ' ')
	b = appendEscaped(b, f.Help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, f.Name...)
	b = append(b, ' ')
	b = append(b, f.Type...)
	b = append(b, '\n')
	for _, s := range f.Samples {
		b = append(b, f.Name...)
		if len(f.Labels) > 0 {
			b = append(b, '{')
			for i, l := range f.Labels {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, l...)
				b = append(b, `="`...)
				b = appendEscaped(b, s.LabelValues[i], true)
				b = append(b, '"')
			}
			b = append(b, '}')
		}
		b = append(b, ' ')
		b = appendValue(b, s.Value)
		b = append(b, '\n')
	}
	return b
}

// appendEscaped escapes as the format asks: '\' and newline in help text,
// and '"' too in label values.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendValue(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func validName(s string, colon bool) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for i, c := range s {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (colon && c == ':') || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// value is a float64 updated without a lock.
type value struct{ bits atomic.Uint64 }

func (v *value) load() float64 { return math.Float64frombits(v.bits.Load()) }
func (v *value) set(f float64) { v.bits.Store(math.Float64bits(f)) }
func (v *value) add(f float64) {
	for {
		old := v.bits.Load()
		if v.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+f)) {
			return
		}
	}
}

// Counter is a value that only goes up.
type Counter struct {
	desc Desc
	v    value
}

// NewCounter returns a counter with no labels.
func NewCounter(name, help string) *Counter {
	return &Counter{desc: Desc{Name: name, Help: help, Type: TypeCounter}}
}

// Inc adds 1.
func (c *Counter) Inc() { c.v.add(1) }

// Add adds d; a negative d is ignored, as a counter never goes down.
func (c *Counter) Add(d float64) {
	if d > 0 {
		c.v.add(d)
	}
}

// Value is the counter's value.
func (c *Counter) Value() float64 { return c.v.load() }

func (c *Counter) Desc() Desc        { return c.desc }
func (c *Counter) Collect(emit Emit) { emit(c.v.load()) }

// Gauge is a value that goes up and down.
type Gauge struct {
	desc Desc
	v    value
}

// NewGauge returns a gauge with no labels.
func NewGauge(name, help string) *Gauge {
	return &Gauge{desc: Desc{Name: name, Help: help, Type: TypeGauge}}
}

func (g *Gauge) Set(v float64) { g.v.set(v) }
func (g *Gauge) Add(d float64) { g.v.add(d) }
func (g *Gauge) Inc()          { g.v.add(1) }
func (g *Gauge) Dec()          { g.v.add(-1) }

// Value is the gauge's value.
func (g *Gauge) Value() float64 { return g.v.load() }

func (g *Gauge) Desc() Desc        { return g.desc }
func (g *Gauge) Collect(emit Emit) { emit(g.v.load()) }

// CounterVec is a counter per set of label values.
type CounterVec struct {
	desc Desc
	mu   sync.Mutex
	// series is keyed by the label values joined with 0xff, a byte valid
	// UTF-8 never holds.
	series map[string]*Counter
}

// NewCounterVec returns a counter family with the given label names.
func NewCounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{desc: Desc{Name: name, Help: help, Type: TypeCounter, Labels: labels}, series: map[string]*Counter{}}
}

// WithLabelValues returns the counter of the label values, one per label name, made
// at 0 on first use.
func (v *CounterVec) WithLabelValues(values ...string) *Counter {
	if len(values) != len(v.desc.Labels) {
		panic(fmt.Sprintf("metric %s has labels %q; got %d values", v.desc.Name, v.desc.Labels, len(values)))
	}
	vs := make([]string, len(values))
	for i, s := range values {
		vs[i] = strings.ToValidUTF8(s, "\uFFFD")
	}
	key := strings.Join(vs, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.series[key]
	if !ok {
		c = &Counter{desc: v.desc}
		v.series[key] = c
	}
	return c
}

func (v *CounterVec) Desc() Desc { return v.desc }

// Collect emits the series sorted by label values, so scrapes read the
// same order every time.
func (v *CounterVec) Collect(emit Emit) {
	v.mu.Lock()
	keys := make([]string, 0, len(v.series))
	for k := range v.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	vals := make([]float64, len(keys))
	for i, k := range keys {
		vals[i] = v.series[k].Value()
	}
	v.mu.Unlock()
	for i, k := range keys {
		if len(v.desc.Labels) == 0 {
			emit(vals[i])
			continue
		}
		emit(vals[i], strings.Split(k, "\xff")...)
	}
}

// Func is a family computed at scrape time.
type Func struct {
	desc    Desc
	collect func(Emit)
}

// NewFunc returns the family d whose samples collect emits at each scrape.
func NewFunc(d Desc, collect func(Emit)) *Func { return &Func{desc: d, collect: collect} }

// NewGaugeFunc returns a gauge with no labels read from f at each scrape.
func NewGaugeFunc(name, help string, f func() float64) *Func {
	return NewFunc(Desc{Name: name, Help: help, Type: TypeGauge}, func(emit Emit) { emit(f()) })
}

// NewCounterFunc returns a counter with no labels read from f at each
// scrape.
func NewCounterFunc(name, help string, f func() float64) *Func {
	return NewFunc(Desc{Name: name, Help: help, Type: TypeCounter}, func(emit Emit) { emit(f()) })
}

func (f *Func) Desc() Desc        { return f.desc }
func (f *Func) Collect(emit Emit) { f.collect(emit) }
