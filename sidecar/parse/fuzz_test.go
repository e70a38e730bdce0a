package parse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/loglet/loglet/sidecar/decode"
	"github.com/loglet/loglet/sidecar/record"
)

// Seeds shared by the fuzz targets: real-looking lines of each format.
var seeds = []string{
	`{"t":1764583201100000000,"s":5,"b":"<165>1 2026-12-01T10:00:01Z h a - - - x\n\tat y","a":{"k":"v","n":[1,{"x":null}],"e\u00e9":"\""}}` + "\n{\"B\":\"aP8=\"}\n{\"B\":\"!!\"}\n",
	"\xc4\xe3\xba\xc3\n2026-11-25T10:00:00Z stdout F \xd0\xbb\xd0\xbb \xff\n",
	"\xff\xfe{\x00\"\x00m\x00s\x00g\x00\"\x00:\x00\"\x00\x3d\xd8\x00\xde\"\x00}\x00\n\x00\x3d\xd8\n\x00",
	"2026-11-25T10:00:00.123456789Z stdout F hello\n2026-11-25T10:00:00Z stderr P part one \n2026-11-25T10:00:00Z stderr F part two\n",
	"2026-11-25T10:00:00.1234\n2026-11-25T10:00:00Z std\n",
	`{"log":"hello \"q\"\n","stream":"stdout","time":"2026-11-25T10:00:00.5Z"}` + "\n" + `{"log":"split ","stream":"stderr","time":"2026-11-25T10:00:00Z"}` + "\n",
	`{"time":"2026-11-25T10:00:00Z","level":"warn","msg":"disk \"/data\" at 91%","n":{"a":[1,2.5e3,true,null]}}` + "\n",
	"{\"message\":\"caf\xe9\",\"p\":\"C:\\\\tmp\\u00e9\\ud83d\\ude00\"}\n",
	`ts=2026-11-25T10:00:00Z level=error msg="refused: \"db\"" retry=3 cached` + "\n",
	`10.0.0.8 - - [25/Nov/2026:10:00:01 +0000] "POST /login HTTP/2.0" 401 0 "-" "curl/8.5.0" "203.0.113.9" rt=0.042` + "\n",
	"a,\"b, c\",\"multi\nline \"\"q\"\"\"\n1,2\n",
	"2026-11-25 10:00:00.123 ERROR [main] c.e.App - failed\njava.lang.IllegalStateException: x\n\tat c.e.App.main(App.java:3)\n",
	"Traceback (most recent call last):\n  File \"/app/w.py\", line 12\nValueError: bad\n",
}

// rawPackage makes a package of content's lines, as the reader would.
func rawPackage(content []byte) *record.Package {
	p := &record.Package{Data: content, Spans: []record.Span{{Time: time.Unix(1, 0)}}}
	start := 0
	for i, c := range content {
		if c == '\n' {
			p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(i)})
			start = i + 1
		}
	}
	if start < len(content) {
		p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(len(content))})
	}
	return p
}

// fuzzFormat runs content through a stage for cfg: it must not panic, must
// use every line when flushed, and must encode to valid JSON records.
func fuzzFormat(f *testing.F, cfg Config) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	cfg.MaxLineBytes = 64
	cfg.MultilineTimeout = time.Second
	spec, err := Compile(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		p := rawPackage(content)
		p.Origin = record.NewOrigin("src", "/x.log", nil)
		st := spec.NewStage()
		// First without flushing (records may wait), then flushing all.
		if keep := st.Process(rawPackage(content), false); keep > len(content) {
			t.Fatalf("keep %d beyond %d bytes", keep, len(content))
		}
		if keep := st.Process(p, true); keep != -1 {
			t.Fatalf("flush left bytes from %d", keep)
		}
		out := p.AppendNDJSON(nil)
		for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
			if len(line) > 0 && !json.Valid(line) {
				t.Fatalf("record is not valid JSON: %s", line)
			}
		}
	})
}

