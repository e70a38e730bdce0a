package parse_test

// The peers' own multiline test cases, restated as files and run through
// loglet's multiline (issue 18, "Must show 1"). Each case keeps the peer's
// input lines and the records the peer's test expects, with the peer's
// setting translated into loglet's:
//
//	Filebeat  negate: true,  match: after,  pattern P   start P
//	Filebeat  negate: false, match: after,  pattern P   continue P
//	Filebeat  negate: true,  match: before, pattern P   end P (the lines before
//	                                                    a matching line join it)
//	Filebeat  negate: false, match: before, pattern P   end "not P" (a line
//	                                                    that does not go on into
//	                                                    the next ends the record)
//	Filebeat  flush_pattern F                            end F
//	Vector    halt_before C                              start C
//	Vector    halt_with C                                end C
//	Vector    continue_through S, C                      start S, continue C
//	Vector    continue_past C                            end "not C", as above
//	stanza    line_start_pattern P                       start P
//	stanza    line_end_pattern P                         end P
//	stanza    recombine is_first_entry / is_last_entry   start / end
//	Fluent Bit  java, python, go parsers                 preset java, python, go
//	Fluent Bit  regex rules start_state S, cont C        start S, continue C
//	Fluent Bit  endswith X                               end "not ending in X"
//
// Where loglet's documented choice (docs/configuration.md, "Multiline")
// gives other records, the case expects loglet's records and says why.
// What every case differs in and is not noted case by case: a peer's
// token may keep its line's "\n" (stanza); loglet's records never hold
// the line terminator. A record still open at the end of the file is
// finished by loglet's timeout; stanza (without flush-at-EOF) keeps it
// waiting for more, which the stanza cases note. A severity a case expects
// is what loglet reads from the record's text ("INFO …", "panic:"); the
// peers' tests check none.
//
// Not applicable (no loglet setting gives the peer's behaviour):
//   - Filebeat TestMultilineAfterTruncated, and the truncated halves of
//     TestMultilineCount and TestMultilineWhilePattern: Filebeat's max_lines
//     drops the lines past the limit and flags the event "truncated";
//     loglet's max-lines finishes the record in parts and loses no line.
//   - Filebeat TestMultilineCount, and parser_test.go's "correct multiline
//     parser" and "multiline count": count-based multiline (count_lines).
//   - Filebeat parser_test.go "syslog multiline": the syslog parser first,
//     then multiline on the messages; loglet joins lines before it parses
//     them (docs/configuration.md), so each syslog line stays a record.
//   - Filebeat TestMultilineWhilePattern: while_pattern joins consecutive
//     matching lines only, so the first matching line does not join the
//     line before it; loglet's continue joins it to the record before.
//   - Vector two_lines_emit_with_continue_through (its issue 3237): a
//     record that begins only with a line the continue pattern also
//     matches (start = continue = ^\s). In loglet a start line always
//     begins a record ("the lines after it join it until the next start
//     line"), so every indented line would be its own record.
//   - Vector timeout_resets_on_new_line: timing of the timeout, not records.
//   - stanza cases whose pattern is not anchored to a line (OneLogSimple,
//     TwoLogsSimple, PrecedingNonMatches, NonMatchesAfter, HugeLog*,
//     NoMatches) and the OmitPattern variants: stanza splits a byte stream
//     at any match, inside a line; loglet joins and splits whole lines and
//     keeps their text whole.
//   - stanza recombine: CombineWithEmptyString (combine_with ""; loglet
//     joins lines with "\n"), StacktraceSubfield (joins a field of parsed
//     entries; loglet joins lines before parsing), CombineOtherThanCondition
//     (CRI P/F pieces by their logtag: loglet's cri format, in
//     peers_otel_test.go), ThreeEntriesFirstOldest (overwrite_with: which
//     entry's time the record keeps), the NoEntries/OneEntry cases (match
//     everything), TestCustomSourceIdentifier, TestMaxSources and
//     TestMaxBatchSize (sources interleaved in one stream; loglet reads
//     each file apart), TestMaxLogSize* (recombine cuts into separate
//     entries; loglet into parts of one record), max_unmatched_batch_size
//     with is_last_entry (EntriesNonMatchingForLastEntryWithMaxUnmatched
//     BatchSize=1, TestMaxUnmatchedBatchSizeForLastEntry,
//     EntriesMatchingForLastEntryAfterMaxUnmatchedBatchSize: no loglet
//     setting), and the timing tests (TestTimeout*, FlushesOnShutdown,
//     TestSourceBatchDelete).
//   - Fluent Bit parser_docker: its input holds a raw newline inside a JSON
//     string and a line that is not JSON, meant for its in-memory API; as
//     a file these are other lines (loglet's Docker cases are in
//     peers_test.go and peers_filebeat_test.go).
//   - Fluent Bit container_mix: Docker and CRI lines in one stream; loglet
//     reads one container format per input.
//   - Fluent Bit has no ruby case in tests/internal/multiline.c.

import (
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/parse"
)

// lines returns ls as a file's content, one line each.
func lines(ls ...string) string {
	return strings.Join(ls, "\n") + "\n"
}

