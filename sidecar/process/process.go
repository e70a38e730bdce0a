// Package process runs the processors of the configuration document on a
// source's records after parsing, before the package leaves the source:
// drop, keep, redact, set, rename, remove and limit. Nothing a processor
// removes reaches a sink, a checkpoint or a log line of the agent.
//
// A Chain is compiled once per input (the input's processors, then the
// global ones) and counts what it does; each source runs it through a Run
// of its own, which holds the source's rate limit. A dropped record leaves
// its package, but the package still carries the file offset past it, so
// the checkpoint advances over it: it was processed.
package process

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
)

// Reasons a record was dropped, as the counters label them.
const (
	ReasonMatch    = "match"    // drop: match selected it
	ReasonNoMatch  = "no-match" // keep: match did not select it
	ReasonSeverity = "severity" // keep: below min-severity
	ReasonRate     = "rate"     // limit: over the rate
)

// Chain is a compiled list of processors for one input.
type Chain struct {
	input string
	procs []proc
	// strs holds the keys and values set and rename write; a Run puts
	// each in a package's Extra once, when first used.
	strs []string
	// counters: drops by (processor, reason), then redactions by rule.
	counters []counter
	editing  bool // some processor changes attributes
	dropping bool // some processor drops records
}

// counter is one series of loglet_records_dropped_total or
// loglet_redactions_total.
type counter struct {
	processor, reason, rule string
	n                       atomic.Int64
}

type kind uint8

const (
	kindDrop kind = iota
	kindKeep
	kindRedact
	kindSet
	kindRename
	kindRemove
	kindLimit
)

// proc is one compiled processor.
type proc struct {
	kind kind
	name string
	// drop, keep: the RE2 (nil: none given); whole: matched over all of
	// a package's bodies at once (no processor before it changes bodies)
	match       *parse.Search
	whole       bool
	field       string
	minSeverity record.Severity
	// counter indexes of drops (match or rate), and for keep by severity
	dropped, droppedSeverity int
	redact                   *redactor
	// set: keys and values (indexes into Chain.strs; label for from-label)
	set []setAttr
	// rename: from key → index of the new key in strs
	rename map[string]int
	remove []string
	limit  Limit
}

type setAttr struct {
	key   int
	value int    // index in strs; -1: from label
	label string // the pod label whose value is set
}

// Options are the agent-wide settings processors use.
type Options struct {
	// Salt keys redact's hash (the redact-salt setting).
	Salt string
}

var severityNames = map[string]record.Severity{
	"TRACE": record.SeverityTrace, "DEBUG": record.SeverityDebug, "INFO": record.SeverityInfo,
	"WARN": record.SeverityWarn, "WARNING": record.SeverityWarn, "ERROR": record.SeverityError, "FATAL": record.SeverityFatal,
}

// Compile checks list and compiles it for input; nil when the list is
// empty (a source without processors pays nothing).
func Compile(input string, list []Config, opt Options) (*Chain, error) {
	if len(list) == 0 {
		return nil, nil
	}
	labels, err := names(list)
	if err != nil {
		return nil, err
	}
	c := &Chain{input: input}
	for i, cfg := range list {
		if err := c.add(cfg, labels[i], opt); err != nil {
			return nil, fmt.Errorf("processors[%d] (%s): %w", i, cfg.Kind(), err)
		}
	}
	return c, nil
}

