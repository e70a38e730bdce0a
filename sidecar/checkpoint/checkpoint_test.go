package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

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
	if err := s.Save(Checkpoint{SourceID: "abc", Path: "/var/log/abc.log", Offset: 1}); err != nil {
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

// A damaged checkpoint must not stop the agent: it is moved aside as
// <name>.corrupt (kept for inspection, not loaded again) and the others
// load, so its source is read again from its start.
func TestCorruptCheckpointMovedAside(t *testing.T) {
	valid, err := os.ReadFile(filepath.Join("testdata", "v1-without-version.json"))
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 300)
	rand.NewChaCha8([32]byte{1}).Read(random)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"random bytes", random},
		{"cut short", valid[:len(valid)/2]},
		{"empty", nil},
		{"all NULs", make([]byte, 4096)},
		{"JSON null", []byte("null")},
		{"JSON array", []byte(`[{"source_id":"bad"}]`)},
		{"JSON string", []byte(`"bad"`)},
		{"trailing garbage", append(bytes.Clone(valid), "\x00\x00"...)},
		{"other source id", []byte(`{"source_id":"other","path":"/a.log","offset":1}`)},
		{"no source id", []byte(`{"path":"/a.log","offset":1}`)},
		{"negative offset", []byte(`{"source_id":"bad","path":"/a.log","offset":-1}`)},
		{"no path", []byte(`{"source_id":"bad","offset":1}`)},
		{"relative path", []byte(`{"source_id":"bad","path":"a.log","offset":1}`)},
		{"wrong field type", []byte(`{"source_id":"bad","path":"/a.log","offset":"12"}`)},
		{"version zero", []byte(`{"version":0,"source_id":"bad","path":"/a.log","offset":1}`)},
		{"version not a number", []byte(`{"version":"1","source_id":"bad","path":"/a.log","offset":1}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			good := Checkpoint{SourceID: "good", Path: "/var/log/good.log", Offset: 10}
			if err := s.Save(good); err != nil {
				t.Fatal(err)
			}
			bad := filepath.Join(s.Dir(), "bad.json")
			if err := os.WriteFile(bad, tc.data, 0o640); err != nil {
				t.Fatal(err)
			}
			l, err := s.LoadAll()
			if err != nil {
				t.Fatalf("LoadAll: %v; want the damaged checkpoint moved aside and the agent running", err)
			}
			if got := l.Checkpoints; len(got) != 1 || got[0].SourceID != "good" || got[0].Offset != 10 {
				t.Errorf("LoadAll = %+v, want only the good checkpoint", got)
			}
			if len(l.Corrupt) != 1 || l.Corrupt[0].Path != bad || l.Corrupt[0].MovedTo != bad+CorruptSuffix || l.Corrupt[0].Err == nil {
				t.Errorf("LoadAll reported %+v as corrupt, want %s moved to %s with the reason", l.Corrupt, bad, bad+CorruptSuffix)
			}
			if _, err := os.Stat(bad); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s is still there (%v); want it moved aside", bad, err)
			}
			kept, err := os.ReadFile(bad + ".corrupt")
			if err != nil || !bytes.Equal(kept, tc.data) {
				t.Errorf("%s.corrupt = %q, %v; want the damaged bytes kept for inspection", bad, kept, err)
			}
			// Not loaded again: the next start sees only the good one.
			if got, err := s.Load(); err != nil || len(got) != 1 {
				t.Errorf("second Load = %+v, %v", got, err)
			}
		})
	}
}

// Today's checkpoints (no version field) load after the upgrade, field for
// field.
func TestLoadFormatWithoutVersion(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "v1-without-version.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"version"`)) {
		t.Fatal("the fixture must be today's format, without a version field")
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "3f2a9c1d7e6b5a40.json"), b, 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := Checkpoint{
		SourceID: "3f2a9c1d7e6b5a40",
		Path:     "/var/loglet/c/app/var/log/app/app.log",
		Identity: record.Identity{Dev: 2049, Inode: 1311862, FingerprintLen: 1024, Fingerprint: "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab"},
		Offset:   1048576, NextPackageID: 213,
		Updated: time.Date(2026, 11, 30, 17, 4, 5, 123456789, time.UTC),
		Resource: []record.KeyValue{
			{Key: "k8s.namespace.name", Value: "shop"}, {Key: "k8s.pod.name", Value: "cart-7d9f8-xk2lp"}, {Key: "k8s.container.name", Value: "app"},
		},
		Route: "shop-cart",
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("Load = %+v\nwant %+v", got, want)
	}
}

// A checkpoint is written with the format version, so a later loglet can
// tell which format it reads.
func TestSaveWritesVersion(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(Checkpoint{SourceID: "abc", Path: "/a.log"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir(), "abc.json"))
	if err != nil {
		t.Fatal(err)
	}
	var head struct{ Version *int }
	if err := json.Unmarshal(b, &head); err != nil || head.Version == nil || *head.Version != 1 {
		t.Fatalf("saved %s: want \"version\":1", b)
	}
}

