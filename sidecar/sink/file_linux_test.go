package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/loglet/loglet/internal/tinydisk"
	"github.com/loglet/loglet/sidecar/record"
)

// TestFullDiskLeavesNoTornRecord: the disk fills in the middle of a write;
// the pipeline retries the packages Write did not count, as it does, and
// frees space after a few failures. Every record is then in the file, once,
// and every line is a record: a failed write was rolled back instead of
// leaving part of a record for the retry to append to.
func TestFullDiskLeavesNoTornRecord(t *testing.T) {
	dir := tinydisk.Mount(t, 256<<10)
	filler := tinydisk.Fill(t, dir, 16<<10)
	path := filepath.Join(dir, "out.ndjson")
	w, err := OpenFile(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	const records = 200
	var queue []*record.Package
	for i := range records {
		queue = append(queue, testPackage("a", uint64(i), fmt.Sprintf("record %03d %s", i, strings.Repeat("x", 200))))
	}
	full := 0
	for len(queue) > 0 {
		batch := queue[:min(len(queue), 16)]
		n, err := w.Write(context.Background(), batch)
		queue = queue[n:]
		if err == nil {
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Write: %v, want ENOSPC", err)
		}
		if n < 0 || n > len(batch) {
			t.Fatalf("Write counted %d of %d packages", n, len(batch))
		}
		if full++; full == 3 {
			os.Remove(filler) // the operator frees space
		}
		if full > 10 {
			t.Fatalf("still failing after space was freed: %v", err)
		}
	}
	if full < 3 {
		t.Fatalf("the disk never filled (%d failed writes): the test proves nothing", full)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, b := range checkNDJSON(t, data) {
		count[b[:len("record 000")]]++
	}
	for i := range records {
		if c := count[fmt.Sprintf("record %03d", i)]; c != 1 {
			t.Errorf("record %03d is in the file %d times, want once", i, c)
		}
	}
	t.Logf("%d writes failed with ENOSPC; %d records readable", full, len(count))
}

// TestFullDiskCountsOnlyWholePackages: a batch larger than the encode
// buffer goes out in several writes; when the disk fills during one, Write
// counts the packages that are wholly in the file (they stay, synced) and
// leaves no byte of the others.
func TestFullDiskCountsOnlyWholePackages(t *testing.T) {
	dir := tinydisk.Mount(t, 4<<20)
	tinydisk.Fill(t, dir, 2<<20+100<<10)
	path := filepath.Join(dir, "out.ndjson")
	w, err := OpenFile(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var batch []*record.Package
	for i := range 10 {
		batch = append(batch, testPackage("a", uint64(i), fmt.Sprintf("%d %s", i, strings.Repeat("x", 300<<10))))
	}
	n, err := w.Write(context.Background(), batch)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write = %d, %v; want ENOSPC", n, err)
	}
	var want []byte
	for _, p := range batch[:n] {
		want = p.AppendNDJSON(want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || string(data) != string(want) {
		t.Errorf("Write counted %d packages; the file holds %d bytes, want exactly those packages' %d", n, len(data), len(want))
	}
	checkNDJSON(t, data)
	t.Logf("the disk filled after %d of %d packages", n, len(batch))
}
