package parse

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"unicode/utf8"

	"github.com/loglet/loglet/sidecar/record"
)

// Go's regexp engine reads about 80 MB/s, whatever the pattern. Most
// regular expressions written for log lines are a chain of literals and runs
// of a character class, each run ended by a byte it cannot contain:
//
//	^(?P<ip>\S+) \S+ \[(?P<time>[^\]]+)\] "(?P<req>[^"]*)" (?P<status>\d+)
//
// Such a chain matches without backtracking: a greedy run stops at the
// only place the next literal can begin. chain compiles those patterns to
// a byte-level matcher that gives the same submatches as regexp (a fuzz
// test compares them), and leaves every other pattern to regexp.

type chainOp uint8

const (
	opLiteral chainOp = iota
	opRun             // a run of class bytes, at least min of them
	opOne             // one rune of a class
	opEnd             // end of text
)

type chainStep struct {
	op      chainOp
	lit     []byte
	class   *[256]bool // for a rune of several bytes: whether it is in, by its first byte
	min     int
	capture int // submatch index, 0 if none
}

type chain struct {
	steps []chainStep
	ncap  int
}

// compileChain returns a chain matcher for re, or nil if re is not such a
// chain.
func compileChain(re *regexp.Regexp, expr string) *chain {
	tree, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	tree = tree.Simplify()
	if tree.Op != syntax.OpConcat || len(tree.Sub) < 2 || tree.Sub[0].Op != syntax.OpBeginText {
		return nil
	}
	c := &chain{ncap: re.NumSubexp() + 1}
	for _, sub := range flatten(tree.Sub[1:], nil) {
		capture := 0
		if sub.Op == syntax.OpCapture {
			capture = sub.Cap
			sub = sub.Sub[0]
		}
		switch sub.Op {
		case syntax.OpLiteral:
			if sub.Flags&syntax.FoldCase != 0 {
				return nil
			}
			var lit []byte
			for _, r := range sub.Rune {
				lit = utf8.AppendRune(lit, r)
			}
			c.steps = append(c.steps, chainStep{op: opLiteral, lit: lit, capture: capture})
		case syntax.OpPlus, syntax.OpStar:
			if sub.Flags&syntax.NonGreedy != 0 {
				return nil
			}
			class := byteClass(sub.Sub[0])
			if class == nil {
				return nil
			}
			min := 0
			if sub.Op == syntax.OpPlus {
				min = 1
			}
			c.steps = append(c.steps, chainStep{op: opRun, class: class, min: min, capture: capture})
		case syntax.OpEndText:
			if capture != 0 {
				return nil
			}
			c.steps = append(c.steps, chainStep{op: opEnd})
		default:
			class := byteClass(sub)
			if class == nil {
				return nil
			}
			c.steps = append(c.steps, chainStep{op: opOne, class: class, capture: capture})
		}
	}
	// Every run must end where the next step cannot begin inside it.
	for i, s := range c.steps {
		if s.op != opRun || i+1 == len(c.steps) {
			continue
		}
		next := c.steps[i+1]
		switch {
		case next.op == opLiteral && len(next.lit) > 0 && !s.class[next.lit[0]]:
		case (next.op == opOne || next.op == opRun) && disjoint(s.class, next.class):
		case next.op == opEnd:
		default:
			return nil
		}
	}
	return c
}

// flatten inlines nested concatenations (\d{4} simplifies to one).
func flatten(subs []*syntax.Regexp, out []*syntax.Regexp) []*syntax.Regexp {
	for _, sub := range subs {
		if sub.Op == syntax.OpConcat {
			out = flatten(sub.Sub, out)
		} else {
			out = append(out, sub)
		}
	}
	return out
}

func disjoint(a, b *[256]bool) bool {
	for i := range a {
		if a[i] && b[i] {
			return false
		}
	}
	return true
}

// byteClass turns a single-rune matcher into a byte set, when that is
// exact: ASCII runes, plus either all of the non-ASCII runes (then every
// byte of a multi-byte or invalid sequence belongs) or none of them.
func byteClass(re *syntax.Regexp) *[256]bool {
	var ranges []rune
	switch re.Op {
	case syntax.OpCharClass:
		ranges = re.Rune
	case syntax.OpAnyCharNotNL:
		ranges = []rune{0, '\n' - 1, '\n' + 1, utf8.MaxRune}
	case syntax.OpAnyChar:
		ranges = []rune{0, utf8.MaxRune}
	case syntax.OpLiteral:
		if len(re.Rune) != 1 || re.Rune[0] >= utf8.RuneSelf || re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		ranges = []rune{re.Rune[0], re.Rune[0]}
	default:
		return nil
	}
	var set [256]bool
	high := 0 // 0: no rune ≥ 0x80, 1: all of them, -1: some
	coversHigh := false
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
			set[r] = true
		}
		if hi >= utf8.RuneSelf {
			if lo <= utf8.RuneSelf && hi == utf8.MaxRune {
				coversHigh = true
			} else {
				high = -1
			}
		}
	}
	if high == -1 {
		return nil
	}
	if coversHigh {
		for b := utf8.RuneSelf; b < 256; b++ {
			set[b] = true
		}
	}
	return &set
}

