package spool_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loglet/loglet/sidecar/spool"
)

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	f := spool.New(dir, "api", 10, 2)
	for _, chunk := range []string{"aaaa\n", "bbbbbbbb\n", "c\n", "dddddddddddd\n", "e\n", "f\n", "gggggggggg\n", "h\n"} {
		if _, err := f.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	// A file rotates once it reached the limit, so a chunk never
	// straddles two files; the oldest beyond two rotated files is gone.
	want := map[string]string{"api.log": "h\n", "api-1.log": "e\nf\ngggggggggg\n", "api-2.log": "c\ndddddddddddd\n"}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(names) != len(want) {
		t.Errorf("files %v, want %d", names, len(want))
	}
	for name, content := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != content {
			t.Errorf("%s = %q, %v; want %q", name, b, err, content)
		}
	}
}

func TestWriteErrorNamesFile(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	os.WriteFile(blocker, nil, 0o644)
	_, err := spool.New(blocker, "api", 0, 0).Write([]byte("x\n"))
	if err == nil || !strings.Contains(err.Error(), "not-a-dir") {
		t.Fatalf("err = %v, want one naming the folder", err)
	}
}