// bodies returns one record per body.
func bodies(bs ...string) []rec {
	out := make([]rec, len(bs))
	for i, b := range bs {
		out[i] = rec{Body: b}
	}
	return out
}

// TestFilebeatMultilineCases: the cases of Filebeat's multiline reader
// test (elastic/beats, libbeat/reader/multiline/multiline_test.go,
// Apache-2.0). Filebeat's expected events are its input lines joined with
// "\n", trailing line ends removed.
func TestFilebeatMultilineCases(t *testing.T) {
	const esTrace = "    at org.elasticsearch.cluster.metadata.IndexNameExpressionResolver$WildcardExpressionResolver.resolve(IndexNameExpressionResolver.java:566)\n" +
		"    at org.elasticsearch.cluster.metadata.IndexNameExpressionResolver.concreteIndices(IndexNameExpressionResolver.java:133)\n" +
		"    at org.elasticsearch.cluster.metadata.IndexNameExpressionResolver.concreteIndices(IndexNameExpressionResolver.java:77)\n" +
		"    at org.elasticsearch.action.admin.indices.delete.TransportDeleteIndexAction.checkBlock(TransportDeleteIndexAction.java:75)"
	esSyslog := map[string]string{"facility": "local4", "priority": "165", "hostname": "192.168.2.1", "appname": "myproc", "proc_id": "8710"}
	check(t, []tcase{
		// TestMultilineAfterOK: pattern ^[ \t] +, match after.
		{"AfterOK", lines("line1", "  line1.1", "  line1.2", "line2", "  line2.1", "  line2.2"),
			parse.Config{MultilineContinue: `^[ \t] +`},
			bodies("line1\n  line1.1\n  line1.2", "line2\n  line2.1\n  line2.2")},
		// TestMultilineBeforeOK: pattern \\$, match before (a line ending
		// in a backslash goes on into the next): a line that does not end
		// in one ends the record.
		{"BeforeOK", lines(`line1 \`, `line1.1 \`, "line1.2", `line2 \`, `line2.1 \`, "line2.2"),
			parse.Config{MultilineEnd: `(?:^|[^\\])$`},
			bodies("line1 \\\nline1.1 \\\nline1.2", "line2 \\\nline2.1 \\\nline2.2")},
		// TestMultilineAfterNegateOK: pattern ^-, negate, match after.
		{"AfterNegateOK", lines("-line1", "  - line1.1", "  - line1.2", "-line2", "  - line2.1", "  - line2.2"),
			parse.Config{MultilineStart: `^-`},
			bodies("-line1\n  - line1.1\n  - line1.2", "-line2\n  - line2.1\n  - line2.2")},
		// TestMultilineBeforeNegateOK: pattern ;$, negate, match before.
		{"BeforeNegateOK", lines("line1", "line1.1", "line1.2;", "line2", "line2.1", "line2.2;"),
			parse.Config{MultilineEnd: `;$`},
			bodies("line1\nline1.1\nline1.2;", "line2\nline2.1\nline2.2;")},
		// TestMultilineAfterNegateOKFlushPattern: pattern EventStart,
		// negate, match after, flush_pattern EventEnd; the line between
		// two events is an event of its own.
		{"AfterNegateOKFlushPattern", lines("EventStart", "EventId: 1", "EventEnd", "OtherThingInBetween", "EventStart", "EventId: 2", "EventEnd"),
			parse.Config{MultilineStart: `EventStart`, MultilineEnd: `EventEnd`},
			bodies("EventStart\nEventId: 1\nEventEnd", "OtherThingInBetween", "EventStart\nEventId: 2\nEventEnd")},
		// TestMultilineAfterNegateOKFlushPatternWhereTheFirstLinesDosentMatchTheStartPattern:
		// Filebeat joins the two lines before the first start line into
		// one event (3 events). loglet's documented choice: a line before
		// any start line is a record of its own, as it would be without
		// multiline, so that unrelated lines stay apart (4 records).
		{"AfterNegateOKFlushPatternFirstLinesNoStart", lines("StartLineThatDosentMatchTheEvent", "OtherThingInBetween", "EventStart", "EventId: 2", "EventEnd", "EventStart", "EventId: 3", "EventEnd"),
			parse.Config{MultilineStart: `EventStart`, MultilineEnd: `EventEnd`},
			bodies("StartLineThatDosentMatchTheEvent", "OtherThingInBetween", "EventStart\nEventId: 2\nEventEnd", "EventStart\nEventId: 3\nEventEnd")},
		// TestMultilineBeforeNegateOKWithEmptyLine: empty lines join too.
		{"BeforeNegateOKWithEmptyLine", lines("line1", "", "", "line1.2;", "line2", "line2.1", "line2.2;"),
			parse.Config{MultilineEnd: `;$`},
			bodies("line1\n\n\nline1.2;", "line2\nline2.1\nline2.2;")},

		// libbeat/reader/parser/parser_test.go, TestParsersConfigAndReading
		// and reuseTortureCases (the parsers of filestream):
		//
		// "multiline docker logs parser": ndjson (message_key log), then
		// pattern ^\[log\], negate, match after. Filebeat's ndjson parser
		// takes each json-file line as it is (3 events). loglet reads the
		// json-file format: an entry whose "log" lacks its final "\n" is
		// a split line that the next entry completes (README,
		// container-format: "docker (json-file; 16 KiB splits joined)"),
		// so " lines" and "[log] In total…" are one line, which joins the
		// record before it (2 records).
		{"parser/multiline docker logs parser", `{"log":"[log] The following are log messages\n","stream":"stdout","time":"2016-03-02T22:58:51.338462311Z"}
{"log":"[log] This one is\n","stream":"stdout","time":"2016-03-02T22:58:51.338462311Z"}
{"log":" on multiple\n","stream":"stdout","time":"2016-03-02T22:58:51.338462311Z"}
{"log":" lines","stream":"stdout","time":"2016-03-02T22:58:51.338462311Z"}
{"log":"[log] In total there should be 3 events\n","stream":"stdout","time":"2016-03-02T22:58:51.338462311Z"}
`, parse.Config{Container: "docker", MultilineStart: `^\[log\]`},
			[]rec{{Body: "[log] The following are log messages", Stream: "stdout", Time: "2016-03-02T22:58:51.338462311Z"},
				{Body: "[log] This one is\n on multiple\n lines[log] In total there should be 3 events", Stream: "stdout", Time: "2016-03-02T22:58:51.338462311Z"}}},
		// "multiline syslog": pattern ^<\d{1,3}>, negate, match after,
		// then the syslog parser (rfc5424) on the joined record.
		{"parser/multiline syslog", lines(
			"<165>1 2003-08-24T05:14:15.000003-07:00 192.168.2.1 myproc 8710 - - [beat-logstash-some-name-832-2015.11.28] IndexNotFoundException[no such index]",
			esTrace,
			"<165>1 2003-08-24T05:14:20.000003-07:00 192.168.2.1 myproc 8710 - - [beat-logstash-some-name-832-2015.11.28] IndexNotFoundException[no such index]",
			esTrace) + "<165>1 2003-08-24T05:14:30.000003-07:00 192.168.2.1 myproc 8710 - - This is some other debug message.",
			parse.Config{MultilineStart: `^<\d{1,3}>`, Format: "syslog"},
			[]rec{
				{Body: "[beat-logstash-some-name-832-2015.11.28] IndexNotFoundException[no such index]\n" + esTrace, Severity: "INFO", Time: "2003-08-24T12:14:15.000003Z", Attrs: esSyslog},
				{Body: "[beat-logstash-some-name-832-2015.11.28] IndexNotFoundException[no such index]\n" + esTrace, Severity: "INFO", Time: "2003-08-24T12:14:20.000003Z", Attrs: esSyslog},
				{Body: "This is some other debug message.", Severity: "INFO", Time: "2003-08-24T12:14:30.000003Z", Attrs: esSyslog},
			}},
		// reuseTortureCases "multiline pattern": pattern ^[[:space:]],
		// match after.
		{"parser/multiline pattern", lines("head1", " cont1a", " cont1b", "head2", " cont2a", "head3"),
			parse.Config{MultilineContinue: `^[[:space:]]`},
			bodies("head1\n cont1a\n cont1b", "head2\n cont2a", "head3")},
		// reuseTortureCases "multiline while": while_pattern ^[[:space:]],
		// negate: consecutive lines that do not begin with a space. As
		// continue ^[^[:space:]] (the lines that do not): the two differ
		// only in whether the first such line joins the record before it,
		// and here none is open.
		{"parser/multiline while", lines("x1", "x2", "x3"),
			parse.Config{MultilineContinue: `^[^[:space:]]`},
			bodies("x1\nx2\nx3")},
	})
}

// TestVectorMultilineCases: the cases of Vector's line aggregator
// (vectordotdev/vector, src/line_agg.rs, its tests module, MPL-2.0).
// Vector's records are its input lines joined with "\n".
func TestVectorMultilineCases(t *testing.T) {
	check(t, []tcase{
		// mode_continue_through_1: start_pattern ^[^\s], condition ^[\s]+.
		{"mode_continue_through_1", lines("some usual line", "some other usual line", "first part", " second part", " last part", "another normal message", "finishing message", " last part of the incomplete finishing message"),
			parse.Config{MultilineStart: `^[^\s]`, MultilineContinue: `^[\s]+`},
			bodies("some usual line", "some other usual line", "first part\n second part\n last part", "another normal message", "finishing message\n last part of the incomplete finishing message")},
		// mode_continue_past_1: condition \\$ (a line ending in a
		// backslash goes on into the next): a line that does not end in
		// one ends the record.
		{"mode_continue_past_1", lines("some usual line", "some other usual line", `first part \`, `second part \`, "last part", "another normal message", `finishing message \`, `last part of the incomplete finishing message \`),
			parse.Config{MultilineEnd: `(?:^|[^\\])$`},
			bodies("some usual line", "some other usual line", "first part \\\nsecond part \\\nlast part", "another normal message", "finishing message \\\nlast part of the incomplete finishing message \\")},
		// mode_halt_before_1: condition ^(INFO|ERROR) (start_pattern "").
		{"mode_halt_before_1", lines("INFO some usual line", "INFO some other usual line", "INFO first part", "second part", "last part", "ERROR another normal message", "ERROR finishing message", "last part of the incomplete finishing message"),
			parse.Config{MultilineStart: `^(INFO|ERROR) `},
			[]rec{{Body: "INFO some usual line", Severity: "INFO"}, {Body: "INFO some other usual line", Severity: "INFO"},
				{Body: "INFO first part\nsecond part\nlast part", Severity: "INFO"}, {Body: "ERROR another normal message", Severity: "ERROR"},
				{Body: "ERROR finishing message\nlast part of the incomplete finishing message", Severity: "ERROR"}}},
		// mode_halt_with_1: condition ;$. Vector's start_pattern [^;]$
		// only says which lines may begin a record; loglet's end alone
		// gives the same records (a lone line ending in ; opens a record
		// and ends it).
		{"mode_halt_with_1", lines("some usual line;", "some other usual line;", "first part", "second part", "last part;", "another normal message;", "finishing message", "last part of the incomplete finishing message"),
			parse.Config{MultilineEnd: `;$`},
			bodies("some usual line;", "some other usual line;", "first part\nsecond part\nlast part;", "another normal message;", "finishing message\nlast part of the incomplete finishing message")},
		// use_case_java_exception: start ^[^\s], condition ^[\s]+at.
		{"use_case_java_exception", lines("java.lang.Exception", "    at com.foo.bar(bar.java:123)", "    at com.foo.baz(baz.java:456)"),
			parse.Config{MultilineStart: `^[^\s]`, MultilineContinue: `^[\s]+at`},
			bodies("java.lang.Exception\n    at com.foo.bar(bar.java:123)\n    at com.foo.baz(baz.java:456)")},
		// use_case_ruby_exception: start ^[^\s], condition ^[\s]+from.
		{"use_case_ruby_exception", lines("foobar.rb:6:in `/': divided by 0 (ZeroDivisionError)", "\tfrom foobar.rb:6:in `bar'", "\tfrom foobar.rb:2:in `foo'", "\tfrom foobar.rb:9:in `<main>'"),
			parse.Config{MultilineStart: `^[^\s]`, MultilineContinue: `^[\s]+from`},
			bodies("foobar.rb:6:in `/': divided by 0 (ZeroDivisionError)\n\tfrom foobar.rb:6:in `bar'\n\tfrom foobar.rb:2:in `foo'\n\tfrom foobar.rb:9:in `<main>'")},
		// two_lines_emit_with_halt_before: condition ^START (start_pattern
		// ""). Vector's empty start_pattern makes the two lines before the
		// first START one record; loglet's documented choice makes each a
		// record of its own (a line before any start line is not joined).
		{"two_lines_emit_with_halt_before", lines("part 0.1", "part 0.2", "START msg 1", "part 1.1", "part 1.2", "START msg 2", "START msg 3", "part 3.1", "START msg 4", "part 4.1", "part 4.2", "part 4.3", "START msg 5"),
			parse.Config{MultilineStart: `^START `},
			bodies("part 0.1", "part 0.2", "START msg 1\npart 1.1\npart 1.2", "START msg 2", "START msg 3\npart 3.1", "START msg 4\npart 4.1\npart 4.2\npart 4.3", "START msg 5")},
		// legacy: the old multiline config, start ^(INFO|ERROR).
		{"legacy", lines("INFO some usual line", "INFO some other usual line", "INFO first part", "second part", "last part", "ERROR another normal message", "ERROR finishing message", "last part of the incomplete finishing message"),
			parse.Config{MultilineStart: `^(INFO|ERROR)`},
			[]rec{{Body: "INFO some usual line", Severity: "INFO"}, {Body: "INFO some other usual line", Severity: "INFO"},
				{Body: "INFO first part\nsecond part\nlast part", Severity: "INFO"}, {Body: "ERROR another normal message", Severity: "ERROR"},
				{Body: "ERROR finishing message\nlast part of the incomplete finishing message", Severity: "ERROR"}}},
	})
}

// TestOTelMultilineCases: the line-anchored cases of the OpenTelemetry
// Collector's stanza split functions (open-telemetry/
// opentelemetry-collector-contrib, pkg/stanza/split/split_test.go,
// TestLineStartSplitFunc and TestLineEndSplitFunc_Detailed, Apache-2.0)
// and of its recombine operator (pkg/stanza/operator/transformer/
// recombine/transformer_test.go, TestTransformer, Apache-2.0).
// stanza's tokens keep their last "\n"; loglet's records never hold the
// line terminator.
func TestOTelMultilineCases(t *testing.T) {
	const multi = "LOGSTART 12 log1\t  \nLOGPART log1\nLOGPART log1\t   \nLOGSTART 17 log2\nLOGPART log2\nanother line\nLOGSTART 43 log5"
	check(t, []tcase{
		// TwoLogsLineStart: stanza keeps the last record ("LOGSTART 345
		// foo", no newline after it) waiting for more; loglet finishes
		// it at its timeout.
		{"start/TwoLogsLineStart", "LOGSTART 123 LOGSTART 345 log1\nLOGSTART 234 log2\nLOGSTART 345 foo",
			parse.Config{MultilineStart: `^LOGSTART \d+ `},
			bodies("LOGSTART 123 LOGSTART 345 log1", "LOGSTART 234 log2", "LOGSTART 345 foo")},
		// MultipleMultilineLogs: as above for "LOGSTART 43 log5".
		{"start/MultipleMultilineLogs", multi,
			parse.Config{MultilineStart: `^LOGSTART \d+ `},
			bodies("LOGSTART 12 log1\t  \nLOGPART log1\nLOGPART log1\t   ", "LOGSTART 17 log2\nLOGPART log2\nanother line", "LOGSTART 43 log5")},
		// FlushAtEOFNoMatch: stanza makes the two lines, neither a start
		// line, one token; loglet's documented choice makes each a record
		// of its own (a line before any start line is not joined).
		{"start/FlushAtEOFNoMatch", "LOGPART log1\nLOGPART log1\t   \n",
			parse.Config{MultilineStart: `^LOGSTART \d+ `},
			bodies("LOGPART log1", "LOGPART log1\t   ")},
		// FlushAtEOFMatchThenNoMatch: the last record has no final newline.
		{"start/FlushAtEOFMatchThenNoMatch", "LOGSTART 12 log1\t  \nLOGPART log1\nLOGPART log1\t   \nLOGSTART 17 log2\nLOGPART log2\nanother line",
			parse.Config{MultilineStart: `^LOGSTART \d+ `},
			bodies("LOGSTART 12 log1\t  \nLOGPART log1\nLOGPART log1\t   ", "LOGSTART 17 log2\nLOGPART log2\nanother line")},
		// TwoLogsLineEndSimple: stanza's second token begins with the
		// first line's "\n" (it splits bytes just after the match);
		// loglet's record is the line.
		{"end/TwoLogsLineEndSimple", "log1 LOGEND LOGEND\nlog2 LOGEND\n",
			parse.Config{MultilineEnd: `LOGEND$`},
			bodies("log1 LOGEND LOGEND", "log2 LOGEND")},
		// MultiplesplitLogs: stanza's pattern ^LOGEND.*\n takes the line's
		// newline in; loglet matches lines without it, so ^LOGEND. The
		// last line ("LOGSTART 43 log5"), which no end line follows,
		// stanza keeps waiting; loglet finishes it at its timeout.
		{"end/MultiplesplitLogs", "LOGSTART 12 log1\t  \nLOGPART log1\nLOGEND log1\t   \nLOGSTART 17 log2\nLOGPART log2\nLOGEND log2\nLOGSTART 43 log5",
			parse.Config{MultilineEnd: `^LOGEND`},
			bodies("LOGSTART 12 log1\t  \nLOGPART log1\nLOGEND log1\t   ", "LOGSTART 17 log2\nLOGPART log2\nLOGEND log2", "LOGSTART 43 log5")},
		// FlushAtEOFNoMatch (line end, pattern ^LOGSTART \d+): no line
		// ends the record, so both lines make one, finished at the end.
		{"end/FlushAtEOFNoMatch", "LOGPART log1\nLOGPART log1\t   \n",
			parse.Config{MultilineEnd: `^LOGSTART \d+`},
			bodies("LOGPART log1\nLOGPART log1\t   ")},

		// The recombine operator's cases (pkg/stanza/operator/transformer/
		// recombine/transformer_test.go, TestTransformer): is_first_entry
		// `body == 'x'` is start ^x$, is_last_entry is end.
		{"recombine/TwoEntriesLast", lines("test1", "test2"),
			parse.Config{MultilineEnd: `^test2$`},
			bodies("test1\ntest2")},
		// ThreeEntriesFirstNewest: recombine still holds the last "test1"
		// when the test ends; loglet finishes it at its timeout.
		{"recombine/ThreeEntriesFirstNewest", lines("test1", "test2", "test1"),
			parse.Config{MultilineStart: `^test1$`},
			bodies("test1\ntest2", "test1")},
		// EntriesNonMatchingForFirstEntry (and its
		// MaxUnmatchedBatchSize=0 twin): recombine joins the lines before
		// any first entry into one; loglet's documented choice makes each a
		// record of its own, which is recombine's own
		// max_unmatched_batch_size: 1 (the next case).
		{"recombine/EntriesNonMatchingForFirstEntry", lines("test2", "test3", "test4"),
			parse.Config{MultilineStart: `^test1$`},
			bodies("test2", "test3", "test4")},
		{"recombine/EntriesNonMatchingForFirstEntryWithMaxUnmatchedBatchSize=1", lines("test2", "test3", "test4"),
			parse.Config{MultilineStart: `^test1$`},
			bodies("test2", "test3", "test4")},
		// EntriesMatchingForFirstEntryOneFileOnly: two sources, each read
		// as its own file. file2 has no first entry: recombine joins its
		// two lines, loglet (documented choice, as above) does not.
		{"recombine/EntriesMatchingForFirstEntryOneFileOnly/file1", lines("start", "more1a", "start", "more1b", "start"),
			parse.Config{MultilineStart: `^start$`},
			bodies("start\nmore1a", "start\nmore1b", "start")},
		{"recombine/EntriesMatchingForFirstEntryOneFileOnly/file2", lines("more2a", "more2b"),
			parse.Config{MultilineStart: `^start$`},
			bodies("more2a", "more2b")},
		{"recombine/Stacktrace", lines("Log message 1", "Error: java.lang.Exception: Stack trace",
			"        at java.lang.Thread.dumpStack(Thread.java:1336)", "        at Main.demo3(Main.java:15)",
			"        at Main.demo2(Main.java:12)", "        at Main.demo1(Main.java:9)",
			"        at Main.demo(Main.java:6)", "        at Main.main(Main.java:3)", "Another log message"),
			parse.Config{MultilineStart: `^[^\s]`},
			[]rec{{Body: "Log message 1"}, {Body: "Error: java.lang.Exception: Stack trace\n" +
				"        at java.lang.Thread.dumpStack(Thread.java:1336)\n        at Main.demo3(Main.java:15)\n" +
				"        at Main.demo2(Main.java:12)\n        at Main.demo1(Main.java:9)\n" +
				"        at Main.demo(Main.java:6)\n        at Main.main(Main.java:3)", Severity: "ERROR"},
				{Body: "Another log message"}}},
		// TestDefaultSourceIdentifier: file1's lines (each file is its own
		// source in loglet).
		{"recombine/TestDefaultSourceIdentifier/file1", lines("file1", "end"),
			parse.Config{MultilineEnd: `^end$`},
			bodies("file1\nend")},
		// TestMaxUnmatchedBatchSizeForFirstEntry: recombine groups the
		// five lines before the first "test1" in twos
		// (max_unmatched_batch_size: 2); loglet keeps each a record
		// (documented choice, as above).
		{"recombine/TestMaxUnmatchedBatchSizeForFirstEntry", lines("test2", "test3", "test4", "test5", "test6", "test1", "test7", "test8", "test1", "test9", "test10"),
			parse.Config{MultilineStart: `^test1$`},
			bodies("test2", "test3", "test4", "test5", "test6", "test1\ntest7\ntest8", "test1\ntest9\ntest10")},
		{"recombine/EntriesNonMatchingForLastEntryWithMaxUnmatchedBatchSize=0", lines("test2", "test3", "test4"),
			parse.Config{MultilineEnd: `^test1$`},
			bodies("test2\ntest3\ntest4")},
		// max_batch_size 5 is max-lines 5: the parts are marked as a split
		// record's, and put together they are the record.
		{"recombine/BatchSplitWhenTriggerTheBatchSizeLimit",
			lines("start", "content1", "content2", "content3", "content4", "content5", "content6", "content7", "content8", "content9"),
			parse.Config{MultilineStart: `^start$`, MultilineMaxLines: 5},
			[]rec{{Body: "start\ncontent1\ncontent2\ncontent3\ncontent4", Part: 1}, {Body: "\ncontent5\ncontent6\ncontent7\ncontent8\ncontent9", Part: 2}}},
		// A record of exactly max-lines lines is not cut.
		{"recombine/BatchSplit, exactly max-lines", lines("start", "c1", "c2", "c3", "c4", "start"),
			parse.Config{MultilineStart: `^start$`, MultilineMaxLines: 5},
			bodies("start\nc1\nc2\nc3\nc4", "start")},
	})
}

// TestFluentBitMultilineCases: the cases of Fluent Bit's multiline test
// (fluent/fluent-bit, tests/internal/multiline.c, Apache-2.0): its
// built-in java, python and go parsers (loglet's presets), its custom
// regex and endswith parsers, the CRI parser, and issue 3817 (CRI, then a
// regex parser). Fluent Bit's records keep the "\n" its input lines had;
// loglet's never hold the line terminator.
func TestFluentBitMultilineCases(t *testing.T) {
	java := []string{
		`Exception in thread "main" java.lang.IllegalStateException: ..null property`,
		"     at com.example.myproject.Author.getBookIds(xx.java:38)",
		"     at com.example.myproject.Bootstrap.main(Bootstrap.java:14)",
		"Caused by: java.lang.NullPointerException",
		"     at com.example.myproject.Book.getId(Book.java:22)",
		"     at com.example.myproject.Author.getBookIds(Author.java:35)",
		"     ... 1 more",
	}
	python := []string{
		"Traceback (most recent call last):",
		`  File "/base/data/home/runtimes/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1535, in __call__`,
		"    rv = self.handle_exception(request, response, e)",
		`  File "/base/data/home/apps/s~nearfieldspy/1.378705245900539993/nearfieldspy.py", line 17, in start`,
		"    return get()",
		`  File "/base/data/home/apps/s~nearfieldspy/1.378705245900539993/nearfieldspy.py", line 5, in get`,
		"    raise Exception('spam', 'eggs')",
		"Exception: ('spam', 'eggs')",
	}
	goPanic := []string{
		"panic: my panic",
		"",
		"goroutine 4 [running]:",
		"panic(0x45cb40, 0x47ad70)",
		"\t/usr/local/go/src/runtime/panic.go:542 +0x46c fp=0xc42003f7b8 sp=0xc42003f710 pc=0x422f7c",
		"main.main.func1(0xc420024120)",
		"\tfoo.go:6 +0x39 fp=0xc42003f7d8 sp=0xc42003f7b8 pc=0x451339",
		"runtime.goexit()",
		"\t/usr/local/go/src/runtime/asm_amd64.s:2337 +0x1 fp=0xc42003f7e0 sp=0xc42003f7d8 pc=0x44b4d1",
		"created by main.main",
		"\tfoo.go:5 +0x58",
		"",
		"goroutine 1 [chan receive]:",
		"runtime.gopark(0x4739b8, 0xc420024178, 0x46fcd7, 0xc, 0xc420028e17, 0x3)",
		"\t/usr/local/go/src/runtime/proc.go:280 +0x12c fp=0xc420053e30 sp=0xc420053e00 pc=0x42503c",
		"runtime.goparkunlock(0xc420024178, 0x46fcd7, 0xc, 0x1000f010040c217, 0x3)",
		"\t/usr/local/go/src/runtime/proc.go:286 +0x5e fp=0xc420053e70 sp=0xc420053e30 pc=0x42512e",
		"runtime.chanrecv(0xc420024120, 0x0, 0xc420053f01, 0x4512d8)",
		"\t/usr/local/go/src/runtime/chan.go:506 +0x304 fp=0xc420053f20 sp=0xc420053e70 pc=0x4046b4",
		"runtime.chanrecv1(0xc420024120, 0x0)",
		"\t/usr/local/go/src/runtime/chan.go:388 +0x2b fp=0xc420053f50 sp=0xc420053f20 pc=0x40439b",
		"main.main()",
		"\tfoo.go:9 +0x6f fp=0xc420053f80 sp=0xc420053f50 pc=0x4512ef",
		"runtime.main()",
		"\t/usr/local/go/src/runtime/proc.go:185 +0x20d fp=0xc420053fe0 sp=0xc420053f80 pc=0x424bad",
		"runtime.goexit()",
		"\t/usr/local/go/src/runtime/asm_amd64.s:2337 +0x1 fp=0xc420053fe8 sp=0xc420053fe0 pc=0x44b4d1",
		"",
		"goroutine 2 [force gc (idle)]:",
		"runtime.gopark(0x4739b8, 0x4ad720, 0x47001e, 0xf, 0x14, 0x1)",
		"\t/usr/local/go/src/runtime/proc.go:280 +0x12c fp=0xc42003e768 sp=0xc42003e738 pc=0x42503c",
		"runtime.goparkunlock(0x4ad720, 0x47001e, 0xf, 0xc420000114, 0x1)",
		"\t/usr/local/go/src/runtime/proc.go:286 +0x5e fp=0xc42003e7a8 sp=0xc42003e768 pc=0x42512e",
		"runtime.forcegchelper()",
		"\t/usr/local/go/src/runtime/proc.go:238 +0xcc fp=0xc42003e7e0 sp=0xc42003e7a8 pc=0x424e5c",
		"runtime.goexit()",
		"\t/usr/local/go/src/runtime/asm_amd64.s:2337 +0x1 fp=0xc42003e7e8 sp=0xc42003e7e0 pc=0x44b4d1",
		"created by runtime.init.4",
		"\t/usr/local/go/src/runtime/proc.go:227 +0x35",
		"",
		"goroutine 3 [GC sweep wait]:",
		"runtime.gopark(0x4739b8, 0x4ad7e0, 0x46fdd2, 0xd, 0x419914, 0x1)",
		"\t/usr/local/go/src/runtime/proc.go:280 +0x12c fp=0xc42003ef60 sp=0xc42003ef30 pc=0x42503c",
		"runtime.goparkunlock(0x4ad7e0, 0x46fdd2, 0xd, 0x14, 0x1)",
		"\t/usr/local/go/src/runtime/proc.go:286 +0x5e fp=0xc42003efa0 sp=0xc42003ef60 pc=0x42512e",
		"runtime.bgsweep(0xc42001e150)",
		"\t/usr/local/go/src/runtime/mgcsweep.go:52 +0xa3 fp=0xc42003efd8 sp=0xc42003efa0 pc=0x419973",
		"runtime.goexit()",
		"\t/usr/local/go/src/runtime/asm_amd64.s:2337 +0x1 fp=0xc42003efe0 sp=0xc42003efd8 pc=0x44b4d1",
		"created by runtime.gcenable",
		"\t/usr/local/go/src/runtime/mgc.go:216 +0x58",
	}
	elastic := []string{
		"[some weird test] IndexNotFoundException[no such index]",
		"    at org.elasticsearch.cluster.metadata.IndexNameExpressionResolver....",
		"    at org.elasticsearch.cluster.metadata.IndexNameExpressionResolver.java:133)",
		"    at org.elasticsearch.action.admin.indices.delete.java:75)",
	}
	const (
		criT1  = "2019-05-07T18:57:50.904275087+00:00"
		criT2  = "2019-05-07T18:57:51.904275088+00:00"
		criT3  = "2019-05-07T18:57:52.904275089+00:00"
		criT4  = "2019-05-07T18:57:53.904275090+00:00"
		criT5  = "2019-05-07T18:57:54.904275091+00:00"
		criT6  = "2019-05-07T18:57:55.904275092+00:00"
		criT7  = "2019-05-07T18:57:56.904275093+00:00"
		criT8  = "2019-05-07T18:57:57.904275094+00:00"
		t3817a = "2021-05-17T17:35:01.184675702Z"
		t3817b = "2021-05-17T17:35:01.184747208Z"
	)
	utc := func(ts string) string {
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UTC().Format(time.RFC3339Nano)
	}
	check(t, []tcase{
		{"parser_java", lines(append(java, "single line")...), parse.Config{MultilinePreset: "java"},
			bodies(strings.Join(java, "\n"), "single line")},
		{"parser_python", lines(append(python, "hello world, not multiline")...), parse.Config{MultilinePreset: "python"},
			bodies(strings.Join(python, "\n"), "hello world, not multiline")},
		// The last line has no newline in Fluent Bit's input either.
		{"parser_go", lines(goPanic...) + "one more line, no multiline", parse.Config{MultilinePreset: "go"},
			[]rec{{Body: strings.Join(goPanic, "\n"), Severity: "FATAL"}, {Body: "one more line, no multiline"}}},
		// parser_elastic: a regex parser, rule start_state /^\[/ to
		// elastic_cont, elastic_cont /^\s+/.
		{"parser_elastic", lines(append(elastic, "another separate log line")...),
			parse.Config{MultilineStart: `^\[`, MultilineContinue: `^\s+`},
			bodies(strings.Join(elastic, "\n"), "another separate log line")},
		// endswith: a line ending in a backslash goes on into the next,
		// so a line that does not end in one ends the record.
		{"endswith", lines(`1a. some multiline log \`, "1b. some multiline log", `2a. another multiline log\`, "2b. another multiline log", "3a. non multiline 1", "4a. non multiline 2"),
			parse.Config{MultilineEnd: `(?:^|[^\\])$`},
			bodies("1a. some multiline log \\\n1b. some multiline log", "2a. another multiline log\\\n2b. another multiline log", "3a. non multiline 1", "4a. non multiline 2")},
		// parser_cri: P pieces joined per stream; a record takes its
		// first piece's time.
		{"parser_cri", lines(
			criT1+" stdout P 1a. some ", criT2+" stdout P multiline ", criT3+" stdout F log",
			criT1+" stderr P 1b. some ", criT2+" stderr P multiline ", criT3+" stderr F log",
			criT4+" stdout P 2a. another ", criT5+" stdout P multiline ", criT6+" stdout F log",
			criT4+" stderr P 2b. another ", criT5+" stderr P multiline ", criT6+" stderr F log",
			criT7+" stdout F 3a. non multiline 1", criT8+" stdout F 4a. non multiline 2",
			criT7+" stderr F 3b. non multiline 1", criT8+" stderr F 4b. non multiline 2"),
			parse.Config{Container: "cri"},
			[]rec{
				{Body: "1a. some multiline log", Stream: "stdout", Time: utc(criT1)},
				{Body: "1b. some multiline log", Stream: "stderr", Time: utc(criT1)},
				{Body: "2a. another multiline log", Stream: "stdout", Time: utc(criT4)},
				{Body: "2b. another multiline log", Stream: "stderr", Time: utc(criT4)},
				{Body: "3a. non multiline 1", Stream: "stdout", Time: utc(criT7)},
				{Body: "4a. non multiline 2", Stream: "stdout", Time: utc(criT8)},
				{Body: "3b. non multiline 1", Stream: "stderr", Time: utc(criT7)},
				{Body: "4b. non multiline 2", Stream: "stderr", Time: utc(criT8)},
			}},
		// issue_3817_1: CRI, then a regex parser (start_state /- $/ to
		// cont, cont /^([1-9]).*$/). Fluent Bit passes the last line, not
		// CRI, through as it is; loglet keeps it a record of its own too,
		// and marks it (issue 18, "Marks").
		{"issue_3817_1", lines(
			t3817a+" stdout F [DEBUG] 1 start multiline - ", t3817b+" stdout F 1 cont A",
			t3817a+" stdout F [DEBUG] 2 start multiline - ", t3817b+" stdout F 2 cont B",
			"another isolated line"),
			parse.Config{Container: "cri", MultilineStart: `- $`, MultilineContinue: `^([1-9]).*$`},
			[]rec{
				{Body: "[DEBUG] 1 start multiline - \n1 cont A", Stream: "stdout", Time: t3817a, Severity: "DEBUG"},
				{Body: "[DEBUG] 2 start multiline - \n2 cont B", Stream: "stdout", Time: t3817a, Severity: "DEBUG"},
				{Body: "another isolated line", Attrs: map[string]string{markKey: "cri: not a CRI log line (<RFC 3339 time> <stdout|stderr> <P|F> <text>)"}},
			}},
	})
}