// add compiles cfg, labelled name, onto the chain.
func (c *Chain) add(cfg Config, name string, opt Options) error {
	if err := cfg.check(); err != nil {
		return err
	}
	str := func(s string) int {
		c.strs = append(c.strs, s)
		return len(c.strs) - 1
	}
	count := func(processor, reason, rule string) int {
		c.counters = append(c.counters, counter{processor: processor, reason: reason, rule: rule})
		return len(c.counters) - 1
	}
	p := proc{name: name}
	var err error
	switch {
	case cfg.Drop != nil, cfg.Keep != nil:
		m, reason := cfg.Drop, ReasonMatch
		p.kind = kindDrop
		if cfg.Keep != nil {
			m, reason, p.kind = cfg.Keep, ReasonNoMatch, kindKeep
		}
		if m.Match != "" {
			if p.match, err = parse.NewSearch(m.Match); err != nil {
				return fmt.Errorf("match: invalid RE2 %q: %w", m.Match, err)
			}
			p.dropped = count(p.name, reason, "")
		}
		p.field = m.Field
		p.whole = p.match != nil && p.field == "" && !slices.ContainsFunc(c.procs, func(q proc) bool { return q.kind == kindRedact })
		if m.MinSeverity != "" {
			s, ok := severityNames[strings.ToUpper(m.MinSeverity)]
			if !ok {
				return fmt.Errorf("min-severity: %q: want TRACE, DEBUG, INFO, WARN, ERROR or FATAL", m.MinSeverity)
			}
			p.minSeverity = s
			p.droppedSeverity = count(p.name, ReasonSeverity, "")
		}
		c.dropping = true
	case cfg.Redact != nil:
		p.kind = kindRedact
		if p.redact, err = newRedactor(cfg.Redact, opt.Salt); err != nil {
			return err
		}
		for _, r := range p.redact.rules {
			p.redact.counter = append(p.redact.counter, c.counterFor(r.name, count))
		}
		if p.redact.passwordKeys {
			p.redact.pwCounter = c.counterFor("password-field", count)
		}
	case cfg.Set != nil:
		p.kind = kindSet
		// Sorted: the records' attributes come out the same every time.
		for _, k := range slices.Sorted(maps.Keys(cfg.Set.Attributes)) {
			v := cfg.Set.Attributes[k]
			a := setAttr{key: str(k), value: -1, label: v.FromLabel}
			if v.FromLabel == "" {
				a.value = str(v.Text)
			}
			p.set = append(p.set, a)
		}
		c.editing = true
	case cfg.Rename != nil:
		p.kind = kindRename
		p.rename = map[string]int{}
		for from, to := range cfg.Rename.Attributes {
			p.rename[from] = str(to)
		}
		c.editing = true
	case cfg.Remove != nil:
		p.kind = kindRemove
		p.remove = slices.Clone(cfg.Remove.Attributes)
		c.editing = true
	case cfg.Limit != nil:
		p.kind = kindLimit
		p.limit = *cfg.Limit
		if p.limit.Burst == 0 {
			p.limit.Burst = max(1, p.limit.LinesPerSecond)
		}
		p.dropped = count(p.name, ReasonRate, "")
		c.dropping = true
	}
	c.procs = append(c.procs, p)
	return nil
}

// counterFor returns the redaction counter of rule, shared by every
// redact processor of the chain.
func (c *Chain) counterFor(rule string, count func(processor, reason, rule string) int) int {
	for i := range c.counters {
		if c.counters[i].rule == rule && c.counters[i].processor == "" {
			return i
		}
	}
	return count("", "", rule)
}

// Dropped is one series of loglet_records_dropped_total.
type Dropped struct {
	Input, Processor, Reason string
	Records                  int64
}

// Redacted is one series of loglet_redactions_total.
type Redacted struct {
	Input, Rule string
	Count       int64
}

// Counts returns the chain's counters: records dropped by processor and
// reason, and redactions by rule.
func (c *Chain) Counts() (dropped []Dropped, redacted []Redacted) {
	if c == nil {
		return nil, nil
	}
	for i := range c.counters {
		k := &c.counters[i]
		if k.rule != "" {
			redacted = append(redacted, Redacted{Input: c.input, Rule: k.rule, Count: k.n.Load()})
		} else {
			dropped = append(dropped, Dropped{Input: c.input, Processor: k.processor, Reason: k.reason, Records: k.n.Load()})
		}
	}
	return dropped, redacted
}

