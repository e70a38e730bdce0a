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
}

func parseDocker(line []byte) (docker, bool) {
	var d docker
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
			if m.valString {
				d.time, _ = parseRFC3339(val[1 : len(val)-1])
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

// decode assembles the logical line that starts at raw line i. ok is false
// when its end is not in the package yet (and flush is not set).
func (st *Stage) decode(p *record.Package, raw []record.Entry, i int, flush bool) (logical, bool) {
	e := raw[i]
	l := logical{first: i, next: i + 1, body: record.DataRef(int(e.Start), int(e.End))}
	if e.Flags&record.FlagSplit != 0 {
		l.split, l.rawFlags, l.part = true, e.Flags, e.Part
		return l, true
	}
	if st.container == "auto" {
		if e.End == e.Start {
			return l, true
		}
		st.container = detect(p.Data[e.Start:e.End])
	}
	if st.container == "none" {
		return l, true
	}
	return st.decodeWrapped(p, raw, i, flush)
}

// pieces joins the texts of partial lines: the first stays where it is;
// from the second on, all are copied to Extra.
type pieces struct {
	first      record.Ref
	extraStart int
	n          int
}

func (pc *pieces) add(p *record.Package, r record.Ref) {
	pc.n++
	switch pc.n {
	case 1:
		pc.first = r
		return
	case 2:
		pc.extraStart = len(p.Extra)
		p.Extra = append(p.Extra, p.Bytes(pc.first)...)
	}
	p.Extra = append(p.Extra, p.Bytes(r)...)
}

// addText adds text that is already in Extra (unescaped); it must be the
// latest thing appended there.
func (pc *pieces) addExtra(p *record.Package, start int) {
	pc.n++
	if pc.n == 1 {
		pc.first = record.ExtraRef(start, len(p.Extra))
		pc.extraStart = start
		return
	}
	if pc.n == 2 && !pc.first.InExtra() {
		// Move the first piece in front of the unescaped text.
		text := append([]byte(nil), p.Extra[start:]...)
		p.Extra = append(p.Extra[:start], p.Bytes(pc.first)...)
		pc.extraStart = start
		p.Extra = append(p.Extra, text...)
	}
}

func (pc *pieces) body(p *record.Package) record.Ref {
	if pc.n <= 1 {
		return pc.first
	}
	return record.ExtraRef(pc.extraStart, len(p.Extra))
}

// wrapped is what a container line says about the text it carries.
type wrapped struct {
	time    int64
	stream  record.Flag
	partial bool
}

// decodeWrapped joins the texts of container lines from raw line i until a
// line that is not partial. A line that does not decode ends the run, or,
// if it is the first, becomes a record of its own marked with the error.
func (st *Stage) decodeWrapped(p *record.Package, raw []record.Entry, i int, flush bool) (logical, bool) {
	l := logical{first: i}
	mark := len(p.Extra)
	var pc pieces
	for j := i; j < len(raw); j++ {
		e := raw[j]
		var w wrapped
		ok := e.Flags&record.FlagSplit == 0
		if ok {
			switch st.container {
			case "cri":
				w, ok = st.criPiece(p, e, &pc)
			case "docker":
				w, ok = st.dockerPiece(p, e, &pc)
			default:
				w, ok = st.timestampsPiece(p, e, &pc)
			}
		}
		if !ok {
			if j > i {
				l.next, l.body = j, pc.body(p)
				return l, true
			}
			errMsg := st.spec.errDocker
			switch st.container {
			case "cri":
				errMsg = st.spec.errCRI
			case "timestamps":
				errMsg = st.spec.errTimestamps
			}
			return logical{first: i, next: i + 1, body: record.DataRef(int(e.Start), int(e.End)), errMsg: errMsg}, true
		}
		if j == i {
			l.time, l.flags = w.time, w.stream
		}
		if !w.partial {
			l.next, l.body = j+1, pc.body(p)
			return l, true
		}
	}
	if !flush {
		p.Extra = p.Extra[:mark]
		return l, false
	}
	l.next, l.body = len(raw), pc.body(p)
	return l, true
}

func (st *Stage) criPiece(p *record.Package, e record.Entry, pc *pieces) (wrapped, bool) {
	c, ok := parseCRI(p.Data[e.Start:e.End], &st.times)
	if ok {
		pc.add(p, record.DataRef(int(e.Start)+c.text, int(e.End)))
	}
	return wrapped{c.time, c.stream, c.partial}, ok
}

// timestampsPiece decodes "<RFC 3339 time> <text>", what the Kubernetes API
// serves for pods/log?timestamps=true (kubectl logs --timestamps). It has
// neither the stream nor partial lines: the kubelet joined both.
func (st *Stage) timestampsPiece(p *record.Package, e record.Entry, pc *pieces) (wrapped, bool) {
	line := p.Data[e.Start:e.End]
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		sp = len(line) // an empty line: "<time>"
	}
	t, ok := st.times.parse(line[:sp])
	if ok {
		pc.add(p, record.DataRef(int(e.Start)+min(sp+1, len(line)), int(e.End)))
	}
	return wrapped{time: t}, ok
}

func (st *Stage) dockerPiece(p *record.Package, e record.Entry, pc *pieces) (wrapped, bool) {
	line := p.Data[e.Start:e.End]
	d, ok := parseDocker(line)
	if !ok {
		return wrapped{}, false
	}
	if d.escaped {
		start := len(p.Extra)
		p.Extra = unescape(p.Extra, line[d.textStart:d.textEnd])
		pc.addExtra(p, start)
	} else {
		pc.add(p, record.DataRef(int(e.Start)+d.textStart, int(e.Start)+d.textEnd))
	}
	return wrapped{d.time, d.stream, d.partial}, true
}
