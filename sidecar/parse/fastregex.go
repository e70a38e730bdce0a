package parse

import (
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
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
func (c *chain) run(b []byte, dst []int) int {
	i := 0
	for _, s := range c.steps {
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
