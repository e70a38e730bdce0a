package parse

import (
	"bytes"
)

// A preset knows how a runtime prints stack traces and exceptions, so a
// user need not write a pattern: "it's a Java app" is enough. The rules
// come from each runtime's real output (the tests run the runtimes):
//
//   - A trace is one record from its header line (Java's
//     "Exception in thread" or a qualified exception name, Python's
//     "Traceback (most recent call last):", Go's "panic:", "fatal error:"
//     and "goroutine N [...]:", Ruby's "file.rb:N:in `m': msg (Class)",
//     Node's "TypeError: msg" or the "file.js:N" of an uncaught exception,
//     .NET's "Unhandled exception."). The log line an application wrote
//     before it (logger.exception's message) stays a record of its own,
//     as with Fluent Bit's built-in parsers: a header cannot tell it
//     belongs to the line before.
//   - Frame lines (Java/.NET/Node "at ...", Java "Caused by:" and
//     "... N more", .NET "--->" and "--- End of ...", Ruby "from ..." and
//     bare "file.rb:N:in `m'" lines, Python 'File "..."') join the open
//     record whatever it is: no ordinary line looks like them, and a
//     logger that prints frames under its message (Ruby's Logger) gets
//     them joined to it.
//   - Lines that are only a trace's inside that trace (Python's indented
//     source and its exception line, Go's function lines and blank lines,
//     the source and caret of Node's uncaught exception) join only while
//     that trace is open.
//
// auto has every preset's rules: each trace is recognised by its header,
// and what continues it is what continues that runtime's trace, so
// unrelated lines are not joined.
type presetSet uint8

const (
	presetJava presetSet = 1 << iota
	presetPython
	presetGo
	presetRuby
	presetNode
	presetDotnet
	presetAuto = presetJava | presetPython | presetGo | presetRuby | presetNode | presetDotnet
)

var presets = map[string]presetSet{
	"java": presetJava, "python": presetPython, "go": presetGo, "ruby": presetRuby,
	"node": presetNode, "dotnet": presetDotnet, "auto": presetAuto,
}

// presetNames are the presets, in the order messages list them.
var presetNames = []string{"java", "python", "go", "ruby", "node", "dotnet", "auto"}

// traceState is what the open record is, as far as a preset cares.
type traceState uint8

const (
	stateNone       traceState = iota // an ordinary line: only frame lines join it
	stateTrace                        // a Java, .NET or Node exception
	statePy                           // a Python traceback, before its exception line
	statePyEnd                        // after the exception line
	statePyBlank                      // a blank line after it: a chained exception may follow
	statePyChain                      // "During handling of the above exception…"
	stateGo                           // a Go panic or goroutine dump
	stateRuby                         // a Ruby backtrace
	stateNodeSource                   // after an uncaught Node exception's "file.js:N"
	stateNodeBody                     // the rest of it, up to "Node.js vN"
)

func (ps presetSet) step(line []byte, open bool, state *traceState) (join, ends bool) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if open {
		if next, ok, end := ps.continues(line, *state); ok {
			*state = next
			return true, end
		}
	}
	*state = ps.begins(line)
	return false, false
}

// begins returns the state of a record that begins with line.
func (ps presetSet) begins(line []byte) traceState {
	if len(line) == 0 || isDigit(line[0]) || line[0] == ' ' || line[0] == '\t' {
		// Ordinary log lines begin with a time; no header does.
		return stateNone
	}
	switch {
	case ps&presetPython != 0 && string(line) == "Traceback (most recent call last):":
		return statePy
	case ps&presetGo != 0 && (bytes.HasPrefix(line, []byte("panic: ")) || bytes.HasPrefix(line, []byte("fatal error: ")) || goroutineLine(line)):
		return stateGo
	case ps&presetJava != 0 && bytes.HasPrefix(line, []byte(`Exception in thread "`)):
		return stateTrace
	case ps&presetDotnet != 0 && (bytes.HasPrefix(line, []byte("Unhandled exception. ")) || bytes.HasPrefix(line, []byte("Unhandled Exception: "))):
		return stateTrace
	case ps&(presetJava|presetDotnet) != 0 && exceptionName(line, true):
		return stateTrace
	case ps&presetNode != 0 && (exceptionName(line, false) || bytes.HasPrefix(line, []byte("Uncaught "))):
		return stateTrace
	case ps&presetNode != 0 && nodeLocation(line):
		return stateNodeSource
	case ps&presetRuby != 0 && rubyHeader(line):
		return stateRuby
	}
	return stateNone
}