// Run is a chain at work on one source.
type Run struct {
	c      *Chain
	origin *record.Origin
	log    *slog.Logger
	// labels resolves set's from-label per processor and attribute ("" with
	// ok false: the pod has no such label).
	labels [][]labelValue
	// setKeys are, per set processor, the keys it writes for this
	// source (a from-label the pod lacks writes nothing).
	setKeys [][]string
	buckets []bucket
	counts  []int64 // this package's counts, added to the chain's once
	// limitLogged is when each limit last logged its drops, and what it
	// dropped since.
	limitLogged  []time.Time
	limitPending []int64
	// refs caches strs' places in the current package's Extra.
	// hits[i] holds, per record, whether processor i's match selects it,
	// when hitsSet[i]: matched over the package's bodies at once.
	hits     [][]bool
	hitsSet  []bool
	refs     []record.Ref
	refsSet  []bool
	spans    []span
	attrs    []record.Attr
	newSpans []record.Span
}

type labelValue struct {
	value string
	ok    bool
}

// Start returns the chain's run for the source origin describes (nil for
// a nil chain); log gets limit's reports.
func (c *Chain) Start(origin *record.Origin, log *slog.Logger) *Run {
	if c == nil {
		return nil
	}
	r := &Run{c: c, origin: origin, log: log, counts: make([]int64, len(c.counters)),
		refs: make([]record.Ref, len(c.strs)), refsSet: make([]bool, len(c.strs)),
		labels: make([][]labelValue, len(c.procs)), setKeys: make([][]string, len(c.procs)), buckets: make([]bucket, len(c.procs)),
		hits: make([][]bool, len(c.procs)), hitsSet: make([]bool, len(c.procs)),
		limitLogged: make([]time.Time, len(c.procs)), limitPending: make([]int64, len(c.procs))}
	for i, p := range c.procs {
		for _, a := range p.set {
			var lv labelValue
			if a.label != "" {
				lv.value, lv.ok = resourceValue(origin, "k8s.pod.label."+a.label)
			}
			r.labels[i] = append(r.labels[i], lv)
			if a.label == "" || lv.ok {
				r.setKeys[i] = append(r.setKeys[i], c.strs[a.key])
			}
		}
		if p.kind == kindLimit {
			r.buckets[i] = bucket{tokens: p.limit.Burst}
		}
	}
	return r
}

