package parse

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/loglet/loglet/internal/settings"
)

// multiline decides, line by line, which lines of a stream make one record:
// by the user's start, end and continue patterns, or by a preset that
// knows how a runtime prints its stack traces.
type multiline struct {
	start, end, cont *regexp.Regexp
	startChain       *chain // start, when it is a simple chain
	startPrefix      string // literal every start line begins with, when start is anchored
	preset           presetSet
	maxLines         int
}

// DefaultMultilineMaxLines ends a record that keeps growing after this many
// lines: a runaway record (a loop printing a trace) must not hold a
// stream's records back until the size limit.
const DefaultMultilineMaxLines = 500

// compileMultiline checks the multiline settings of cfg; nil when none is
// set.
func compileMultiline(cfg Config) (*multiline, error) {
	if cfg.MultilineStart == "" && cfg.MultilineEnd == "" && cfg.MultilineContinue == "" && cfg.MultilinePreset == "" {
		return nil, nil
	}
	m := &multiline{maxLines: cfg.MultilineMaxLines}
	if m.maxLines == 0 {
		m.maxLines = DefaultMultilineMaxLines
	}
	if m.maxLines < 0 {
		return nil, fmt.Errorf("multiline-max-lines %d: want a positive number of lines, like %d", cfg.MultilineMaxLines, DefaultMultilineMaxLines)
	}
	if cfg.MultilineMaxBytes < 0 {
		return nil, fmt.Errorf("multiline-max-bytes %d: want a positive size, like 256KiB", cfg.MultilineMaxBytes)
	}
	if cfg.MultilineTimeout <= 0 {
		return nil, fmt.Errorf("multiline-timeout %s: want a positive duration like 1s", cfg.MultilineTimeout)
	}
	if cfg.MultilinePreset != "" {
		if cfg.MultilineStart != "" || cfg.MultilineEnd != "" || cfg.MultilineContinue != "" {
			return nil, fmt.Errorf("multiline-preset %s with start, end or continue: give a preset or patterns, not both", cfg.MultilinePreset)
		}
		p, ok := presets[strings.ToLower(cfg.MultilinePreset)]
		if !ok {
			hint := ""
			if near := settings.Suggest(cfg.MultilinePreset, presetNames); near != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", near)
			}
			return nil, fmt.Errorf("multiline-preset %q: want one of %s%s", cfg.MultilinePreset, strings.Join(presetNames, ", "), hint)
		}
		m.preset = p
		return m, nil
	}
	var err error
	compile := func(key, expr string) *regexp.Regexp {
		if expr == "" || err != nil {
			return nil
		}
		re, e := regexp.Compile(expr)
		if e != nil {
			err = fmt.Errorf("multiline-%s %q does not compile: %w (RE2 syntax: https://github.com/google/re2/wiki/Syntax)", key, expr, e)
		}
		return re
	}
	m.start = compile("start", cfg.MultilineStart)
	m.end = compile("end", cfg.MultilineEnd)
	m.cont = compile("continue", cfg.MultilineContinue)
	if err != nil {
		return nil, err
	}
	if m.start != nil {
		m.startChain = compileChain(m.start, cfg.MultilineStart)
		// An anchored pattern with a literal prefix rejects most lines
		// with one comparison, before the regexp engine runs.
		if rest, ok := strings.CutPrefix(cfg.MultilineStart, "^"); ok {
			if re, err := regexp.Compile(rest); err == nil {
				m.startPrefix, _ = re.LiteralPrefix()
			}
		}
	}
	return m, nil
}

// isStart reports whether line matches the start pattern.
func (m *multiline) isStart(line []byte) bool {
	if m.startChain != nil {
		return m.startChain.matches(line)
	}
	if m.startPrefix != "" && (len(line) < len(m.startPrefix) || string(line[:len(m.startPrefix)]) != m.startPrefix) {
		return false
	}
	return m.start.Match(line)
}

// step says what line does, given whether a record is open (and, for a
// preset, the state of the trace it holds, which step updates): join it,
// or begin a record (ending the open one). ends says the record is
// complete with line: an end line, or a line that can begin no record
// others join (with start set, a line before any start line is a record of
// its own).
func (m *multiline) step(line []byte, open bool, state *traceState) (join, ends bool) {
	if m.preset != 0 {
		return m.preset.step(line, open, state)
	}
	isStart := m.start != nil && m.isStart(line)
	switch {
	case isStart:
	case open && m.cont != nil:
		join = m.cont.Match(line)
		// With start and continue, a record begins only with a start
		// line: one that is neither is a record of its own.
		ends = !join && m.start != nil
	case open:
		join = true
	case m.start != nil:
		ends = true
	}
	if m.end != nil && m.end.Match(line) {
		ends = true
	}
	return join, ends
}