// continues reports whether line continues a record in state st, the
// state after it, and whether it ends the record.
func (ps presetSet) continues(line []byte, st traceState) (next traceState, ok, end bool) {
	if st == stateNodeSource {
		return stateNodeBody, true, false // the line of source the exception came from
	}
	if len(line) > 0 && isDigit(line[0]) {
		// An ordinary log line begins with a time; nothing that
		// continues a trace does. Most lines leave here.
		return st, false, false
	}
	indented := len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
	switch st {
	case statePy:
		if indented {
			return statePy, true, false
		}
		if pythonException(line) {
			return statePyEnd, true, false
		}
		return st, false, false
	case statePyEnd:
		return statePyBlank, isBlank(line), false
	case statePyBlank:
		ok := string(line) == "During handling of the above exception, another exception occurred:" ||
			string(line) == "The above exception was the direct cause of the following exception:"
		return statePyChain, ok, false
	case statePyChain:
		if isBlank(line) {
			return statePyChain, true, false
		}
		return statePy, string(line) == "Traceback (most recent call last):", false
	case stateGo:
		if indented || isBlank(line) || goroutineLine(line) || goFunction(line) || hasAnyPrefix(line, goPrefixes) {
			return stateGo, true, false
		}
		return st, false, false
	case stateNodeBody:
		// The caret, a blank line, the error and its frames, up to the
		// version line; an ordinary line (it begins with a time, see
		// above) ends it.
		if bytes.HasPrefix(line, []byte("Node.js v")) {
			return stateNone, true, true
		}
		return stateNodeBody, true, false
	case stateTrace:
		// An exception's frames, its cause and the fields Node prints
		// after it ({ code: … }, [cause]: …).
		if indented || string(line) == "}" || string(line) == "]" {
			return stateTrace, true, false
		}
	case stateRuby:
		if rubyHeader(line) { // the cause, in full_message
			return stateRuby, true, false
		}
	}
	if ps.frame(line, indented) {
		return st, true, false
	}
	return st, false, false
}

// frame reports whether line is a frame of a stack trace, which joins any
// open record.
func (ps presetSet) frame(line []byte, indented bool) bool {
	rest := bytes.TrimLeft(line, " \t")
	switch {
	case indented && ps&(presetJava|presetNode|presetDotnet) != 0 && bytes.HasPrefix(rest, []byte("at ")):
		return true
	case ps&presetJava != 0 && (bytes.HasPrefix(rest, []byte("Caused by: ")) ||
		indented && (bytes.HasPrefix(rest, []byte("Suppressed: ")) || moreFrames(rest))):
		return true
	case ps&presetDotnet != 0 && (bytes.HasPrefix(rest, []byte("---> ")) || bytes.HasPrefix(rest, []byte("--- End of "))):
		return true
	case ps&presetNode != 0 && indented && (bytes.HasPrefix(rest, []byte("[cause]: ")) || bytes.HasPrefix(rest, []byte("... ")) && bytes.HasSuffix(rest, []byte(" lines matching cause stack trace ..."))):
		return true
	case ps&presetRuby != 0 && (indented && bytes.HasPrefix(rest, []byte("from ")) || !indented && rubyLocation(line)):
		return true
	case ps&presetPython != 0 && indented && bytes.HasPrefix(rest, []byte(`File "`)):
		return true
	}
	return false
}

var goPrefixes = [][]byte{[]byte("created by "), []byte("[signal "), []byte("panic: "), []byte("fatal error: "),
	[]byte("runtime stack:"), []byte("runtime: "), []byte("...additional frames elided...")}

func hasAnyPrefix(line []byte, prefixes [][]byte) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// isBlank reports whether line holds only white space; only the states
// that take blank lines ask, not every line.
func isBlank(line []byte) bool { return len(bytes.TrimSpace(line)) == 0 }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isIdent(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '_' || c == '$'
}

