package inbox_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/record"
)

func segments(t *testing.T, in *inbox.Inbox) []string {
	t.Helper()
	files, err := filepath.Glob(in.Glob())
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestAppendWritesInboxLines(t *testing.T) {
	in, err := inbox.Open(t.TempDir(), inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := []record.KeyValue{{Key: "service.name", Value: "shop"}}
	recs := []inbox.Record{
		{Time: 1764583201100000000, Severity: record.SeverityError, Body: []byte("card declined\n\tat Pay"),
			Attrs: []inbox.Attr{{Key: "trace_id", Value: "5b8e"}, {Key: "http.status", Value: "502", JSON: true}, {Key: "bad", Value: "{", JSON: true}}},
		{Body: []byte("h\xff")},
	}
	if err := in.Append(res, recs); err != nil {
		t.Fatal(err)
	}
	files := segments(t, in)
	if len(files) != 1 {
		t.Fatalf("segments %v, want one", files)
	}
	b, _ := os.ReadFile(files[0])
	want := `{"t":1764583201100000000,"s":5,"b":"card declined\n\tat Pay","a":{"trace_id":"5b8e","http.status":502,"bad":"{"}}` + "\n" + `{"B":"aP8="}` + "\n"
	if string(b) != want {
		t.Errorf("segment holds\n%s\nwant\n%s", b, want)
	}
	got, err := inbox.Resource(files[0])
	if err != nil || len(got) != 1 || got[0] != res[0] {
		t.Errorf("resource %v, %v; want %v", got, err, res)
	}
	// Another resource is another stream; the same one in another order is not.
	if err := in.Append([]record.KeyValue{{Key: "service.name", Value: "cart"}}, recs[1:]); err != nil {
		t.Fatal(err)
	}
	if n := len(segments(t, in)); n != 2 {
		t.Errorf("%d segments after a second resource, want 2", n)
	}
}

// ackAll acknowledges every file to its end, as the pipeline would once
// the hub took it.
func ackAll(path string, dev, ino uint64) int64 {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil || st.Ino != ino {
		return -1
	}
	return st.Size
}

func TestFullUntilAcknowledged(t *testing.T) {
	acked := false
	opt := inbox.Options{MaxBytes: 100, SegmentBytes: 40, Acked: func(path string, dev, ino uint64) int64 {
		if !acked {
			return -1
		}
		return ackAll(path, dev, ino)
	}}
	in, err := inbox.Open(t.TempDir(), opt)
	if err != nil {
		t.Fatal(err)
	}
	line := []inbox.Record{{Body: []byte(strings.Repeat("x", 20))}} // 29 bytes a line
	for i := range 3 {
		if err := in.Append(nil, line); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := in.Append(nil, line); !errors.Is(err, inbox.ErrFull) {
		t.Fatalf("fourth append: %v, want ErrFull", err)
	}
	if got := in.Held(); got != 87 {
		t.Errorf("held %d, want 87", got)
	}
	acked = true
	if err := in.Append(nil, line); err != nil {
		t.Fatalf("append once the hub acknowledged: %v", err)
	}
	if got := in.Held(); got != 29 {
		t.Errorf("held %d after reclaiming, want 29 (the new line)", got)
	}
	if err := in.Append(nil, make([]inbox.Record, 20)); err == nil || errors.Is(err, inbox.ErrFull) {
		t.Errorf("a push larger than the inbox: %v, want an error saying so", err)
	}
}

func TestReopenKeepsWhatWasHeld(t *testing.T) {
	dir := t.TempDir()
	in, err := inbox.Open(dir, inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Append(nil, []inbox.Record{{Body: []byte("a")}}); err != nil {
		t.Fatal(err)
	}
	in.Close()
	again, err := inbox.Open(dir, inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Append(nil, []inbox.Record{{Body: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	files := segments(t, again)
	if len(files) != 2 || again.Held() != 20 {
		t.Fatalf("segments %v, held %d; want the old one kept and a new one begun, 20 bytes", files, again.Held())
	}
	if files[0] >= files[1] {
		t.Errorf("new segment %s sorts before the old %s", files[1], files[0])
	}
}

// TestAppendedTellsTheSegment: each durable append names the segment it
// wrote, which holds the records by then; a refused one names none.
func TestAppendedTellsTheSegment(t *testing.T) {
	var told []string
	in, err := inbox.Open(t.TempDir(), inbox.Options{MaxBytes: 100, SegmentBytes: 40, Appended: func(path string) { told = append(told, path) }})
	if err != nil {
		t.Fatal(err)
	}
	line := []inbox.Record{{Body: []byte(strings.Repeat("x", 20))}} // 29 bytes a line
	for i := range 4 {
		err := in.Append(nil, line)
		if i == 3 {
			if !errors.Is(err, inbox.ErrFull) {
				t.Fatalf("fourth append: %v, want ErrFull", err)
			}
			break
		}
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if len(told) != i+1 {
			t.Fatalf("after %d appends Appended was told %d times", i+1, len(told))
		}
		b, err := os.ReadFile(told[i])
		if err != nil || !strings.Contains(string(b), strings.Repeat("x", 20)) {
			t.Fatalf("append %d named %s, holding %q (%v)", i, told[i], b, err)
		}
	}
	if len(told) != 3 || told[0] == told[1] {
		t.Errorf("told %q: want 3, a new segment for each 40-byte segment", told)
	}
}
