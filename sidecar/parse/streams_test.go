package parse_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
)

// criParts wraps text as a CRI runtime that splits lines at size bytes
// would: the pieces of the line, every one but the last marked P.
func criParts(ts, stream, text string, size int) []string {
	var out []string
	for len(text) > size {
		out = append(out, fmt.Sprintf("%s %s P %s\n", ts, stream, text[:size]))
		text = text[size:]
	}
	return append(out, fmt.Sprintf("%s %s F %s\n", ts, stream, text))
}

// dockerParts wraps text as Docker's json-file driver does: pieces of 16
// KiB, the newline only on the last.
func dockerParts(ts, stream, text string) []string {
	var out []string
	for len(text) > 16<<10 {
		out = append(out, fmt.Sprintf(`{"log":%q,"stream":%q,"time":%q}`+"\n", text[:16<<10], stream, ts))
		text = text[16<<10:]
	}
	return append(out, fmt.Sprintf(`{"log":%q,"stream":%q,"time":%q}`+"\n", text+"\n", stream, ts))
}

// interleave puts the lines of b between those of a: after a's k-th line
// come b's lines at[k] (counts), the rest at the end.
func interleave(a, b []string, at ...int) string {
	var s strings.Builder
	j := 0
	for k, l := range a {
		s.WriteString(l)
		if k < len(at) {
			for n := 0; n < at[k] && j < len(b); n++ {
				s.WriteString(b[j])
				j++
			}
		}
	}
	for ; j < len(b); j++ {
		s.WriteString(b[j])
	}
	return s.String()
}

const (
	tsOut = "2026-12-01T10:00:00.000000001Z"
	tsErr = "2026-12-01T10:00:00.5Z"
)

// TestStreamsJoinedApart: partial lines and multiline records are put
// together per stream, whatever the other stream writes between their
// pieces. A record is emitted after every record that began before it.
func TestStreamsJoinedApart(t *testing.T) {
	// The file: a 40,000-byte stdout line cut into 16 KiB P parts
	// by containerd, with four stderr lines written between them.
	long := "2026-12-01 10:00:00 INFO " + bigText(40000-25)
	var errLines, errWant []string
	for i := range 4 {
		text := fmt.Sprintf("2026-12-01 10:00:00 WARN disk slow, retry %d of 4", i+1)
		errLines = append(errLines, criParts(tsErr, "stderr", text, 16<<10)...)
		errWant = append(errWant, text)
	}
	containerd := interleave(criParts(tsOut, "stdout", long, 16<<10), errLines, 2, 2)
	want := []rec{{Body: long, Time: tsOut, Stream: "stdout", Severity: "INFO"}}
	for _, text := range errWant {
		want = append(want, rec{Body: text, Time: "2026-12-01T10:00:00.5Z", Stream: "stderr", Severity: "WARN"})
	}

	// CRI-O cuts at 8 KiB; here both streams are cut at once.
	errLong := "stderr " + bigText(20000-7)
	crio := interleave(criParts(tsOut, "stdout", long, 8<<10), criParts(tsErr, "stderr", errLong, 8<<10), 1, 1, 1, 0, 1)
	crioWant := []rec{{Body: long, Time: tsOut, Stream: "stdout", Severity: "INFO"}, {Body: errLong, Time: "2026-12-01T10:00:00.5Z", Stream: "stderr"}}

	// Docker's json-file: a "log" without the final \n is a piece.
	errDocker := `stderr "quoted" ` + bigText(20000)
	docker := interleave(dockerParts(tsOut, "stdout", long), dockerParts(tsErr, "stderr", errDocker), 1, 1)
	dockerWant := []rec{{Body: long, Time: tsOut, Stream: "stdout", Severity: "INFO"}, {Body: errDocker, Time: "2026-12-01T10:00:00.5Z", Stream: "stderr"}}

	// A Java stack trace on stdout and a Python traceback on stderr, line
	// by line in turn, then one more record of each.
	java, python := strings.Split(javaTrace, "\n"), strings.Split(pythonTrace, "\n")
	var traces, dtraces strings.Builder
	for i := range max(len(java), len(python)) {
		if i < len(java) {
			traces.WriteString(criLines(tsOut, "stdout", java[i]))
			dtraces.WriteString(dockerLines(tsOut, "stdout", java[i]))
		}
		if i < len(python) {
			traces.WriteString(criLines(tsErr, "stderr", python[i]))
			dtraces.WriteString(dockerLines(tsErr, "stderr", python[i]))
		}
	}
	for _, w := range []struct{ b *strings.Builder }{{&traces}} {
		w.b.WriteString(criLines(tsOut, "stdout", "2026-11-25 10:00:01.000 INFO recovered"))
		w.b.WriteString(criLines(tsErr, "stderr", "2026-11-25 10:00:02,000 INFO done"))
	}
	dtraces.WriteString(dockerLines(tsOut, "stdout", "2026-11-25 10:00:01.000 INFO recovered"))
	dtraces.WriteString(dockerLines(tsErr, "stderr", "2026-11-25 10:00:02,000 INFO done"))
	tracesWant := []rec{
		{Body: javaTrace, Time: tsOut, Stream: "stdout", Severity: "ERROR"},
		{Body: pythonTrace, Time: "2026-12-01T10:00:00.5Z", Stream: "stderr"},
		{Body: "2026-11-25 10:00:01.000 INFO recovered", Time: tsOut, Stream: "stdout", Severity: "INFO"},
		{Body: "2026-11-25 10:00:02,000 INFO done", Time: "2026-12-01T10:00:00.5Z", Stream: "stderr", Severity: "INFO"},
	}
	ml := `^(\d{4}-\d{2}-\d{2} |Traceback)`

	check(t, []tcase{
		{"containerd 16 KiB parts with stderr lines between", containerd, parse.Config{Container: "cri"}, want},
		{"containerd 16 KiB parts with stderr lines between, multiline", containerd,
			parse.Config{Container: "cri", MultilineStart: `^\d{4}-\d{2}-\d{2} `}, want},
		{"auto finds cri, 16 KiB parts with stderr lines between", containerd, parse.Config{Container: "auto"}, want},
		{"cri-o 8 KiB parts of both streams", crio, parse.Config{Container: "cri"}, crioWant},
		{"cri-o 8 KiB parts of both streams, multiline", crio, parse.Config{Container: "cri", MultilineStart: `^\d{4}-\d{2}-\d{2} `}, crioWant},
		{"docker 16 KiB pieces of both streams", docker, parse.Config{Container: "docker"}, dockerWant},
		{"docker 16 KiB pieces of both streams, multiline", docker, parse.Config{Container: "docker", MultilineStart: `^\d{4}-`}, dockerWant},
		{"cri multiline per stream", traces.String(), parse.Config{Container: "cri", MultilineStart: ml}, tracesWant},
		{"docker multiline per stream", dtraces.String(), parse.Config{Container: "docker", MultilineStart: ml}, tracesWant},
	})
}

