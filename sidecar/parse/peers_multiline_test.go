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
//
// Where loglet's documented choice (docs/configuration.md, "Multiline")
// gives other records, the case expects loglet's records and says why.
// What every case differs in and is not noted case by case: a peer's
// token may keep its line's "\n" (stanza); loglet's records never hold
// the line terminator. A record still open at the end of the file is
// finished by loglet's timeout; stanza (without flush-at-EOF) keeps it
// waiting for more, which the stanza cases note.
//
// Not applicable (no loglet setting gives the peer's behaviour):
//   - Filebeat TestMultilineAfterTruncated, and the truncated halves of
//     TestMultilineCount and TestMultilineWhilePattern: Filebeat's max_lines
//     drops the lines past the limit and flags the event "truncated";
//     loglet's max-lines finishes the record in parts and loses no line.
//   - Filebeat TestMultilineCount: count-based multiline (lines_count).
//   - Filebeat TestMultilineWhilePattern: while_pattern joins consecutive
//     matching lines only, so the first matching line does not join the
//     line before it; loglet's continue joins it to the record before.
//   - Vector two_lines_emit_with_continue_through (its issue 3237): a
//     record that begins only with a line the continue pattern also
//     matches (start = continue = ^\s). In loglet a start line always
//     begins a record, so every indented line would be its own record.
//   - Vector timeout_resets_on_new_line: timing of the timeout, not records.
//   - stanza cases whose pattern is not anchored to a line (OneLogSimple,
//     TwoLogsSimple, PrecedingNonMatches, NonMatchesAfter, HugeLog*,
//     NoMatches) and the OmitPattern variants: stanza splits a byte stream
//     at any match, inside a line; loglet joins and splits whole lines and
//     keeps their text whole.

import (
	"testing"

	"github.com/loglet/loglet/sidecar/parse"
)

// lines returns ls as a file's content, one line each.
func lines(ls ...string) string {
	var s string
	for _, l := range ls {
		s += l + "\n"
	}
	return s
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
// TestLineStartSplitFunc and TestLineEndSplitFunc_Detailed, Apache-2.0).
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
	})
}