func FuzzCRI(f *testing.F)        { fuzzFormat(f, Config{Container: "cri"}) }
func FuzzTimestamps(f *testing.F) { fuzzFormat(f, Config{Container: "timestamps"}) }
func FuzzDocker(f *testing.F)     { fuzzFormat(f, Config{Container: "docker"}) }
func FuzzInbox(f *testing.F)      { fuzzFormat(f, Config{Container: "inbox", Format: "syslog"}) }
func FuzzAuto(f *testing.F)       { fuzzFormat(f, Config{Container: "auto", MultilineStart: `^\d{4}-`}) }
func FuzzEncodingGBK(f *testing.F) {
	fuzzFormat(f, Config{Container: "auto", Encoding: "gbk", MultilineStart: `^\d{4}-`})
}
func FuzzEncodingUTF16(f *testing.F) { fuzzFormat(f, Config{Encoding: "utf-16le", Format: "json"}) }
func FuzzInvalidUTF8(f *testing.F) {
	fuzzFormat(f, Config{Container: "auto", Format: "logfmt", TimeKey: "ts"})
}
func FuzzJSON(f *testing.F)   { fuzzFormat(f, Config{Format: "json", TimeKey: "time"}) }
func FuzzLogfmt(f *testing.F) { fuzzFormat(f, Config{Format: "logfmt", TimeKey: "ts"}) }
func FuzzNginx(f *testing.F) {
	fuzzFormat(f, Config{Format: "nginx", TimeKey: "time_local", TimeFormat: "02/Jan/2006:15:04:05 -0700"})
}
func FuzzCSV(f *testing.F) { fuzzFormat(f, Config{Format: "csv", CSVFields: []string{"a", "b", "c"}}) }
func FuzzMultiline(f *testing.F) {
	fuzzFormat(f, Config{Container: "cri", MultilineStart: `^(\d{4}-\d{2}-\d{2}|Traceback)`})
}
func FuzzPresetCRI(f *testing.F) { fuzzFormat(f, Config{Container: "cri", MultilinePreset: "auto"}) }

// FuzzPreset: preset auto on plain lines loses, doubles and changes
// nothing: the records (a long one's parts put together) joined by
// newlines are the lines read.
func FuzzPreset(f *testing.F) {
	for _, s := range append(slices.Clone(seeds), traceSeeds...) {
		f.Add([]byte(s))
	}
	spec, err := Compile(Config{MultilinePreset: "auto", MultilineMaxLines: 4, MaxLineBytes: 64, MultilineTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		if !utf8.Valid(content) || bytes.HasPrefix(content, []byte(bom)) {
			return // kept whole all the same, but marked or trimmed: not this test's matter
		}
		p := rawPackage(content)
		if keep := spec.NewStage().Process(p, true); keep != -1 {
			t.Fatalf("flush left bytes from %d", keep)
		}
		var records []string
		var part strings.Builder
		for i, e := range p.Records {
			part.Write(p.Body(i))
			if e.Flags&record.FlagSplit == 0 || e.Flags&record.FlagLastPart != 0 {
				records = append(records, part.String())
				part.Reset()
			}
		}
		if part.Len() > 0 {
			t.Fatalf("a record's parts end without its last part: %q", part.String())
		}
		if got, want := strings.Join(records, "\n"), strings.TrimSuffix(string(content), "\n"); got != want {
			t.Fatalf("records %q\nwant the lines %q", records, want)
		}
	})
}

// traceSeeds are the beginnings of real traces of each runtime.
var traceSeeds = []string{
	"panic: boom [recovered]\n\tpanic: again\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:7 +0x1d\n\ngoroutine 5 [chan receive]:\ncreated by main.main in goroutine 1\n",
	"/app/t.js:4\nthrow new TypeError(\"boom\");\n^\n\nTypeError: boom\n    at deep (/app/t.js:4:38)\n\nNode.js v20.20.2\n",
	"t.rb:10:in `rescue in <main>': outer (RuntimeError)\n\tfrom t.rb:7:in `<main>'\nt.rb:5:in `inner': inner (ArgumentError)\n",
	"Traceback (most recent call last):\n  File \"t.py\", line 7\nZeroDivisionError: division by zero\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\nValueError: x\n",
	"Unhandled exception. System.InvalidOperationException: outer\n ---> System.ArgumentException: inner\n   at App.Main()\n   --- End of inner exception stack trace ---\n",
}

func FuzzRegex(f *testing.F) {
	fuzzFormat(f, Config{Format: `regex:^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<msg>[^"]*)"`})
}