// TestContainerTimeKept: a record keeps its container line's time when its
// text does not parse; a time the parser finds wins.
func TestContainerTimeKept(t *testing.T) {
	const ts = "2026-12-01T10:00:01.100000000Z"
	const want = "2026-12-01T10:00:01.1Z"
	notJSON := map[string]string{"loglet.parse_error": "json: not a JSON object"}
	parts := strings.Join(criParts(ts, "stdout", "not json, in "+bigText(100), 40), "")
	check(t, []tcase{
		{"cri, not json", ts + " stdout F not json\n", parse.Config{Container: "cri", Format: "json"},
			[]rec{{Body: "not json", Time: want, Stream: "stdout", Attrs: notJSON}}},
		{"docker, not json", dockerLines(ts, "stderr", "not json"), parse.Config{Container: "docker", Format: "json"},
			[]rec{{Body: "not json", Time: want, Stream: "stderr", Attrs: notJSON}}},
		{"cri joined partial line, not json", parts, parse.Config{Container: "cri", Format: "json", TimeKey: "time"},
			[]rec{{Body: "not json, in " + bigText(100), Time: want, Stream: "stdout", Attrs: notJSON}}},
		{"cri joined partial line, not json, multiline", parts + ts + " stdout F {\"msg\":\"next\"}\n",
			parse.Config{Container: "cri", Format: "json", MultilineStart: `^[n{]`},
			[]rec{{Body: "not json, in " + bigText(100), Time: want, Stream: "stdout", Attrs: notJSON},
				{Body: "next", Time: want, Stream: "stdout"}}},
		{"docker, multiline record, not json", dockerLines(ts, "stdout", "{\"msg\":") + dockerLines("2026-12-01T10:00:02Z", "stdout", "  oops"),
			parse.Config{Container: "docker", Format: "json", MultilineStart: `^\{`},
			[]rec{{Body: "{\"msg\":\n  oops", Time: want, Stream: "stdout", Attrs: map[string]string{"loglet.parse_error": "json: invalid JSON"}}}},
		{"the parser's time wins", ts + ` stdout F {"time":"2026-12-01T09:59:59Z","msg":"hi"}` + "\n",
			parse.Config{Container: "cri", Format: "json", TimeKey: "time"},
			[]rec{{Body: "hi", Time: "2026-12-01T09:59:59Z", Stream: "stdout", Attrs: map[string]string{"time": "2026-12-01T09:59:59Z"}}}},
		{"a time key that does not parse", ts + ` stdout F {"time":"yesterday","msg":"hi"}` + "\n",
			parse.Config{Container: "cri", Format: "json", TimeKey: "time"},
			[]rec{{Body: "hi", Time: want, Stream: "stdout", Attrs: map[string]string{"time": "yesterday", "loglet.parse_error": `time: cannot parse "yesterday" as rfc3339`}}}},
		{"regex that does not match", ts + " stderr F no match\n", parse.Config{Container: "cri", Format: `regex:^(?P<a>\d+)$`},
			[]rec{{Body: "no match", Time: want, Stream: "stderr", Attrs: map[string]string{"loglet.parse_error": "regex: the line does not match --format"}}}},
	})
}

