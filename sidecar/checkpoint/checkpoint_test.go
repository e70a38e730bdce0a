package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loglet/loglet/sidecar/record"
)

func TestSaveLoadRemove(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cp := Checkpoint{SourceID: "abc", Path: "/var/log/a.log", Identity: record.Identity{Dev: 1, Inode: 2, FingerprintLen: 3, Fingerprint: "ff"}, Offset: 42, NextPackageID: 7}
	if err := s.Save(cp); err != nil {
		t.Fatal(err)
	}
	cp.Offset = 84
	if err := s.Save(cp); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Offset != 84 || got[0].NextPackageID != 7 || got[0].Identity != cp.Identity {
		t.Fatalf("loaded %+v, want the second save", got)
	}
	if err := s.Remove("abc"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(); len(got) != 0 {
		t.Fatalf("after remove: %+v", got)
	}
}

// A temp file left by a crash mid-write is cleaned up; the checkpoint it
// would have replaced is still there.
func TestLeftoverTempFile(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(Checkpoint{SourceID: "abc", Offset: 1}); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(s.Dir(), ".abc-123")
	os.WriteFile(tmp, []byte(`{"source_id":"abc","off`), 0o640)
	got, err := s.Load()
	if err != nil || len(got) != 1 || got[0].Offset != 1 {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temp file not removed")
	}
}

func TestCorruptCheckpointNamesTheFile(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(s.Dir(), "abc.json")
	os.WriteFile(bad, []byte("{not json"), 0o640)
	_, err = s.Load()
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("Load error %v, want one naming %s and the fix", err, bad)
	}
}

func TestOpenEmpty(t *testing.T) {
	if _, err := Open(""); err == nil || !strings.Contains(err.Error(), "--state-dir") {
		t.Fatalf("Open(\"\") = %v", err)
	}
}