// FuzzScanObject: what the scanner accepts, encoding/json accepts too, and
// string values unescape the same.
func FuzzScanObject(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(strings.Split(s, "\n")[0]))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := scanObject(b, func(m member) {
			if m.valString && utf8Valid(b) {
				var want string
				if json.Unmarshal(b[m.valStart:m.valEnd], &want) == nil {
					if got := string(unescape(nil, b[m.valStart+1:m.valEnd-1])); got != want {
						t.Fatalf("unescape(%s) = %q, encoding/json says %q", b[m.valStart:m.valEnd], got, want)
					}
				}
			}
		})
		if err == nil && !hasControl(b) && utf8Valid(b) && !json.Valid(b) {
			t.Fatalf("scanObject accepted invalid JSON %q", b)
		}
	})
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

// hasControl reports control bytes, which the scanner lets pass inside
// strings (they are escaped on output) where JSON forbids them.
func hasControl(b []byte) bool {
	return bytes.ContainsFunc(b, func(r rune) bool { return r < 0x20 })
}

// FuzzRFC3339: the fast time parser agrees with time.Parse.
func FuzzRFC3339(f *testing.F) {
	for _, s := range []string{"2026-11-25T10:00:00.123456789Z", "2016-10-06T00:17:09.669794202+08:00", "1999-12-31T23:59:59Z", "2026-02-30T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC3339([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if ok && err == nil && got != want.UnixNano() {
			t.Fatalf("parseRFC3339(%q) = %d, time.Parse says %d", s, got, want.UnixNano())
		}
	})
}

// FuzzChain: the chain matcher finds what regexp finds.
func FuzzChain(f *testing.F) {
	exprs := []string{
		`^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<proto>[^"]+)" (?P<status>\d+) (?P<bytes>\d+)`,
		`^(?P<level>[A-Z]+): (?P<msg>.*)$`,
		`^(?P<k>[^=]*)=(?P<v>.*)`,
		`^\[(?P<a>[^\]]*)\](?P<rest>.+)$`,
		`^\d{4}-\d{2}-\d{2} (?P<t>\S)\S* `,
		`^(?P<w>\w+)\s+(?P<any>[^0-9\s])(?P<n>[0-9]+)$`,
	}
	var chains []*chain
	var res []*regexp.Regexp
	for _, e := range exprs {
		re := regexp.MustCompile(e)
		c := compileChain(re, e)
		if c == nil {
			f.Fatalf("%s: not compiled to a chain", e)
		}
		chains, res = append(chains, c), append(res, re)
	}
	for _, s := range seeds {
		f.Add([]byte(strings.Split(s, "\n")[0]))
	}
	f.Add([]byte("INFO: é\xff ok"))
	f.Add([]byte("2026-11-25 é10:00:00 x"))
	f.Add([]byte("abc  \xff12"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for i, c := range chains {
			got := c.match(b, nil)
			want := res[i].FindSubmatchIndex(b)
			if !slices.Equal(got, want) {
				t.Fatalf("%s on %q: chain %v, regexp %v", exprs[i], b, got, want)
			}
			if c.matches(b) != res[i].Match(b) {
				t.Fatalf("%s on %q: chain matches %v, regexp %v", exprs[i], b, c.matches(b), res[i].Match(b))
			}
		}
	})
}

// FuzzSearch: Search answers as regexp.Match does, on a text and on each
// line of a package, for a literal, a chain that starts with a literal
// and patterns left to regexp.
func FuzzSearch(f *testing.F) {
	exprs := []string{`GET /healthz`, `HTTP/1.1" [45]\d\d `, `^\S+ \S+ \S+ \[[^\]]+\] "GET /healthz`, `level=(error|warn)`, `^\d{4}-`, `(?i)error`, `user=\S+ id=\d+$`, `a[^b]*b`}
	var match []*Search
	var res []*regexp.Regexp
	for _, e := range exprs {
		m, err := NewSearch(e)
		if err != nil {
			f.Fatal(err)
		}
		match, res = append(match, m), append(res, regexp.MustCompile(e))
	}
	for _, s := range []string{`GET /healthz 200`, `"GET / HTTP/1.1" 404 12`, `HTTP/1.1" 4x HTTP/1.1" 500 `, "level=warn", "2026-12", "ERROR", "user=a id=1", "aXb", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The text as one body, and its lines as the records of a
		// package, each matched on its own.
		p := &record.Package{Data: b}
		start := 0
		for i, c := range append(b[:len(b):len(b)], '\n') {
			if c == '\n' {
				p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(i)})
				start = i + 1
			}
		}
		hit := make([]bool, len(p.Records))
		for i, m := range match {
			if got, want := m.Match(b), res[i].Match(b); got != want {
				t.Fatalf("%s on %q: Match %v, regexp %v", exprs[i], b, got, want)
			}
			if !m.MatchBodies(p, hit) {
				continue
			}
			for r := range p.Records {
				if want := res[i].Match(p.Body(r)); hit[r] != want {
					t.Fatalf("%s on line %d %q: MatchBodies %v, regexp %v", exprs[i], r, p.Body(r), hit[r], want)
				}
			}
		}
	})
}

