package parse_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loglet/loglet/sidecar/parse"
)

// peerDir holds test data of other log agents (fixtures only; see the
// README beside them for where they come from and their licence).
const fluentBitTail = "testdata/peers/fluent-bit/tail"

// fluentBitOut reads a Fluent Bit .out file: one JSON object per record,
// its text in "log". Fluent Bit keeps a Docker line's final newline in the
// text; loglet's body is the line without it, so it is cut here.
func fluentBitOut(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fluentBitTail, "out", name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var rec struct {
			Log string `json:"log"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%s.out: %v", name, err)
		}
		out = append(out, strings.TrimSuffix(rec.Log, "\n"))
	}
	return out
}

// expectedLines reads a file of expected bodies, one per line, made with
// iconv (glibc) from the .log file, not with the decoders under test.
func expectedLines(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fluentBitTail, "expected", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// TestFluentBitTail runs loglet on Fluent Bit's own in_tail test data:
// every generic-encoding, unicode and Docker-mode case, with the setting
// Fluent Bit's test gives spelt as its test spells it (Generic.Encoding
// BIG5, ShiftJIS, WIN1250…; Unicode.Encoding auto is utf-16).
func TestFluentBitTail(t *testing.T) {
	const dockerMultiline = `^\d{4}-\d{2}-\d{2}` // its Docker_Mode_Parser docker_multiline
	tests := []struct {
		name string
		cfg  parse.Config
		// out: Fluent Bit has a .out file for the case
		out bool
		// marks: the loglet.parse_error every record carries (the Docker
		// fixtures' lines have no time).
		marks string
		// pending names the issue item a case waits for: it runs, and is
		// skipped (not passed) while it fails, failed once it passes.
		pending string
	}{
		{"generic_enc_big5", parse.Config{Encoding: "BIG5"}, true, "", ""},
		{"generic_enc_gb18030", parse.Config{Encoding: "GB18030"}, true, "", ""},
		{"generic_enc_gbk", parse.Config{Encoding: "GBK"}, true, "", ""},
		{"generic_enc_sjis", parse.Config{Encoding: "ShiftJIS"}, true, "", ""},
		{"generic_enc_uhc", parse.Config{Encoding: "UHC"}, false, "", ""},
		{"generic_enc_win866", parse.Config{Encoding: "WIN866"}, false, "", ""},
		{"generic_enc_win874", parse.Config{Encoding: "WIN874"}, false, "", ""},
		{"generic_enc_win1250", parse.Config{Encoding: "WIN1250"}, true, "", ""},
		{"generic_enc_win1251", parse.Config{Encoding: "WIN1251"}, true, "", ""},
		{"generic_enc_win1252", parse.Config{Encoding: "WIN1252"}, true, "", ""},
		{"generic_enc_win1253", parse.Config{Encoding: "WIN1253"}, true, "", ""},
		{"generic_enc_win1254", parse.Config{Encoding: "WIN1254"}, true, "", ""},
		{"generic_enc_win1255", parse.Config{Encoding: "WIN1255"}, true, "", ""},
		{"generic_enc_win1256", parse.Config{Encoding: "WIN1256"}, true, "", ""},
		{"unicode_c", parse.Config{Encoding: "utf-16"}, false, "", ""},
		{"unicode_j", parse.Config{Encoding: "utf-16"}, false, "", ""},
		{"unicode_subdivision_flags", parse.Config{Encoding: "utf-16"}, false, "", ""},
		{"unicode_be_c", parse.Config{Encoding: "utf-16"}, false, "", ""},
		{"unicode_be_j", parse.Config{Encoding: "utf-16"}, false, "", ""},
		{"unicode_subdivision_flags_be", parse.Config{Encoding: "utf-16"}, false, "", ""},
		{"dockermode", parse.Config{Container: "docker"}, true, "docker: time missing", ""},
		{"dockermode_splitted_line", parse.Config{Container: "docker"}, true, "docker: time missing", ""},
		{"dockermode_multiple_lines", parse.Config{Container: "docker", MultilineStart: dockerMultiline}, true, "docker: time missing", ""},
		{"dockermode_splitted_multiple_lines", parse.Config{Container: "docker", MultilineStart: dockerMultiline}, true, "docker: time missing", ""},
		{"dockermode_firstline_detection", parse.Config{Container: "docker", MultilineStart: dockerMultiline}, true, "docker: time missing", ""},
	}
	for _, tt := range tests {
		// The unicode files again under the default utf-8: their BOM
		// decides.
		cfgs := []parse.Config{tt.cfg}
		if strings.HasPrefix(tt.name, "unicode") {
			cfgs = append(cfgs, parse.Config{})
		}
		for _, cfg := range cfgs {
			enc := cfg.Encoding
			if enc == "" {
				enc = "default"
			}
			t.Run(tt.name+"/"+enc, func(t *testing.T) {
				// Fluent Bit's .out of an encoding case lists the records
				// its test checks (all but the last, as it happens); the
				// iconv decoding of the whole file has every one. Both must
				// hold: Fluent Bit's in front, iconv's in full.
				var wantBodies, fluentBit []string
				switch {
				case strings.HasPrefix(tt.name, "dockermode"):
					wantBodies = fluentBitOut(t, tt.name)
				case tt.out:
					fluentBit, wantBodies = fluentBitOut(t, tt.name), expectedLines(t, tt.name)
				default:
					wantBodies = expectedLines(t, tt.name)
				}
				content, err := os.ReadFile(filepath.Join(fluentBitTail, "log", tt.name+".log"))
				if err != nil {
					t.Fatal(err)
				}
				var failures []string
				fail := func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) }
				for _, batch := range []int{1 << 20, 64} {
					got := readRecords(t, string(content), cfg, batch)
					var bodies []string
					for _, r := range got {
						bodies = append(bodies, r.Body)
						mark := r.Attrs[markKey]
						if mark != tt.marks || len(r.Attrs) > 1 || (mark == "" && len(r.Attrs) > 0) {
							fail("batch %d: record %q has attributes %v, want only the mark %q", batch, r.Body, r.Attrs, tt.marks)
						}
					}
					if len(bodies) < len(fluentBit) || strings.Join(bodies[:len(fluentBit)], "\x00") != strings.Join(fluentBit, "\x00") {
						fail("batch %d: records\n%q\ndo not begin with Fluent Bit's\n%q", batch, bodies, fluentBit)
					}
					if strings.Join(bodies, "\x00") != strings.Join(wantBodies, "\x00") {
						fail("batch %d: records\n%q\nwant\n%q", batch, bodies, wantBodies)
					}
				}
				switch {
				case tt.pending != "" && len(failures) > 0:
					t.Skipf("PENDING, not passing (%s): %s", tt.pending, failures[0])
				case tt.pending != "":
					t.Errorf("passes now: drop pending %q", tt.pending)
				}
				for _, f := range failures {
					t.Error(f)
				}
			})
		}
	}
}