// match returns submatch indices like regexp.FindSubmatchIndex (into dst),
// or nil.
func (c *chain) match(b []byte, dst []int) []int {
	dst = dst[:0]
	for range 2 * c.ncap {
		dst = append(dst, -1)
	}
	if c.run(b, dst) < 0 {
		return nil
	}
	return dst
}

// matches reports whether b matches, like regexp.Match.
func (c *chain) matches(b []byte) bool { return c.run(b, nil) >= 0 }

// run matches b, filling dst with submatches when it is not nil, and
// returns where the match ends or -1.
func (c *chain) run(b []byte, dst []int) int { return c.runFrom(b, dst, 0, 0) }

// runFrom is run with steps before step already matched, up to b[i].
func (c *chain) runFrom(b []byte, dst []int, step, i int) int {
	for k := step; k < len(c.steps); k++ {
		s := &c.steps[k] // not a copy: this loop runs per line
		start := i
		switch s.op {
		case opLiteral:
			if len(b)-i < len(s.lit) || string(b[i:i+len(s.lit)]) != string(s.lit) {
				return -1
			}
			i += len(s.lit)
		case opRun:
			for i < len(b) && s.class[b[i]] {
				i++
			}
			if i-start < s.min {
				return -1
			}
		case opOne:
			if i >= len(b) || !s.class[b[i]] {
				return -1
			}
			if b[i] < utf8.RuneSelf {
				i++
			} else {
				// A class with non-ASCII runes holds all of them.
				_, size := utf8.DecodeRune(b[i:])
				i += size
			}
		case opEnd:
			if i != len(b) {
				return -1
			}
		}
		if s.capture != 0 && dst != nil {
			dst[2*s.capture], dst[2*s.capture+1] = start, i
		}
	}
	if dst != nil {
		dst[0], dst[1] = 0, i
	}
	return i
}

// Search tells whether an RE2 matches anywhere in a text, as
// regexp.Match does, but faster for what drop and keep are given: a
// literal is a vectorised search; a chain anchored with ^ is matched from
// the start; a chain that starts with a literal is tried where that
// literal occurs; anything else goes to regexp, after a search for a
// literal every match must hold.
type Search struct {
	re *regexp.Regexp
	// first starts every match (nil: unknown); chain, when set, matches
	// from there, else first is all of it.
	first []byte
	chain *chain
	// anchored: the expression starts with ^ and chain matches it from a
	// text's start.
	anchored bool
	need     []byte // a literal every match holds, for regexp
	// rare is the index in first of its rarest byte in log text, which
	// index looks for before it compares the rest.
	rare int
}

// index is bytes.Index(b, s.first), looking for first's rarest byte with
// the vectorised IndexByte: "GET /healthz" is found by its z, not by the
// G of every request line, each of which bytes.Index would compare.
func (s *Search) index(b []byte) int {
	f, r := s.first, s.rare
	for i := 0; i+len(f) <= len(b); {
		j := bytes.IndexByte(b[i+r:len(b)-len(f)+r+1], f[r])
		if j < 0 {
			return -1
		}
		if at := i + j; string(b[at:at+len(f)]) == string(f) {
			return at
		}
		i += j + 1
	}
	return -1
}

// rarest is the index of the byte of lit that is least common in log
// lines, by byteRank.
func rarest(lit []byte) int {
	best := 0
	for i, c := range lit {
		if byteRank[c] < byteRank[lit[best]] {
			best = i
		}
	}
	return best
}