func resourceValue(o *record.Origin, key string) (string, bool) {
	if o == nil {
		return "", false
	}
	for _, kv := range o.Resource {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

// ref is strs[i] as a Ref into p's Extra.
func (r *Run) ref(p *record.Package, i int) record.Ref {
	if !r.refsSet[i] {
		start := len(p.Extra)
		p.Extra = append(p.Extra, r.c.strs[i]...)
		r.refs[i], r.refsSet[i] = record.ExtraRef(start, len(p.Extra)), true
	}
	return r.refs[i]
}

// Apply runs the chain on p's records, read at now: records are dropped,
// bodies and attribute values redacted, attributes set, renamed and
// removed. p keeps its identity and end offset whatever is dropped.
func (r *Run) Apply(p *record.Package, now time.Time) {
	if r == nil || len(p.Records) == 0 {
		return
	}
	clear(r.refsSet)
	decided := true // every processor is a drop or keep matched over all bodies
	for i := range r.c.procs {
		pr := &r.c.procs[i]
		switch {
		case pr.kind == kindLimit:
			r.buckets[i].refill(now, pr.limit)
		case pr.whole:
			if cap(r.hits[i]) < len(p.Records) {
				r.hits[i] = make([]bool, len(p.Records))
			}
			r.hits[i] = r.hits[i][:len(p.Records)]
			r.hitsSet[i] = pr.match.MatchBodies(p, r.hits[i])
		}
		decided = decided && r.hitsSet[i] && pr.minSeverity == record.SeverityNone
	}
	if decided {
		r.keepHits(p)
	} else {
		r.apply(p)
	}
	for i, n := range r.counts {
		if n != 0 {
			r.c.counters[i].n.Add(n)
			r.counts[i] = 0
		}
	}
	r.reportLimits(now)
}

// keepHits applies a chain of drops and keeps whose matches are known
// for every record: the common filter chain costs a look-up per record.
func (r *Run) keepHits(p *record.Package) {
	procs := r.c.procs
	sp := spanKeeper{old: p.Spans, spans: r.newSpans[:0], last: -1}
	w := 0
next:
	for i := range p.Records {
		for pi := range procs {
			if r.hits[pi][i] == (procs[pi].kind == kindDrop) {
				r.counts[procs[pi].dropped]++
				continue next
			}
		}
		sp.keep(i, w)
		p.Records[w] = p.Records[i]
		w++
	}
	p.Records = p.Records[:w]
	p.Spans, r.newSpans = sp.spans, p.Spans[:0]
}

// spanKeeper rebuilds a package's spans as records leave it: record i
// kept as the w-th keeps the time it was read at.
type spanKeeper struct {
	old, spans []record.Span
	cur, last  int
}

func (k *spanKeeper) keep(i, w int) {
	for k.cur+1 < len(k.old) && k.old[k.cur+1].First <= i {
		k.cur++
	}
	if k.cur < len(k.old) && k.cur != k.last {
		k.spans = append(k.spans, record.Span{First: w, Time: k.old[k.cur].Time})
		k.last = k.cur
	}
}

// apply runs every processor on each record in turn.
func (r *Run) apply(p *record.Package) {
	attrs := r.attrs[:0]
	sp := spanKeeper{old: p.Spans, spans: r.newSpans[:0], last: -1}
	w := 0
	for i := range p.Records {
		e := p.Records[i]
		from := len(attrs)
		if r.c.editing {
			attrs = append(attrs, p.Attrs[e.AttrStart:e.AttrEnd]...)
			e.AttrStart, e.AttrEnd = uint32(from), uint32(len(attrs))
		}
		keep := true
		// a are the record's attributes as the processors so far left
		// them.
		a := func() []record.Attr {
			if r.c.editing {
				return attrs[from:]
			}
			return p.Attrs[e.AttrStart:e.AttrEnd]
		}
		for pi := range r.c.procs {
			pr := &r.c.procs[pi]
			switch pr.kind {
			case kindDrop:
				if r.selects(p, &e, a, pi, i) {
					r.counts[pr.dropped]++
					keep = false
				}
			case kindKeep:
				if pr.minSeverity != record.SeverityNone && e.Severity != record.SeverityNone && e.Severity < pr.minSeverity {
					r.counts[pr.droppedSeverity]++
					keep = false
				} else if pr.match != nil && !r.selects(p, &e, a, pi, i) {
					r.counts[pr.dropped]++
					keep = false
				}
			case kindLimit:
				if !r.buckets[pi].take() {
					r.counts[pr.dropped]++
					r.limitPending[pi]++
					keep = false
				}
			case kindRedact:
				r.redact(p, &e, a(), pr.redact)
			case kindSet:
				attrs = r.setAttrs(p, attrs, from, pi, pr)
			case kindRename:
				attrs = r.renameAttrs(p, attrs, from, pr)
			case kindRemove:
				attrs = dropAttrs(p, attrs, from, pr.remove)
			}
			if !keep {
				break
			}
		}
		if r.c.editing {
			e.AttrEnd = uint32(len(attrs))
		}
		if !keep {
			attrs = attrs[:from]
			continue
		}
		sp.keep(i, w)
		p.Records[w] = e
		w++
	}
	p.Records = p.Records[:w]
	if r.c.editing {
		p.Attrs, r.attrs = attrs, p.Attrs[:0]
	}
	if r.c.dropping {
		p.Spans, r.newSpans = sp.spans, p.Spans[:0]
	} else {
		r.newSpans = sp.spans[:0]
	}
}

// selects tells whether processor pi's match selects record e, the i-th
// of the package as it came.
func (r *Run) selects(p *record.Package, e *record.Entry, attrs func() []record.Attr, pi, i int) bool {
	if r.hitsSet[pi] {
		return r.hits[pi][i]
	}
	return r.matches(p, e, attrs(), &r.c.procs[pi])
}

// matches tells whether pr's match selects record e: its body, or the
// value of pr.field among its attributes or the source's resource.
func (r *Run) matches(p *record.Package, e *record.Entry, attrs []record.Attr, pr *proc) bool {
	var text []byte
	if pr.field == "" {
		text = p.BodyOf(*e)
	} else {
		v, ok := fieldValue(p, attrs, pr.field)
		if !ok {
			s, ok := resourceValue(p.Origin, pr.field)
			if !ok {
				return false
			}
			v = []byte(s)
		}
		text = v
	}
	return pr.match.Match(text)
}

// fieldValue is the value of attribute key, a JSON string's without its
// quotes.
func fieldValue(p *record.Package, attrs []record.Attr, key string) ([]byte, bool) {
	for _, a := range attrs {
		if string(p.Bytes(a.Key)) != key {
			continue
		}
		v := p.Bytes(a.Value)
		if a.Raw && len(v) >= 2 && v[0] == '"' {
			var s string
			if json.Unmarshal(v, &s) == nil {
				return []byte(s), true
			}
		}
		return v, true
	}
	return nil, false
}

// redact redacts e's body and its attributes' values. The record's line
// (what of it lies in Data: the body and the attributes a parser found
// there) is scanned once for what the rules need to see; values made in
// Extra (unescaped, joined) are scanned on their own.
func (r *Run) redact(p *record.Package, e *record.Entry, attrs []record.Attr, rd *redactor) {
	may := r.candidates(p, e, attrs, rd)
	if may == 0 && !rd.patterns {
		return
	}
	// A value of a key naming a secret that the parser took from the
	// body (a regex group, a logfmt pair) goes from the body too.
	r.spans = r.spans[:0]
	if may&mayPassword != 0 && e.Flags&record.FlagExtra == 0 {
		for _, a := range attrs {
			if a.Value.InStrings() || a.Value.InExtra() || !isSecretKey(p.Bytes(a.Key)) {
				continue
			}
			s, end := a.Value.Bounds()
			if s >= int(e.Start) && end <= int(e.End) && end > s {
				r.spans = append(r.spans, span{s - int(e.Start), end - int(e.Start), -1})
			}
		}
	}
	var changed bool
	start := len(p.Extra)
	p.Extra, changed, r.spans = rd.redact(p.Extra, p.BodyOf(*e), may, r.spans, r.counts)
	if changed {
		e.Start, e.End = uint32(start), uint32(len(p.Extra))
		e.Flags |= record.FlagExtra
	}
	for i := range attrs {
		a := &attrs[i]
		if a.Value.InStrings() {
			continue // one of the parser's own strings (a parse error's message)
		}
		v := p.Bytes(a.Value)
		if rd.passwordKeys && len(v) > 0 && isSecretKey(p.Bytes(a.Key)) && !(a.Raw && (v[0] == '{' || v[0] == '[')) {
			start := len(p.Extra)
			p.Extra = rd.replacement(p.Extra, v)
			a.Value, a.Raw = record.ExtraRef(start, len(p.Extra)), false
			r.counts[rd.pwCounter]++
			continue
		}
		start := len(p.Extra)
		p.Extra, changed, r.spans = rd.redact(p.Extra, v, may, r.spans[:0], r.counts)
		if !changed {
			continue
		}
		a.Value = record.ExtraRef(start, len(p.Extra))
		// A raw value (a number, a nested object) stays raw JSON only if
		// the replacement kept it valid; else it is shipped as text.
		if a.Raw && !json.Valid(p.Extra[start:]) {
			a.Raw = false
		}
	}
}

// candidates are the built-in rules of rd that may find something in
// record e.
func (r *Run) candidates(p *record.Package, e *record.Entry, attrs []record.Attr, rd *redactor) uint8 {
	if rd.builtin == 0 {
		return 0
	}
	// The body, then each value not inside it and long enough to hold a
	// secret; a key is looked at on its own, for a name of a secret.
	may := candidates(p.BodyOf(*e))
	inBody := func(ref record.Ref) bool {
		if e.Flags&record.FlagExtra != 0 || ref.InExtra() || ref.InStrings() {
			return false
		}
		s, end := ref.Bounds()
		return s >= int(e.Start) && end <= int(e.End)
	}
	for _, a := range attrs {
		if k := p.Bytes(a.Key); rd.passwordKeys && len(k) >= 2 && mayEndKey(k[len(k)-2], k[len(k)-1]) && isSecretKey(k) {
			may |= mayPassword
		}
		if a.Value.InStrings() || a.Value.Len < minSecret || inBody(a.Value) {
			continue
		}
		may |= candidates(p.Bytes(a.Value))
	}
	return may & rd.builtin
}

// minSecret is the shortest text a built-in rule finds anything in
// (pwd=x).
const minSecret = 5

// setAttrs sets pr's attributes on the record whose attributes are
// attrs[from:], replacing those of the same key.
func (r *Run) setAttrs(p *record.Package, attrs []record.Attr, from, pi int, pr *proc) []record.Attr {
	// What this source's set writes replaces attributes of those keys.
	attrs = dropAttrs(p, attrs, from, r.setKeys[pi])
	for j, s := range pr.set {
		var val record.Ref
		if s.value >= 0 {
			val = r.ref(p, s.value)
		} else {
			lv := r.labels[pi][j]
			if !lv.ok {
				continue
			}
			start := len(p.Extra)
			p.Extra = append(p.Extra, lv.value...)
			val = record.ExtraRef(start, len(p.Extra))
		}
		attrs = append(attrs, record.Attr{Key: r.ref(p, s.key), Value: val})
	}
	return attrs
}

// renameAttrs renames the attributes of attrs[from:] as pr says; a
// renamed attribute replaces one that had its new key.
func (r *Run) renameAttrs(p *record.Package, attrs []record.Attr, from int, pr *proc) []record.Attr {
	var buf [8]int
	made := buf[:0] // the new keys (indexes into strs) this record gets
	for _, a := range attrs[from:] {
		if to, ok := pr.rename[string(p.Bytes(a.Key))]; ok {
			made = append(made, to)
		}
	}
	if len(made) == 0 {
		return attrs
	}
	w := from
next:
	for _, a := range attrs[from:] {
		key := p.Bytes(a.Key)
		if to, ok := pr.rename[string(key)]; ok {
			a.Key = r.ref(p, to)
		} else {
			for _, m := range made {
				if r.c.strs[m] == string(key) {
					continue next
				}
			}
		}
		attrs[w] = a
		w++
	}
	return attrs[:w]
}

// dropAttrs removes from attrs[from:] the attributes whose keys are in
// keys (a few: compared one by one, cheaper than hashing each key).
func dropAttrs(p *record.Package, attrs []record.Attr, from int, keys []string) []record.Attr {
	if len(keys) == 0 {
		return attrs
	}
	w := from
next:
	for _, a := range attrs[from:] {
		k := p.Bytes(a.Key)
		for _, key := range keys {
			if string(k) == key {
				continue next
			}
		}
		attrs[w] = a
		w++
	}
	return attrs[:w]
}

// limitLogEvery is how often a limit that drops says so, per source.
const limitLogEvery = time.Minute

// reportLimits logs what each limit dropped, at most once a minute.
func (r *Run) reportLimits(now time.Time) {
	for i, n := range r.limitPending {
		if n == 0 || now.Sub(r.limitLogged[i]) < limitLogEvery {
			continue
		}
		pr := &r.c.procs[i]
		path := ""
		if r.origin != nil {
			path = r.origin.Path
		}
		r.log.Warn("limit: dropped records over the rate", "input", r.c.input, "processor", pr.name, "path", path,
			"dropped", n, "lines-per-second", pr.limit.LinesPerSecond, "burst", pr.limit.Burst)
		r.limitLogged[i], r.limitPending[i] = now, 0
	}
}

// bucket is a token bucket: a record passes if a token is left.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time, l Limit) {
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(l.Burst, b.tokens+now.Sub(b.last).Seconds()*l.LinesPerSecond)
	}
	b.last = now
}

func (b *bucket) take() bool {
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
