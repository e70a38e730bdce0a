package parse_test

import (
	"strings"
	"testing"

	"github.com/loglet/loglet/internal/utf16test"
	"github.com/loglet/loglet/sidecar/parse"
)

// utf16le and utf16be write s as UTF-16 with the standard library (not
// the decoder under test).
func utf16le(s string) string { return utf16test.LE(s) }
func utf16be(s string) string { return utf16test.BE(s) }

const (
	gbkNiHao  = "\xc4\xe3\xba\xc3" // 你好
	gbkXieXie = "\xd0\xbb\xd0\xbb" // 谢谢, which is also valid UTF-8 (лл)
)

const gbkLossyMark = "gbk: bytes that are not gbk replaced by U+FFFD, the original in loglet.raw_body (\\xHH escapes, \\\\ a backslash)"

func TestEncodings(t *testing.T) {
	const ts = "2026-11-25T10:00:00.123456789Z"
	check(t, []tcase{
		{"gbk plain", gbkNiHao + "\n" + gbkXieXie + "\n", parse.Config{Encoding: "gbk"},
			[]rec{{Body: "你好"}, {Body: "谢谢"}}},
		{"gbk in cri lines", ts + " stdout F " + gbkNiHao + "\n" + ts + " stderr F ERROR " + gbkXieXie + "\n",
			parse.Config{Container: "cri", Encoding: "gbk"},
			[]rec{{Body: "你好", Time: ts, Stream: "stdout"}, {Body: "ERROR 谢谢", Time: ts, Stream: "stderr", Severity: "ERROR"}}},
		{"gbk in cri partial lines", ts + " stdout P " + gbkNiHao[:2] + "\n" + ts + " stdout F " + gbkNiHao[2:] + "\n",
			parse.Config{Container: "auto", Encoding: "gbk"},
			[]rec{{Body: "你好", Time: ts, Stream: "stdout"}}},
		// A runtime cuts long lines into pieces by bytes: a GBK character
		// may be cut between two (你 is C4 E3).
		{"gbk character cut between cri pieces", ts + " stdout P a\xc4\n" + ts + " stdout F \xe3b\n",
			parse.Config{Container: "cri", Encoding: "gbk"},
			[]rec{{Body: "a你b", Time: ts, Stream: "stdout"}}},
		{"gbk character cut, the rest never comes", ts + " stdout P a\xc4\n",
			parse.Config{Container: "cri", Encoding: "gbk"},
			[]rec{{Body: "a\ufffd", Time: ts, Stream: "stdout", Attrs: map[string]string{markKey: gbkLossyMark, "loglet.raw_body": `a\xc4`}}}},
		{"gbk in docker lines", `{"log":"` + gbkNiHao + `\n","stream":"stdout","time":"` + ts + `"}` + "\n",
			parse.Config{Container: "docker", Encoding: "gbk"},
			[]rec{{Body: "你好", Time: ts, Stream: "stdout"}}},
		{"gbk json", `{"msg":"` + gbkNiHao + `","level":"warn"}` + "\n", parse.Config{Format: "json", Encoding: "gbk"},
			[]rec{{Body: "你好", Severity: "WARN", Attrs: map[string]string{"level": "warn"}}}},
		{"gbk multiline", "2026-11-25 " + gbkNiHao + "\n  at " + gbkXieXie + "\n2026-11-25 next\n",
			parse.Config{Encoding: "gbk", MultilineStart: `^\d{4}-`},
			[]rec{{Body: "2026-11-25 你好\n  at 谢谢"}, {Body: "2026-11-25 next"}}},
		{"gbk with a byte that is not", "a\xffb\n", parse.Config{Encoding: "gbk"},
			[]rec{{Body: "a\ufffdb", Attrs: map[string]string{markKey: gbkLossyMark, "loglet.raw_body": `a\xffb`}}}},
		{"gbk in a cri line with a byte that is not", ts + " stderr F a\xffb\n", parse.Config{Container: "cri", Encoding: "gbk"},
			[]rec{{Body: "a\ufffdb", Time: ts, Stream: "stderr", Attrs: map[string]string{markKey: gbkLossyMark, "loglet.raw_body": `a\xffb`}}}},
		{"gbk multiline, a later line with a byte that is not", "2026-11-25 " + gbkNiHao + "\n  at \xff\n", parse.Config{Encoding: "gbk", MultilineStart: `^\d{4}-`},
			[]rec{{Body: "2026-11-25 你好\n  at \ufffd", Attrs: map[string]string{markKey: gbkLossyMark, "loglet.raw_body": `2026-11-25 \xc4\xe3\xba\xc3` + "\n" + `  at \xff`}}}},
		{"gbk cri multiline, a later line with a byte that is not", ts + " stdout F 2026-11-25 a\n" + ts + " stdout F   at \xff\n", parse.Config{Container: "cri", Encoding: "gbk", MultilineStart: `^\d{4}-`},
			[]rec{{Body: "2026-11-25 a\n  at \ufffd", Time: ts, Stream: "stdout", Attrs: map[string]string{markKey: gbkLossyMark, "loglet.raw_body": "2026-11-25 a\n  at \\xff"}}}},
		{"shift_jis", "\x82\xb1\x82\xf1\n", parse.Config{Encoding: "shift_jis"}, []rec{{Body: "こん"}}},
		{"windows-1252", "caf\xe9 \x80\n", parse.Config{Encoding: "windows-1252"}, []rec{{Body: "café €"}}},
		{"utf-16le with BOM", "\xff\xfe" + utf16le("hello\nwörld 😀\r\n"), parse.Config{Encoding: "utf-16le"},
			[]rec{{Body: "hello"}, {Body: "wörld 😀"}}},
		{"utf-16be with BOM", "\xfe\xff" + utf16be("hello\nwörld\n"), parse.Config{Encoding: "utf-16be"},
			[]rec{{Body: "hello"}, {Body: "wörld"}}},
		{"utf-16 BOM decides big-endian", "\xfe\xff" + utf16be("hi\n"), parse.Config{Encoding: "utf-16"}, []rec{{Body: "hi"}}},
		{"utf-16 without BOM is little-endian", utf16le("hi\n"), parse.Config{Encoding: "utf-16"}, []rec{{Body: "hi"}}},
		{"utf-16le: 0A in a character is no newline", utf16le("Ċ ਊ ok\nnext\n"), parse.Config{Encoding: "utf-16le"},
			[]rec{{Body: "Ċ ਊ ok"}, {Body: "next"}}},
		{"utf-16be: 0A in a character is no newline", utf16be("Ċ ਊ ok\nnext\n"), parse.Config{Encoding: "utf-16be"},
			[]rec{{Body: "Ċ ਊ ok"}, {Body: "next"}}},
		{"utf-16le multiline json", utf16le("{\"msg\":\"a\"}\n{\"msg\":\"b\"}\n"), parse.Config{Encoding: "utf-16le", Format: "json"},
			[]rec{{Body: "a"}, {Body: "b"}}},
		{"utf-16le lone surrogate", utf16le("a") + "\x3d\xd8" + utf16le("b\n"), parse.Config{Encoding: "utf-16le"},
			[]rec{{Body: "a\ufffdb", Attrs: map[string]string{markKey: strings.ReplaceAll(gbkLossyMark, "gbk", "utf-16le"), "loglet.raw_body": "a\x00=\\xd8b\x00"}}}},
		{"utf-16le BOM in utf-8 mode", "\xff\xfe" + utf16le("hi\n"), parse.Config{}, []rec{{Body: "hi"}}},
		{"utf-8 BOM removed", "\xef\xbb\xbfhi\nthere\n", parse.Config{}, []rec{{Body: "hi"}, {Body: "there"}}},
		{"utf-8 BOM removed in gbk mode", "\xef\xbb\xbf你\n", parse.Config{Encoding: "gbk"}, []rec{{Body: "你"}}},
		{"utf-8 BOM removed before json", "\xef\xbb\xbf{\"msg\":\"hi\"}\n", parse.Config{Format: "json"}, []rec{{Body: "hi"}}},
		// Filebeat's bom-on-each and bom-in-the-middle (libbeat/reader/
		// readfile/encode_test.go): a program that reopens its file writes
		// a BOM each time; one inside a line is text.
		{"utf-8 BOM at each line's start", "\xef\xbb\xbftesting\n\xef\xbb\xbfmultiline\n", parse.Config{}, []rec{{Body: "testing"}, {Body: "multiline"}}},
		{"utf-8 BOM in the middle stays", "testing simple \xef\xbb\xbfline\n", parse.Config{}, []rec{{Body: "testing simple \ufeffline"}}},
		{"utf-8 BOM at a line's start, json", "a\n\xef\xbb\xbf{\"msg\":\"b\"}\n", parse.Config{Format: "json"}, []rec{{Body: "a", Attrs: map[string]string{markKey: "json: not a JSON object"}}, {Body: "b"}}},
		{"BOM at a CRI line's text (a .NET app's stdout)", ts + " stdout P \xef\xbb\xbfhello \n" + ts + " stdout F \xef\xbb\xbfworld\n", parse.Config{Container: "cri"},
			[]rec{{Body: "hello \ufeffworld", Time: ts, Stream: "stdout"}}},
		{"BOM at a utf-16 line's start", "\xff\xfe" + utf16le("a\n\ufeffb\n"), parse.Config{Encoding: "utf-16"}, []rec{{Body: "a"}, {Body: "b"}}},
	})
}