// exceptionName reports whether line begins with an exception's name
// followed by ": " or nothing: qualified (java.lang.IllegalStateException,
// System.InvalidOperationException) or not (TypeError, Node's
// "Error [ERR_X]: …").
func exceptionName(line []byte, qualified bool) bool {
	i, dots := 0, 0
	for i < len(line) && (isIdent(line[i]) || line[i] == '.') {
		if line[i] == '.' {
			dots++
		}
		i++
	}
	name := line[:i]
	if i == 0 || isDigit(line[0]) || (dots > 0) != qualified ||
		!(bytes.HasSuffix(name, []byte("Exception")) || bytes.HasSuffix(name, []byte("Error")) || bytes.HasSuffix(name, []byte("Throwable"))) {
		return false
	}
	rest := line[i:]
	if !qualified && bytes.HasPrefix(rest, []byte(" [")) { // Node's error code
		if j := bytes.IndexByte(rest, ']'); j > 0 {
			rest = rest[j+1:]
		}
	}
	return len(rest) == 0 || rest[0] == ':'
}

// moreFrames reports whether rest is Java's "... 12 more" or
// "... 12 common frames omitted".
func moreFrames(rest []byte) bool {
	rest, ok := bytes.CutPrefix(rest, []byte("... "))
	if !ok {
		return false
	}
	i := 0
	for i < len(rest) && isDigit(rest[i]) {
		i++
	}
	return i > 0 && (string(rest[i:]) == " more" || string(rest[i:]) == " common frames omitted")
}

// pythonException reports whether line is the exception line that ends a
// Python traceback: "ValueError: bad input", "KeyError: 'k'",
// "mod.CustomError", "StopIteration".
func pythonException(line []byte) bool {
	if len(line) == 0 || isDigit(line[0]) || !isIdent(line[0]) {
		return false
	}
	i := 0
	for i < len(line) && (isIdent(line[i]) || line[i] == '.') {
		i++
	}
	return i == len(line) || line[i] == ':'
}

// goroutineLine reports whether line is "goroutine 1 [running]:".
func goroutineLine(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("goroutine "))
	return ok && len(rest) > 0 && isDigit(rest[0]) && bytes.HasSuffix(rest, []byte("]:"))
}

// goFunction reports whether line is a function line of a Go trace:
// "main.main()", "main.(*T).run(0xc000012345, {0x4b1c3a, 0x3})",
// "panic({0x4b0760?, 0x5822a0?})".
func goFunction(line []byte) bool {
	i := bytes.IndexByte(line, '(')
	return i > 0 && !bytes.ContainsAny(line[:i], " \t") && line[len(line)-1] == ')'
}

// rubyLocation reports whether line is a bare backtrace line as Ruby's
// Logger prints them under the message: "app.rb:10:in `rescue in <main>'"
// (or 'Object#m' since Ruby 3.4).
func rubyLocation(line []byte) bool {
	i := rubyIn(line)
	return i > 0 && (bytes.HasSuffix(line, []byte("'")) || bytes.HasSuffix(line, []byte("`")))
}

// rubyHeader reports whether line is the first line of an exception as
// Ruby prints it: "app.rb:5:in `inner': boom (ArgumentError)".
func rubyHeader(line []byte) bool {
	return rubyIn(line) > 0 && bytes.HasSuffix(line, []byte(")")) && bytes.Contains(line, []byte("': "))
}

// rubyIn returns where "in " follows "path:N:" at the start of line, or -1.
func rubyIn(line []byte) int {
	colon := bytes.Index(line, []byte(":in "))
	if colon <= 0 || bytes.ContainsAny(line[:colon], " \t") {
		return -1
	}
	j := bytes.LastIndexByte(line[:colon], ':')
	if j <= 0 || j+1 == colon {
		return -1
	}
	for _, c := range line[j+1 : colon] {
		if !isDigit(c) {
			return -1
		}
	}
	return colon + 1
}

// nodeLocation reports whether line is the "file.js:N" line that begins
// an uncaught exception in Node: "/app/server.js:12",
// "file:///app/index.mjs:3", "node:internal/x:42".
func nodeLocation(line []byte) bool {
	if !(line[0] == '/' || bytes.HasPrefix(line, []byte("file:///")) || bytes.HasPrefix(line, []byte("node:"))) ||
		bytes.ContainsAny(line, " \t") {
		return false
	}
	j := bytes.LastIndexByte(line, ':')
	if j <= 0 || j+1 == len(line) {
		return false
	}
	for _, c := range line[j+1:] {
		if !isDigit(c) {
			return false
		}
	}
	return true
}
