package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/record"
)

// testPackage is package id of source src with one record per body.
func testPackage(src string, id uint64, bodies ...string) *record.Package {
	p := &record.Package{
		Origin: record.NewOrigin(src, "/var/log/"+src+".log", nil),
		ID:     id,
		Spans:  []record.Span{{Time: time.Date(2026, 12, 1, 12, 37, 41, 976058840, time.UTC)}},
	}
	for _, b := range bodies {
		start := len(p.Data)
		p.Data = append(p.Data, b...)
		p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(len(p.Data))})
	}
	return p
}

// checkNDJSON fails the test unless every line of data is a JSON object
// and data ends with a newline; it returns the bodies in order.
func checkNDJSON(t *testing.T, data []byte) []string {
	t.Helper()
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("the file ends without a newline: %q", tail(data))
	}
	var bodies []string
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(data) == 0 {
			break
		}
		var rec struct{ Body *string }
		if err := json.Unmarshal(line, &rec); err != nil || rec.Body == nil {
			t.Errorf("line %d is not a record (%v): %q", i+1, err, tail(line))
			continue
		}
		bodies = append(bodies, *rec.Body)
	}
	return bodies
}

func tail(b []byte) []byte {
	if len(b) > 80 {
		return b[len(b)-80:]
	}
	return b
}

// TestOpenRepairsTornTail: kill -9 during a write leaves part of a record
// without its newline; the next start cuts it off (its package was not
// acknowledged and is sent again) rather than leave a line no NDJSON reader
// gets past.
func TestOpenRepairsTornTail(t *testing.T) {
	whole := string(testPackage("a", 0, "first", "second").AppendNDJSON(nil))
	torn := `{"time":"2026-12-01T12:37:41.97605884`
	long := strings.Repeat(whole, 2000) // more than one read from the end
	for _, tc := range []struct {
		name, before, kept string
	}{
		{"new file", "", ""},
		{"complete lines", whole, whole},
		{"torn after complete lines", whole + torn, whole},
		{"torn after many lines", long + torn, long},
		{"only a torn record", torn, ""},
		{"torn record longer than a read", whole + torn + strings.Repeat("x", 200<<10), whole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.ndjson")
			if tc.before != "" {
				if err := os.WriteFile(path, []byte(tc.before), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			w, err := OpenFile(path, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if n, err := w.Write(context.Background(), []*record.Package{testPackage("a", 1, "third")}); n != 1 || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, []byte(tc.kept)) {
				t.Errorf("the complete lines before were not kept as they were")
			}
			bodies := checkNDJSON(t, data)
			if len(bodies) == 0 || bodies[len(bodies)-1] != "third" {
				t.Errorf("last record %v, want the one written after the repair", bodies[max(len(bodies)-1, 0):])
			}
			if got, want := len(data), len(tc.kept)+len(testPackage("a", 1, "third").AppendNDJSON(nil)); got != want {
				t.Errorf("file has %d bytes, want %d (the kept lines and the new record)", got, want)
			}
		})
	}
}

// TestWriteAppendsInOrder: packages go to the file in order, one line per
// record, across the flushes of a batch larger than the encode buffer.
func TestWriteAppendsInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ndjson")
	w, err := OpenFile(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	big := strings.Repeat("x", 300<<10)
	var pkgs []*record.Package
	var want []string
	for i := range 8 {
		body := fmt.Sprintf("%d %s", i, big)
		pkgs = append(pkgs, testPackage("a", uint64(i), body))
		want = append(want, body)
	}
	if n, err := w.Write(context.Background(), pkgs); n != len(pkgs) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	data, _ := os.ReadFile(path)
	got := checkNDJSON(t, data)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the file holds %d records, not the %d written in order", len(got), len(want))
	}
}