func TestChainOnlyForSimplePatterns(t *testing.T) {
	for _, e := range []string{`(?P<a>\S+) x`, `^(?P<a>.*) (?P<b>.*)`, `^(?i)abc(?P<a>\d+)`, `^(?P<a>\S+?) `, `^(?P<a>ab|cd)`, `^(?P<a>[^é]+)`, `^(?P<a>\w+)\w`} {
		if compileChain(regexp.MustCompile(e), e) != nil {
			t.Errorf("%s compiled to a chain; it needs regexp", e)
		}
	}
}

// FuzzStreams decodes its input into a container log of both streams, its
// lines split by the runtime into pieces written between the other
// stream's, read in packages of a few lines as the reader does (the lines a
// package leaves are read again into the next). Whatever the order, each
// stream's records hold exactly that stream's text, every byte once, in
// order: nothing of stdout in a stderr record or the other way round,
// nothing lost, nothing twice.
func FuzzStreams(f *testing.F) {
	f.Add([]byte{0, 2, 10, 1, 3, 0, 5, 3, 7, 1, 9})
	f.Add([]byte{1, 0x12, 20, 0x13, 20, 0x10, 5, 0x11, 5, 0x02, 4, 0x00, 3, 0x01, 8})
	f.Add([]byte{3, 0x1e, 30, 0x0f, 12, 0x0e, 9, 0x1d, 40, 0x02, 1, 0x0c, 6})
	f.Add([]byte{0x07, 0x32, 1, 0x30, 2, 0x1c, 3, 0x33, 4, 0x1f, 5, 0x31, 6})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		mode, step := in[0], 1+int(in[0]>>3)%6
		docker, multiline := mode&1 != 0, mode&2 != 0
		cfg := Config{Container: "cri", MaxLineBytes: 96, MultilineTimeout: time.Second}
		if docker {
			cfg.Container = "docker"
		}
		if multiline {
			cfg.MultilineStart = `^#`
		}
		spec, err := Compile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Each stream writes from its own letters; '#' (a record's start)
		// and '"' (escaped by Docker) are common to both.
		alphabet := [2]string{"abcdefgh#\"", "stuvwxyz#\""}
		var file strings.Builder
		var want [2]strings.Builder
		at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		// At most 300 lines: the stage reads a kept line again with every
		// package, so one left open makes a long input slow, not more telling.
		for i := 1; i+1 < len(in) && i < 600; i += 2 {
			op, n := in[i], int(in[i+1])%40
			s, partial := int(op&1), op&2 != 0
			at = at.Add(time.Duration(op>>2&3) * 400 * time.Millisecond)
			var text strings.Builder
			if op&0x10 != 0 {
				text.WriteByte('#')
			}
			for k := range n {
				text.WriteByte(alphabet[s][(k*7+int(in[i+1])+i)%8])
				if (op>>5)&1 != 0 && k%5 == 0 {
					text.WriteByte('"')
				}
			}
			want[s].WriteString(text.String())
			stream := [2]string{"stdout", "stderr"}[s]
			ts := at.Format(time.RFC3339Nano)
			switch {
			case docker:
				log := text.String()
				if !partial {
					log += "\n"
				}
				b, _ := json.Marshal(map[string]string{"log": log, "stream": stream, "time": ts})
				file.Write(b)
				file.WriteByte('\n')
			case partial:
				fmt.Fprintf(&file, "%s %s P %s\n", ts, stream, text.String())
			default:
				fmt.Fprintf(&file, "%s %s F %s\n", ts, stream, text.String())
			}
		}
		content := file.String()
		st := spec.NewStage()
		var got [2]strings.Builder
		off, next := 0, 0
		for {
			for k := 0; k < step && next < len(content); k++ {
				next += strings.IndexByte(content[next:], '\n') + 1
			}
			p := rawPackage([]byte(content[off:next]))
			flush := next == len(content)
			keep := st.Process(p, flush)
			for i, e := range p.Records {
				s := 0
				switch {
				case e.Flags&record.FlagStderr != 0 && e.Flags&record.FlagStdout == 0:
					s = 1
				case e.Flags&record.FlagStdout != 0 && e.Flags&record.FlagStderr == 0:
				default:
					t.Fatalf("record %q has flags %b: want one stream", p.Body(i), e.Flags)
				}
				body := p.Body(i)
				if k := bytes.IndexAny(body, alphabet[1-s][:8]); k >= 0 {
					t.Fatalf("%s record %q holds %q of the other stream", [2]string{"stdout", "stderr"}[s], body, body[k])
				}
				got[s].Write(bytes.ReplaceAll(body, []byte{'\n'}, nil))
			}
			switch {
			case keep < 0:
				off = next
			case keep > next-off:
				t.Fatalf("keep %d beyond the package's %d bytes", keep, next-off)
			default:
				off += keep
			}
			if flush {
				break
			}
		}
		for s := range got {
			if got[s].String() != want[s].String() {
				t.Fatalf("%s: records hold\n%q\nwant\n%q\nfile:\n%s", [2]string{"stdout", "stderr"}[s], got[s].String(), want[s].String(), content)
			}
		}
	})
}