// A checkpoint of a newer format is refused with an error that says what to
// do, not misread, and is left where it is: a downgrade must not destroy a
// newer agent's state.
func TestNewerVersionRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
	}{
		// Fields a version-1 reader would take at face value.
		{"fields that look like today's", `{"version":7,"source_id":"abc","path":"/a.log","offset":12,"next_package_id":3}`},
		{"fields today's reader cannot parse", `{"version":7,"source_id":"abc","path":"/a.log","offset":{"bytes":12,"lines":3}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(s.Dir(), "abc.json")
			if err := os.WriteFile(path, []byte(tc.data), 0o640); err != nil {
				t.Fatal(err)
			}
			// A damaged sibling is not moved aside either while the state
			// dir is a newer agent's.
			sibling := filepath.Join(s.Dir(), "zzz.json")
			if err := os.WriteFile(sibling, []byte("{"), 0o640); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load()
			if err == nil {
				t.Fatalf("Load = %+v, nil; want an error refusing format version 7", got)
			}
			var verr *VersionError
			if !errors.As(err, &verr) || verr.Version != 7 {
				t.Errorf("error %v is not a *VersionError for version 7", err)
			}
			for _, want := range []string{path, "format version 7", "reads up to 1", "upgrade loglet or delete the state dir"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != tc.data {
				t.Errorf("the newer checkpoint was changed: %q, %v", b, err)
			}
			if _, err := os.Stat(sibling); err != nil {
				t.Errorf("a sibling was moved while refusing a newer state dir: %v", err)
			}
		})
	}
}

// A folder or a link named like a checkpoint is not one loglet wrote: it is
// moved aside without being read (a link is not followed).
func TestNonRegularCheckpointMovedAside(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(`{"source_id":"link","path":"/a.log"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(s.Dir(), "link.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(s.Dir(), "dir.json"), 0o750); err != nil {
		t.Fatal(err)
	}
	l, err := s.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Checkpoints) != 0 || len(l.Corrupt) != 2 {
		t.Fatalf("LoadAll = %+v; want both moved aside", l)
	}
	for _, c := range l.Corrupt {
		if c.MovedTo != c.Path+CorruptSuffix {
			t.Errorf("%s moved to %q", c.Path, c.MovedTo)
		}
		if _, err := os.Lstat(c.MovedTo); err != nil {
			t.Errorf("%s: %v", c.MovedTo, err)
		}
	}
}

func TestOpenEmpty(t *testing.T) {
	if _, err := Open(""); err == nil || !strings.Contains(err.Error(), "--state-dir") {
		t.Fatalf("Open(\"\") = %v", err)
	}
}

// FuzzLoad: whatever bytes a checkpoint file holds, Load neither panics
// nor fails; the file is either a checkpoint that survives a save and a
// reload unchanged, or moved aside intact, or (a newer format only)
// refused and left in place.
func FuzzLoad(f *testing.F) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "v1-without-version.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{
		fixture, fixture[:len(fixture)/3], nil, make([]byte, 64), []byte("null"), []byte("[]"),
		[]byte(`{"version":1,"source_id":"fz","path":"/a.log","offset":5,"next_package_id":2}`),
		[]byte(`{"version":7,"source_id":"fz"}`),
		[]byte(`{"version":-1,"source_id":"fz"}`),
		[]byte(`{"version":1e3,"source_id":"fz"}`),
		[]byte(`{"source_id":"fz","offset":-5}`),
		[]byte(`{"source_id":"fz","resource":[{"key":"a","value":"\xff"}],"updated":"2026-01-01T00:00:00+02:00"}`),
	} {
		f.Add(seed)
	}
	// One store per fuzzing process, emptied for each input: a fresh
	// folder per input costs more than the load.
	s, err := Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(s.Dir(), "fz.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		os.Remove(path + CorruptSuffix)
		if err := os.WriteFile(path, data, 0o640); err != nil {
			t.Fatal(err)
		}
		l, err := s.LoadAll()
		var verr *VersionError
		switch {
		case errors.As(err, &verr):
			if verr.Version <= Version || verr.Path != path {
				t.Fatalf("refused %q as %v", data, err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, data) {
				t.Fatalf("a refused checkpoint was changed")
			}
		case err != nil:
			t.Fatalf("LoadAll(%q): %v", data, err)
		case len(l.Corrupt) == 1 && len(l.Checkpoints) == 0:
			if b, err := os.ReadFile(path + CorruptSuffix); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("moved aside as %q, %v; want the bytes kept", b, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("damaged checkpoint still in place: %v", err)
			}
		case len(l.Checkpoints) == 1 && len(l.Corrupt) == 0:
			cp := l.Checkpoints[0]
			if cp.SourceID != "fz" || cp.Offset < 0 {
				t.Fatalf("loaded %+v from %q", cp, data)
			}
			// What was loaded is written (as Save writes it, without
			// its fsyncs) and read back as it was.
			b, err := encode(cp)
			if err != nil {
				t.Fatalf("encode %+v: %v", cp, err)
			}
			if err := os.WriteFile(path, b, 0o640); err != nil {
				t.Fatal(err)
			}
			again, err := s.LoadAll()
			if err != nil || len(again.Checkpoints) != 1 {
				t.Fatalf("reload of %s: %+v, %v", b, again, err)
			}
			if b2, _ := encode(again.Checkpoints[0]); !bytes.Equal(b, b2) {
				t.Fatalf("save and reload changed the checkpoint:\n%s\n%s", b, b2)
			}
		default:
			t.Fatalf("LoadAll(%q) = %+v", data, l)
		}
	})
}