// TestInvalidUTF8: under utf-8, invalid bytes are never passed on or
// altered silently: U+FFFD in the text, a mark, and (keep, the default)
// the original bytes escaped reversibly.
func TestInvalidUTF8(t *testing.T) {
	const ts = "2026-11-25T10:00:00.123456789Z"
	const replaceMark = "utf-8: invalid bytes replaced by U+FFFD; set encoding if the text is in another"
	check(t, []tcase{
		{"gbk read as utf-8", gbkNiHao + "\nok\n", parse.Config{},
			[]rec{{Body: "\ufffd\ufffd\ufffd\ufffd", Attrs: map[string]string{markKey: invalidKeepMark, "loglet.raw_body": `\xc4\xe3\xba\xc3`}}, {Body: "ok"}}},
		{"a backslash in the original", "C:\\tmp\\\xe9\n", parse.Config{},
			[]rec{{Body: "C:\\tmp\\\ufffd", Attrs: map[string]string{markKey: invalidKeepMark, "loglet.raw_body": `C:\\tmp\\\xe9`}}}},
		{"replace", gbkNiHao + "\n", parse.Config{InvalidUTF8: "replace"},
			[]rec{{Body: "\ufffd\ufffd\ufffd\ufffd", Attrs: map[string]string{markKey: replaceMark}}}},
		{"in cri lines", ts + " stdout F ERROR \xe9\n", parse.Config{Container: "cri"},
			[]rec{{Body: "ERROR \ufffd", Time: ts, Stream: "stdout", Severity: "ERROR", Attrs: map[string]string{markKey: invalidKeepMark, "loglet.raw_body": `ERROR \xe9`}}}},
		{"with a parse error too", "{\"a\":\"\xe9\"\n", parse.Config{Format: "json"},
			[]rec{{Body: "{\"a\":\"\ufffd\"", Attrs: map[string]string{markKey: invalidKeepMark + "; json: truncated JSON", "loglet.raw_body": `{"a":"\xe9"`}}}},
	})
}

func TestEncodingCompileErrors(t *testing.T) {
	tests := []struct {
		cfg  parse.Config
		want string
	}{
		{parse.Config{Encoding: "klingon", MaxLineBytes: 100}, `encoding "klingon": unknown`},
		{parse.Config{Encoding: "utf-16le", Container: "cri", MaxLineBytes: 100}, "encoding utf-16le with container-format cri"},
		{parse.Config{InvalidUTF8: "drop", MaxLineBytes: 100}, `invalid-utf8 "drop": want keep`},
	}
	for _, tt := range tests {
		_, err := parse.Compile(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%+v) = %v, want an error with %q", tt.cfg, err, tt.want)
		}
	}
}