// FuzzSyslog: any line gives one record that either keeps the whole line
// as its body with loglet.parse_error, or whose body is the line's tail
// (the MSG) and whose priority, when there is one, is a PRI number that
// set the severity; every record encodes to valid JSON.
func FuzzSyslog(f *testing.F) {
	for _, s := range []string{
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"][x@1 a="q\"\]\\"] ` + "\xef\xbb\xbfAn application event",
		"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed",
		"<15>1 - - - - - -",
		"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8",
		"<163>Dec  2 10:00:01 vm shop[4711] payment declined",
		"<13>Dec  2 10:00:01 vm shop[4711]",
		"Dec  1 10:00:01 host app[42]: msg",
		"Feb 29 10:00:01.123 host app: leap",
		"2026-12-01T10:00:01.123456+00:00 host app[42]: msg",
		"<30>Dec  1 10:00:01 systemd[1]: Starting apt-daily.service...",
		"<28>systemd-journald[210]: Under memory pressure",
		"<0>",
		"<999>Oct 11 22:14:15 host app: x",
		"<165>1 2003-10-11T22:14:15.003Z host app - ID47 [broken",
	} {
		f.Add([]byte(s))
	}
	for _, s := range seeds {
		f.Add([]byte(strings.Split(s, "\n")[0]))
	}
	spec, err := Compile(Config{Format: "syslog", MaxLineBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		st := spec.NewStage()
		line = bytes.ReplaceAll(line, []byte{'\n'}, nil)
		p := rawPackage(append(line, '\n'))
		p.Origin = record.NewOrigin("src", "/x.log", nil)
		if keep := st.Process(p, true); keep != -1 || len(p.Records) != 1 {
			t.Fatalf("%q: keep %d, %d records; want every line used, one record", line, keep, len(p.Records))
		}
		body, attrs := p.Body(0), p.Attributes(0)
		failed, marks := false, 1
		if !utf8.Valid(line) {
			// Invalid UTF-8 is replaced in the text and kept beside it.
			marks++
			line = decode.AppendValid(nil, line)
		}
		for _, a := range attrs {
			key, val := string(p.Bytes(a.Key)), p.Bytes(a.Value)
			switch key {
			case "loglet.raw_body":
				if orig, err := decode.Unescape(val); err != nil || !bytes.Equal(decode.AppendValid(nil, orig), line) {
					t.Fatalf("%q: loglet.raw_body %q does not give the line back: %q, %v", line, val, orig, err)
				}
			case "loglet.parse_error":
				failed = bytes.Contains(val, []byte("syslog:"))
			case "priority":
				n, err := strconv.Atoi(string(val))
				if err != nil || n < 0 || n > 191 || p.Records[0].Severity == record.SeverityNone {
					t.Fatalf("%q: priority %q with severity %v", line, val, p.Records[0].Severity)
				}
			}
		}
		if failed && (len(attrs) != marks || !bytes.Equal(body, line)) {
			t.Fatalf("%q failed to parse but kept %q and %d attributes", line, body, len(attrs))
		}
		if !failed && !bytes.HasSuffix(line, body) {
			t.Fatalf("%q: body %q is not the line's message", line, body)
		}
		if out := p.AppendNDJSON(nil); !json.Valid(out) {
			t.Fatalf("%q: record is not valid JSON: %s", line, out)
		}
	})
}
