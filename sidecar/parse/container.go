package parse

import (
	"bytes"

	"github.com/loglet/loglet/sidecar/record"
)

// Container runtimes wrap each line an application writes. CRI runtimes
// (containerd, CRI-O) write `<RFC 3339 time> <stdout|stderr> <P|F> <text>`,
// splitting long lines into P (partial) lines ended by an F line; Docker's
// json-file driver writes {"log":"…\n","stream":"…","time":"…"} and splits
// at 16 KiB, leaving the newline off all but the last piece.

// cri is one decoded CRI line.
type cri struct {
	time    int64
	stream  record.Flag
	partial bool
	text    int // offset of the text in the line
}

func parseCRI(line []byte, times *secondCache) (cri, bool) {
	var c cri
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return c, false
	}
	var ok bool
	if c.time, ok = times.parse(line[:sp]); !ok {
		return c, false
	}
	rest := line[sp+1:]
	switch {
	case len(rest) > 7 && string(rest[:7]) == "stdout ":
		c.stream = record.FlagStdout
	case len(rest) > 7 && string(rest[:7]) == "stderr ":
		c.stream = record.FlagStderr
	default:
		return c, false
	}
	tags := rest[7:]
	end := bytes.IndexByte(tags, ' ')
	if end < 0 {
		end = len(tags) // an empty line: "… stdout F"
	}
	switch tags[0] {
	case 'P':
		c.partial = true
	case 'F':
	default:
		return c, false
	}
	c.text = min(sp+1+7+end+1, len(line))
	return c, true
}

// docker is one decoded json-file line.
type docker struct {
	time               int64
	stream             record.Flag
	partial            bool
	textStart, textEnd int  // the "log" string's content, escaped
	escaped            bool // holds escapes other than the final \n
	// timeState says what was wrong with "time" (the record then has the
	// read time and a mark); timeStart, timeEnd is its value.
	timeState          timeState
	timeStart, timeEnd int
}

// timeState is what a container line's time was.
type timeState uint8

const (
	timeOK timeState = iota
	timeMissing
	timeNotString
	timeBad
)

func parseDocker(line []byte) (docker, bool) {
	d := docker{timeState: timeMissing}
	found := false
	err := scanObject(line, func(m member) {
		key := line[m.keyStart:m.keyEnd]
		val := line[m.valStart:m.valEnd]
		switch string(key) {
		case "log":
			if !m.valString {
				return
			}
			found = true
			d.textStart, d.textEnd = m.valStart+1, m.valEnd-1
			content := line[d.textStart:d.textEnd]
			if bytes.HasSuffix(content, []byte(`\n`)) && !endsInEscapedBackslash(content[:len(content)-2]) {
				d.textEnd -= 2
			} else {
				d.partial = true
			}
			d.escaped = m.valEscaped && bytes.IndexByte(line[d.textStart:d.textEnd], '\\') >= 0
		case "stream":
			switch string(val) {
			case `"stdout"`:
				d.stream = record.FlagStdout
			case `"stderr"`:
				d.stream = record.FlagStderr
			}
		case "time":
			d.timeState, d.timeStart, d.timeEnd = timeNotString, m.valStart, m.valEnd
			if m.valString {
				var ok bool
				d.timeStart, d.timeEnd = m.valStart+1, m.valEnd-1
				if d.time, ok = parseRFC3339(val[1 : len(val)-1]); ok {
					d.timeState = timeOK
				} else {
					d.timeState = timeBad
				}
			}
		}
	})
	return d, err == nil && found
}

// endsInEscapedBackslash reports whether s ends in an odd run of
// backslashes, which would make a following `n` a literal "\n" text.
func endsInEscapedBackslash(s []byte) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// detect decides a source's container format from its first line.
func detect(line []byte) string {
	if bytes.HasPrefix(line, []byte(`{"log":`)) {
		if _, ok := parseDocker(line); ok {
			return "docker"
		}
	}
	if _, ok := parseCRI(line, &secondCache{}); ok {
		return "cri"
	}
	return "none"
}

// wrapped is what a container line says about the text it carries.
type wrapped struct {
	time    int64
	stream  record.Flag
	partial bool
	mark    record.Ref // what was wrong with the line's time, if anything
	// severity and attrs are what an inbox line's sender said.
	severity record.Severity
	attrs    record.Ref
}

// unwrap decodes container line e and returns its text (unescaped into
// Extra when it must be). ok is false for a line that does not decode.
func (st *Stage) unwrap(p *record.Package, e record.Entry) (w wrapped, text record.Ref, ok bool) {
	line := p.Data[e.Start:e.End]
	switch st.container {
	case "inbox":
		return unwrapInbox(p, e)
	case "cri":
		c, ok := parseCRI(line, &st.times)
		return wrapped{time: c.time, stream: c.stream, partial: c.partial}, record.DataRef(int(e.Start)+c.text, int(e.End)), ok
	case "docker":
		d, ok := parseDocker(line)
		if !ok {
			return w, text, false
		}
		if d.escaped {
			start := len(p.Extra)
			p.Extra = unescape(p.Extra, line[d.textStart:d.textEnd])
			text = record.ExtraRef(start, len(p.Extra))
		} else {
			text = record.DataRef(int(e.Start)+d.textStart, int(e.Start)+d.textEnd)
		}
		w = wrapped{time: d.time, stream: d.stream, partial: d.partial}
		switch d.timeState {
		case timeMissing:
			w.mark = record.StringRef(st.spec.errDockerTime)
		case timeNotString:
			start := len(p.Extra)
			p.Extra = append(p.Extra, "docker: time is not a string: "...)
			v := line[d.timeStart:d.timeEnd]
			p.Extra = append(p.Extra, v[:record.RuneCut(v, maxQuoted)]...)
			w.mark = record.ExtraRef(start, len(p.Extra))
		case timeBad:
			w.mark = timeMark(p, "docker: time: ", line[d.timeStart:d.timeEnd], "rfc3339")
		}
		return w, text, true
	default:
		// "<RFC 3339 time> <text>", what the Kubernetes API serves for
		// pods/log?timestamps=true (kubectl logs --timestamps). It has
		// neither the stream nor partial lines: the kubelet joined both.
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			sp = len(line) // an empty line: "<time>"
		}
		t, ok := st.times.parse(line[:sp])
		return wrapped{time: t}, record.DataRef(int(e.Start)+min(sp+1, len(line)), int(e.End)), ok
	}
}