// TestTwoStreamsRestartAnywhere: with records of both streams open at
// once, every package's end offset (the checkpoint once acknowledged)
// lies where a restart reads exactly the records not sent yet: none lost,
// none twice.
func TestTwoStreamsRestartAnywhere(t *testing.T) {
	at := func(ms int) string {
		return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond).Format(time.RFC3339Nano)
	}
	// Both streams write records of split lines and stack traces in turn.
	var turns strings.Builder
	for i := range 16 {
		out := criParts(tsOut, "stdout", fmt.Sprintf("2026-12-01 10:00:%02d INFO request %d %s", i, i, bigText(i*37%300)), 100)
		errs := criParts(tsErr, "stderr", fmt.Sprintf("2026-12-01 10:00:%02d WARN slow %d", i, i), 100)
		if i%3 == 0 {
			errs = append(errs, criParts(tsErr, "stderr", "\tat trace line "+bigText(150), 100)...)
		}
		turns.WriteString(interleave(out, errs, 1, 1, 1))
	}
	// stdout writes now and then, stderr all the time: stdout's records
	// are finished by the other stream's time passing.
	var quiet strings.Builder
	for i := range 36 {
		if i%7 == 0 {
			quiet.WriteString(strings.Join(criParts(at(300*i), "stdout", fmt.Sprintf("2026-12-01 10:00:%02d ERROR %d %s", i, i, bigText(150)), 100), ""))
			quiet.WriteString(criLines(at(300*i+1), "stdout", "\tat com.example.Main.run(Main.java:7)"))
		}
		var cut []string // now and then a stdout line whose end never comes
		if i%11 == 5 {
			cut = []string{at(300*i+3) + " stdout P unfinished \n"}
		}
		quiet.WriteString(interleave(criParts(at(300*i+2), "stderr", fmt.Sprintf("2026-12-01 10:00:%02d INFO tick %d %s", i, i, bigText(i%4*40)), 100), cut, 1))
	}
	for name, content := range map[string]string{"turns": turns.String(), "quiet stdout": quiet.String()} {
		for _, cfg := range []parse.Config{{Container: "cri"}, {Container: "cri", MultilineStart: `^\d{4}-`}} {
			cfg.MultilineTimeout, cfg.MaxLineBytes = time.Second, 256<<10
			spec, err := parse.Compile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			all, _ := readInSteps(spec, content, 1<<30)
			for _, step := range []int{1, 4} {
				got, ends := readInSteps(spec, content, step)
				if msg := sameRecs(got, all); msg != "" {
					t.Fatalf("%s %+v, %d lines a package: %s", name, cfg, step, msg)
				}
				for _, end := range ends {
					// A restart from this package's end reads the
					// records not sent yet: none lost, none twice.
					rest, _ := readInSteps(spec, content[end.offset:], step)
					if msg := sameRecs(rest, all[end.records:]); msg != "" {
						t.Fatalf("%s %+v, %d lines a package: restart at byte %d after %d records: %s", name, cfg, step, end.offset, end.records, msg)
					}
				}
			}
		}
	}
}

// packageEnd is where a package ended: the reader's offset after it (what
// a checkpoint records) and the records sent up to it.
type packageEnd struct{ offset, records int }

// readInSteps reads content as source.File does, in packages of step more
// lines: each package holds the lines the stage kept from the last one and
// step new ones; the last one is flushed (the end of a file).
func readInSteps(spec *parse.Spec, content string, step int) ([]rec, []packageEnd) {
	st := spec.NewStage()
	var out []rec
	var ends []packageEnd
	off, next := 0, 0 // the package's start and the end of its lines
	for {
		for n := 0; n < step && next < len(content); n++ {
			next += strings.IndexByte(content[next:], '\n') + 1
		}
		p := linesPackage(content[off:next])
		flush := next == len(content)
		keep := st.Process(p, flush)
		out = append(out, toRecs([]*record.Package{p})...)
		if keep < 0 {
			off = next
		} else {
			off += keep
		}
		ends = append(ends, packageEnd{off, len(out)})
		if flush {
			return out, ends
		}
	}
}