// byteRank orders bytes by how often they occur in log lines, rarest
// lowest: capitals and rare letters, then digits, then common letters,
// punctuation and space. It need not be exact: a wrong guess costs
// compares, never a wrong answer.
var byteRank = func() (t [256]uint8) {
	for c := range t {
		t[c] = 10
	}
	for _, g := range []struct {
		bytes string
		rank  uint8
	}{
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 20}, {"zqxjkvZQXJKV", 5}, {"bfgpwymc", 40}, {"0123456789", 50},
		{"dlhu", 60}, {"etaoinsr", 70}, {"/.:-_=,\"'", 80}, {" ", 90},
	} {
		for _, c := range []byte(g.bytes) {
			t[c] = g.rank
		}
	}
	return t
}()

// NewSearch compiles expr.
func NewSearch(expr string) (*Search, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	s := &Search{re: re}
	if lit, complete := re.LiteralPrefix(); complete && lit != "" {
		s.first = []byte(lit)
		s.rare = rarest(s.first)
		return s, nil
	}
	if c := compileChain(re, expr); c != nil {
		s.chain, s.anchored = c, true
		return s, nil
	}
	anchored := "^(?:" + expr + ")"
	if c := compileChain(regexp.MustCompile(anchored), anchored); c != nil && c.steps[0].op == opLiteral && len(c.steps[0].lit) > 0 {
		s.first, s.chain = c.steps[0].lit, c
		s.rare = rarest(s.first)
		return s, nil
	}
	s.need = requiredLiteral(expr)
	return s, nil
}

// Match tells whether the expression matches anywhere in b.
func (s *Search) Match(b []byte) bool {
	switch {
	case s.anchored:
		return s.chain.run(b, nil) >= 0
	case s.first == nil:
		return (s.need == nil || bytes.Contains(b, s.need)) && s.re.Match(b)
	case s.chain == nil:
		return s.index(b) >= 0
	}
	for i := 0; ; {
		j := s.index(b[i:])
		if j < 0 {
			return false
		}
		if s.chain.runFrom(b[i+j:], nil, 1, len(s.first)) >= 0 {
			return true
		}
		i += j + 1
	}
}

// MatchBodies sets hit[i] to whether the expression matches record i's
// body, for a package whose bodies all lie in Data, in order: the first
// literal is searched once over all of them, not once per record, and the
// rest is matched in the record it begins in. It returns false, having
// set nothing, when it cannot do that (then Match each body).
func (s *Search) MatchBodies(p *record.Package, hit []bool) bool {
	n := len(p.Records)
	if s.anchored {
		for i := range p.Records {
			hit[i] = s.chain.run(p.Body(i), nil) >= 0
		}
		return true
	}
	if s.first == nil || n == 0 {
		return false
	}
	prev := uint32(0)
	for _, e := range p.Records {
		if e.Flags&record.FlagExtra != 0 || e.Start < prev {
			return false
		}
		prev = e.End
	}
	clear(hit[:n])
	lo, hi := int(p.Records[0].Start), int(p.Records[n-1].End)
	data := p.Data[:hi]
	for i, r := lo, 0; r < n; {
		j := s.index(data[i:])
		if j < 0 {
			break
		}
		at := i + j
		for r < n && int(p.Records[r].End) < at+len(s.first) {
			r++
		}
		if r == n {
			break
		}
		e := p.Records[r]
		if at < int(e.Start) {
			i = int(e.Start) // the literal spans the bytes between records
			continue
		}
		if s.chain == nil || s.chain.runFrom(p.Data[at:e.End], nil, 1, len(s.first)) >= 0 {
			hit[r] = true
			i, r = int(e.End), r+1
			continue
		}
		i = at + 1
	}
	return true
}

// requiredLiteral is the longest literal of expr's top-level
// concatenation (case-sensitive): a text without it cannot match.
func requiredLiteral(expr string) []byte { return RequiredLiteral(expr, nil) }

// RequiredLiteral is the longest literal of expr's top-level
// concatenation (case-sensitive) whose every rune ok accepts (nil: any):
// a text without it cannot match. nil if there is none.
func RequiredLiteral(expr string, ok func(rune) bool) []byte {
	tree, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	tree = tree.Simplify()
	subs := []*syntax.Regexp{tree}
	if tree.Op == syntax.OpConcat {
		subs = flatten(tree.Sub, nil)
	}
	var best []byte
	for _, sub := range subs {
		if sub.Op == syntax.OpCapture {
			sub = sub.Sub[0]
		}
		if sub.Op != syntax.OpLiteral || sub.Flags&syntax.FoldCase != 0 {
			continue
		}
		var lit []byte
		for _, r := range sub.Rune {
			if ok != nil && !ok(r) {
				lit = nil
				break
			}
			lit = utf8.AppendRune(lit, r)
		}
		if len(lit) > len(best) {
			best = lit
		}
	}
	return best
}