func sameRecs(got, want []rec) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d records, want %d:\n%s\nwant:\n%s", len(got), len(want), dump(got), dump(want))
	}
	for i := range got {
		if msg := diff(got[i], want[i]); msg != "" {
			return fmt.Sprintf("record %d: %s", i, msg)
		}
	}
	return ""
}

// linesPackage indexes content's lines as source.File does: one raw record
// per line, without its newline, all read at one time.
func linesPackage(content string) *record.Package {
	p := &record.Package{Data: []byte(content), Spans: []record.Span{{Time: time.Unix(1, 0)}}}
	start := 0
	for i := range len(content) {
		if content[i] == '\n' {
			p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(i)})
			start = i + 1
		}
	}
	return p
}

// TestQuietStreamDoesNotHoldTheOther: the reader finishes an open record
// only when the file stops growing, which never happens while the other
// stream keeps writing. A record of a stream that went quiet is finished
// once the other stream's lines are a multiline timeout younger (by their
// container times), so what the other stream wrote after it is not held
// back; the same file read again gives the same records.
func TestQuietStreamDoesNotHoldTheOther(t *testing.T) {
	at := func(ms int) string {
		return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond).Format(time.RFC3339Nano)
	}
	var b strings.Builder
	b.WriteString(criLines(at(0), "stdout", "2026-12-01 10:00:00 ERROR failed"))
	b.WriteString(criLines(at(1), "stdout", "\tat com.example.Main.run(Main.java:7)"))
	b.WriteString(strings.Join(criParts(at(2), "stderr", "2026-12-01 10:00:00 WARN split over two pieces", 30), ""))
	b.WriteString(at(3) + " stdout P a line whose end never comes\n")
	for i := range 6 {
		b.WriteString(criLines(at(500*(i+1)), "stderr", fmt.Sprintf("2026-12-01 10:00:0%d INFO tick %d", i, i)))
	}
	content := b.String()
	tests := []struct {
		name string
		cfg  parse.Config
		want []string // the bodies emitted without a flush
		keep string   // the line the reader keeps from
	}{
		{"multiline", parse.Config{Container: "cri", MultilineStart: `^\d{4}-`},
			[]string{"2026-12-01 10:00:00 ERROR failed\n\tat com.example.Main.run(Main.java:7)\na line whose end never comes",
				"2026-12-01 10:00:00 WARN split over two pieces", "2026-12-01 10:00:00 INFO tick 0", "2026-12-01 10:00:01 INFO tick 1",
				"2026-12-01 10:00:02 INFO tick 2", "2026-12-01 10:00:03 INFO tick 3", "2026-12-01 10:00:04 INFO tick 4"},
			at(3000) + " stderr F 2026-12-01 10:00:05 INFO tick 5"},
		{"partial lines only", parse.Config{Container: "cri"},
			[]string{"2026-12-01 10:00:00 ERROR failed", "\tat com.example.Main.run(Main.java:7)", "2026-12-01 10:00:00 WARN split over two pieces",
				"a line whose end never comes", "2026-12-01 10:00:00 INFO tick 0", "2026-12-01 10:00:01 INFO tick 1",
				"2026-12-01 10:00:02 INFO tick 2", "2026-12-01 10:00:03 INFO tick 3", "2026-12-01 10:00:04 INFO tick 4",
				"2026-12-01 10:00:05 INFO tick 5"},
			""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.MultilineTimeout, tc.cfg.MaxLineBytes = time.Second, 256<<10
			spec, err := parse.Compile(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			p := linesPackage(content)
			keep := spec.NewStage().Process(p, false)
			var got []string
			for i := range p.Records {
				got = append(got, string(p.Body(i)))
			}
			if strings.Join(got, "\n---\n") != strings.Join(tc.want, "\n---\n") {
				t.Errorf("records without a flush:\n%s\nwant:\n%s", strings.Join(got, "\n---\n"), strings.Join(tc.want, "\n---\n"))
			}
			kept := ""
			if keep >= 0 {
				kept = strings.TrimSuffix(content[keep:], "\n")
			}
			if kept != tc.keep {
				t.Errorf("kept %q, want %q", kept, tc.keep)
			}
		})
	}
}
