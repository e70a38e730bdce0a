package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/record"
)

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func save(t testing.TB, s *Store, cps ...Checkpoint) {
	t.Helper()
	for _, cp := range cps {
		if err := s.Save(cp); err != nil {
			t.Fatal(err)
		}
	}
}

func cp(id string, offset int64) Checkpoint {
	return Checkpoint{SourceID: id, Path: "/var/log/" + id + ".log", Offset: offset, NextPackageID: uint64(offset) + 1,
		Updated: time.Date(2026, 12, 1, 12, 0, 0, int(offset), time.UTC)}
}

// offsets is each loaded checkpoint's offset by source id.
func offsets(cps []Checkpoint) map[string]int64 {
	m := map[string]int64{}
	for _, c := range cps {
		m[c.SourceID] = c.Offset
	}
	return m
}

// frames returns where each intact frame of the journal at path starts,
// and where they end.
func frames(t testing.TB, path string) (starts []int, end int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for end < len(b) {
		_, n, ok := frameAt(b[end:])
		if !ok {
			break
		}
		starts = append(starts, end)
		end += n
	}
	return starts, end
}

func TestSaveLoadRemove(t *testing.T) {
	state := t.TempDir()
	s := open(t, state)
	c := Checkpoint{SourceID: "abc", Path: "/var/log/a.log", Identity: record.Identity{Dev: 1, Inode: 2, FingerprintLen: 3, Fingerprint: "ff"}, Offset: 42, NextPackageID: 7}
	save(t, s, c)
	c.Offset = 84
	save(t, s, c, cp("other", 1))
	for _, s := range []*Store{s, open(t, state)} { // this store, and a new one: what is on disk
		got, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].SourceID != "abc" || got[0].Offset != 84 || got[0].NextPackageID != 7 || got[0].Identity != c.Identity {
			t.Fatalf("loaded %+v, want the second save of abc and other", got)
		}
	}
	if err := s.Remove("abc"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("never-saved"); err != nil {
		t.Fatal(err)
	}
	if got, err := open(t, state).Load(); err != nil || len(got) != 1 || got[0].SourceID != "other" {
		t.Fatalf("after remove: %+v, %v; want only other", got, err)
	}
	if _, err := os.Stat(filepath.Join(state, legacyDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a folder of format-1 checkpoints was made: %v", err)
	}
}

// Save refuses what Load would take for damage: written, such a record
// would cost the journal every record after it.
func TestSaveRefusesInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		cp   Checkpoint
		want string
	}{
		{"no source id", Checkpoint{Path: "/a.log"}, "source_id"},
		{"source id with a slash", Checkpoint{SourceID: "../x", Path: "/a.log"}, "source_id"},
		{"source id ..", Checkpoint{SourceID: "..", Path: "/a.log"}, "source_id"},
		{"relative path", Checkpoint{SourceID: "a", Path: "a.log"}, "not absolute"},
		{"negative offset", Checkpoint{SourceID: "a", Path: "/a.log", Offset: -1}, "negative offset"},
		{"over 4 MiB", Checkpoint{SourceID: "a", Path: "/a.log", Resource: []record.KeyValue{{Key: "k", Value: strings.Repeat("x", 4<<20)}}}, "more than the 4194304"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			s := open(t, state)
			save(t, s, cp("good", 1))
			if err := s.Save(tc.cp); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Save(%+v) = %v, want an error saying %q", tc.cp, err, tc.want)
			}
			l, err := open(t, state).LoadAll()
			if err != nil || len(l.Corrupt) != 0 || len(l.Checkpoints) != 1 {
				t.Fatalf("after a refused save: %+v, %v", l, err)
			}
		})
	}
	if err := open(t, t.TempDir()).Remove("a/b"); err == nil {
		t.Error("Remove(\"a/b\") succeeded")
	}
}

// journalOf writes saves of a, b, c (offsets 1, 2, 3), each its own write,
// then a's second save (offset 10), and returns the journal's path and
// where each frame starts (the header is frame 0).
func journalOf(t *testing.T) (state, path string, starts []int) {
	t.Helper()
	state = t.TempDir()
	s := open(t, state)
	save(t, s, cp("a", 1), cp("b", 2), cp("c", 3), cp("a", 10))
	starts, end := frames(t, s.Path())
	if len(starts) != 5 {
		t.Fatalf("journal has %d frames, want a header and one per save", len(starts))
	}
	if fi, _ := os.Stat(s.Path()); fi.Size() != int64(end) {
		t.Fatalf("journal has %d bytes after its frames", fi.Size()-int64(end))
	}
	return state, s.Path(), starts
}

// A crash in the middle of an append leaves a torn tail: it is cut off,
// not reported as damage, and the records before it load.
func TestTornTailCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(b []byte, last int) []byte
	}{
		{"cut in the last frame's head", func(b []byte, last int) []byte { return b[:last+7] }},
		{"cut after the last frame's head", func(b []byte, last int) []byte { return b[:last+headSize] }},
		{"cut in the last frame's payload", func(b []byte, last int) []byte { return b[:len(b)-9] }},
		{"last frame's payload never written (zeros)", func(b []byte, last int) []byte {
			clear(b[last+headSize:])
			return b
		}},
		{"last frame never written (zeros)", func(b []byte, last int) []byte {
			clear(b[last:])
			return b
		}},
		{"last frame's payload half written", func(b []byte, last int) []byte {
			clear(b[(last+len(b))/2:])
			return b
		}},
		{"garbage after the last frame", func(b []byte, last int) []byte { return append(b[:last], "\xffLCJ\x00garbage"...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, path, starts := journalOf(t)
			b, _ := os.ReadFile(path)
			torn := tc.tear(b, starts[4])
			if err := os.WriteFile(path, torn, 0o640); err != nil {
				t.Fatal(err)
			}
			s := open(t, state)
			l, err := s.LoadAll()
			if err != nil || len(l.Corrupt) != 0 {
				t.Fatalf("LoadAll = %+v, %v; want a torn tail cut, not damage", l, err)
			}
			if got, want := offsets(l.Checkpoints), map[string]int64{"a": 1, "b": 2, "c": 3}; !reflect.DeepEqual(got, want) {
				t.Errorf("loaded %v, want %v: the saves before the torn one", got, want)
			}
			// The next append goes where the intact frames end.
			save(t, s, cp("d", 4))
			if _, end := frames(t, path); end != mustSize(t, path) {
				t.Errorf("journal has bytes after its frames: the torn tail was not cut")
			}
			l, err = open(t, state).LoadAll()
			if want := map[string]int64{"a": 1, "b": 2, "c": 3, "d": 4}; err != nil || len(l.Corrupt) != 0 || !reflect.DeepEqual(offsets(l.Checkpoints), want) {
				t.Errorf("after the next save: %+v, %v; want %v", l, err, want)
			}
		})
	}
}

func mustSize(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Size())
}

// reframe replaces frame i's payload, with a valid head: the damage a CRC
// cannot see (a record loglet would not write).
func reframe(b []byte, starts []int, i int, payload string) []byte {
	end := len(b)
	if i+1 < len(starts) {
		end = starts[i+1]
	}
	out := append([]byte(nil), b[:starts[i]]...)
	out = appendFrame(out, []byte(payload))
	return append(out, b[end:]...)
}

// Damage before the last frame (or in the header) is not a torn tail: the
// records before it are kept, the journal is moved aside as
// journal.corrupt with its bytes, and rewritten with what was kept.
func TestDamagedJournal(t *testing.T) {
	random := make([]byte, 300)
	rand.NewChaCha8([32]byte{1}).Read(random)
	for _, tc := range []struct {
		name   string
		damage func(b []byte, starts []int) []byte
		// kept is what loads: the checkpoints before the damage.
		kept map[string]int64
	}{
		{"random bytes", func([]byte, []int) []byte { return random }, nil},
		{"empty", func([]byte, []int) []byte { return nil }, nil},
		{"all NULs", func(b []byte, _ []int) []byte { return make([]byte, len(b)) }, nil},
		{"cut in the header", func(b []byte, s []int) []byte { return b[:s[1]-3] }, nil},
		{"a bit flipped in the header", func(b []byte, s []int) []byte { b[s[0]+headSize+3] ^= 1; return b }, nil},
		{"other header", func(b []byte, s []int) []byte { return reframe(b, s, 0, `{"format":"x","version":2}`+"\n") }, nil},
		{"header without version", func(b []byte, s []int) []byte { return reframe(b, s, 0, `{"format":"loglet checkpoints"}`+"\n") }, nil},
		{"header version 1", func(b []byte, s []int) []byte {
			return reframe(b, s, 0, `{"format":"loglet checkpoints","version":1}`+"\n")
		}, nil},
		{"a bit flipped in a middle payload", func(b []byte, s []int) []byte { b[s[2]+headSize+5] ^= 0x10; return b }, map[string]int64{"a": 1}},
		{"a middle frame's length changed", func(b []byte, s []int) []byte { b[s[3]+4]++; return b }, map[string]int64{"a": 1, "b": 2}},
		{"a middle frame zeroed", func(b []byte, s []int) []byte { clear(b[s[2]:s[3]]); return b }, map[string]int64{"a": 1}},
		{"a middle frame cut out", func(b []byte, s []int) []byte { return append(b[:s[2]+20], b[s[3]:]...) }, map[string]int64{"a": 1}},
		{"relative path", func(b []byte, s []int) []byte {
			return reframe(b, s, 2, `{"version":2,"op":"save","source_id":"b","path":"b.log","offset":2}`+"\n")
		}, map[string]int64{"a": 1}},
		{"negative offset", func(b []byte, s []int) []byte {
			return reframe(b, s, 2, `{"version":2,"op":"save","source_id":"b","path":"/b.log","offset":-2}`+"\n")
		}, map[string]int64{"a": 1}},
		{"no source id", func(b []byte, s []int) []byte {
			return reframe(b, s, 2, `{"version":2,"op":"save","path":"/b.log","offset":2}`+"\n")
		}, map[string]int64{"a": 1}},
		{"source id with a slash", func(b []byte, s []int) []byte {
			return reframe(b, s, 2, `{"version":2,"op":"remove","source_id":"../a"}`+"\n")
		}, map[string]int64{"a": 1}},
		{"unknown op", func(b []byte, s []int) []byte {
			return reframe(b, s, 2, `{"version":2,"op":"rename","source_id":"b"}`+"\n")
		}, map[string]int64{"a": 1}},
		{"record without version", func(b []byte, s []int) []byte {
			return reframe(b, s, 2, `{"op":"save","source_id":"b","path":"/b.log","offset":2}`+"\n")
		}, map[string]int64{"a": 1}},
		{"record version 0", func(b []byte, s []int) []byte {
			return reframe(b, s, 2, `{"version":0,"op":"save","source_id":"b","path":"/b.log","offset":2}`+"\n")
		}, map[string]int64{"a": 1}},
		{"record version not a number", func(b []byte, s []int) []byte {
			return reframe(b, s, 2, `{"version":"2","op":"save","source_id":"b","path":"/b.log","offset":2}`+"\n")
		}, map[string]int64{"a": 1}},
		{"wrong field type", func(b []byte, s []int) []byte {
			return reframe(b, s, 2, `{"version":2,"op":"save","source_id":"b","path":"/b.log","offset":"2"}`+"\n")
		}, map[string]int64{"a": 1}},
		{"not JSON", func(b []byte, s []int) []byte { return reframe(b, s, 2, "{\"version\":2,\n") }, map[string]int64{"a": 1}},
		{"no newline at a frame's end", func(b []byte, s []int) []byte {
			return reframe(b, s, 2, `{"version":2,"op":"save","source_id":"b","path":"/b.log","offset":2}`)
		}, map[string]int64{"a": 1}},
		// The records before the bad one in its own frame are kept too.
		{"bad second record of a frame", func(b []byte, s []int) []byte {
			return reframe(b, s, 2, `{"version":2,"op":"save","source_id":"b","path":"/b.log","offset":2}`+"\n"+`{"version":2,"op":"save","source_id":"z"}`+"\n")
		}, map[string]int64{"a": 1, "b": 2}},
		// Intact frames, damaged records: the last frame is no torn tail
		// when its CRC holds.
		{"bad record in the last frame", func(b []byte, s []int) []byte {
			return reframe(b, s, 4, `{"version":2,"op":"save","source_id":"a","path":"/a.log","offset":-10}`+"\n")
		}, map[string]int64{"a": 1, "b": 2, "c": 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, path, starts := journalOf(t)
			b, _ := os.ReadFile(path)
			bad := tc.damage(b, starts)
			if err := os.WriteFile(path, bad, 0o640); err != nil {
				t.Fatal(err)
			}
			s := open(t, state)
			l, err := s.LoadAll()
			if err != nil {
				t.Fatalf("LoadAll: %v; want the damaged journal moved aside and the agent running", err)
			}
			if got := offsets(l.Checkpoints); !reflect.DeepEqual(got, orEmpty(tc.kept)) {
				t.Errorf("loaded %v, want %v: the checkpoints before the damage", got, orEmpty(tc.kept))
			}
			if len(l.Corrupt) != 1 || l.Corrupt[0].Path != path || l.Corrupt[0].MovedTo != path+CorruptSuffix || !errors.Is(l.Corrupt[0].Err, errCorrupt) {
				t.Fatalf("LoadAll reported %+v as corrupt, want %s moved to %s with the reason", l.Corrupt, path, path+CorruptSuffix)
			}
			if kept, err := os.ReadFile(path + CorruptSuffix); err != nil || !bytes.Equal(kept, bad) {
				t.Errorf("%s.corrupt = %d bytes, %v; want the damaged bytes kept for inspection", path, len(kept), err)
			}
			// The journal is rewritten with what was kept: a new start
			// finds no damage, and appends follow.
			save(t, s, cp("d", 4))
			l, err = open(t, state).LoadAll()
			want := orEmpty(tc.kept)
			want["d"] = 4
			if err != nil || len(l.Corrupt) != 0 || !reflect.DeepEqual(offsets(l.Checkpoints), want) {
				t.Errorf("next start: %+v, %v; want %v and no damage", l, err, want)
			}
		})
	}
}

func orEmpty(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Damage found again (the kept copy of an earlier start is there) is kept
// beside it, not over it.
func TestDamageKeptBesideEarlierDamage(t *testing.T) {
	state := t.TempDir()
	s := open(t, state)
	for i, junk := range []string{"first junk", "second junk", "third junk"} {
		if err := os.WriteFile(s.Path(), []byte(junk), 0o640); err != nil {
			t.Fatal(err)
		}
		l, err := s.LoadAll()
		want := s.Path() + CorruptSuffix
		if i > 0 {
			want = fmt.Sprintf("%s.%d%s", s.Path(), i+1, CorruptSuffix)
		}
		if err != nil || len(l.Corrupt) != 1 || l.Corrupt[0].MovedTo != want {
			t.Fatalf("LoadAll = %+v, %v; want it moved to %s", l, err, want)
		}
		if b, _ := os.ReadFile(want); string(b) != junk {
			t.Errorf("%s = %q, want %q", want, b, junk)
		}
	}
}

// A folder or a link in the journal's place is not a journal loglet wrote:
// it is moved aside without being read (a link is not followed).
func TestNonRegularJournalMovedAside(t *testing.T) {
	for _, kind := range []string{"link", "folder"} {
		t.Run(kind, func(t *testing.T) {
			state := t.TempDir()
			s := open(t, state)
			switch kind {
			case "link":
				other := t.TempDir()
				save(t, open(t, other), cp("secret", 5))
				if err := os.Symlink(filepath.Join(other, journalDir, journalName), s.Path()); err != nil {
					t.Fatal(err)
				}
			case "folder":
				if err := os.Mkdir(s.Path(), 0o750); err != nil {
					t.Fatal(err)
				}
			}
			l, err := s.LoadAll()
			if err != nil || len(l.Checkpoints) != 0 || len(l.Corrupt) != 1 || l.Corrupt[0].MovedTo != s.Path()+CorruptSuffix {
				t.Fatalf("LoadAll = %+v, %v; want nothing loaded and the %s moved aside", l, err, kind)
			}
			save(t, s, cp("a", 1))
			if got, err := open(t, state).Load(); err != nil || len(got) != 1 {
				t.Fatalf("after a save: %+v, %v", got, err)
			}
		})
	}
}

// Checkpoints of format 1 (a file per source, with or without a version)
// load after the upgrade: moved into the journal, and only then deleted.
// Damaged ones are moved aside; leftovers of interrupted writes deleted.
func TestUpgradeFromFormat1(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "v1-without-version.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(fixture, []byte(`"version"`)) {
		t.Fatal("the fixture must be the first releases' format, without a version field")
	}
	state := t.TempDir()
	old := filepath.Join(state, legacyDir)
	files := map[string]string{
		"3f2a9c1d7e6b5a40.json": string(fixture),
		"b.json":                `{"version":1,"source_id":"b","path":"/var/log/b.log","offset":7,"next_package_id":2}`,
		"bad.json":              `{"source_id":"bad","offset`,
		".b.json-12345":         `{"version":1,"source_id":"b","path":"/var/log/b.log","off`,
		"README":                "not a checkpoint",
	}
	if err := os.Mkdir(old, 0o750); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(old, name), []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	l, err := open(t, state).LoadAll()
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
	if len(l.Checkpoints) != 2 || !reflect.DeepEqual(l.Checkpoints[0], want) || l.Checkpoints[1].SourceID != "b" || l.Checkpoints[1].Offset != 7 {
		t.Fatalf("LoadAll = %+v\nwant %+v and b at 7", l.Checkpoints, want)
	}
	bad := filepath.Join(old, "bad.json")
	if len(l.Corrupt) != 1 || l.Corrupt[0].Path != bad || l.Corrupt[0].MovedTo != bad+CorruptSuffix {
		t.Errorf("corrupt: %+v, want %s moved aside", l.Corrupt, bad)
	}
	left, _ := os.ReadDir(old)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if want := []string{"README", "bad.json.corrupt"}; !reflect.DeepEqual(names, want) {
		t.Errorf("left in %s: %v, want %v", old, names, want)
	}
	// The journal holds them: a new start without the files loads them
	// field for field.
	again, err := open(t, state).LoadAll()
	if err != nil || len(again.Corrupt) != 0 || !reflect.DeepEqual(again.Checkpoints, l.Checkpoints) {
		t.Fatalf("next start: %+v, %v; want %+v", again, err, l.Checkpoints)
	}
}

// A start that moved format-1 checkpoints into the journal and then
// stopped before deleting them finds them again: the journal's records,
// newer or removals, win, and the files are deleted.
func TestUpgradeInterrupted(t *testing.T) {
	state := t.TempDir()
	s := open(t, state)
	save(t, s, cp("a", 50), cp("b", 60))
	if err := s.Remove("b"); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(state, legacyDir)
	if err := os.Mkdir(old, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Checkpoint{cp("a", 5), cp("b", 6), cp("c", 7)} {
		b, _ := json.Marshal(file{Version: 1, Checkpoint: c})
		if err := os.WriteFile(filepath.Join(old, c.SourceID+".json"), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	l, err := open(t, state).LoadAll()
	if want := map[string]int64{"a": 50, "c": 7}; err != nil || !reflect.DeepEqual(offsets(l.Checkpoints), want) {
		t.Fatalf("LoadAll = %+v, %v; want %v", l, err, want)
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s is still there (%v); want it deleted once empty", old, err)
	}
}

// A journal, a record or a format-1 file of a newer format is refused with
// an error that says what to do, not misread, and nothing is changed: a
// downgrade must not destroy a newer agent's state.
func TestNewerVersionRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		// newer makes the state dir a newer loglet's and returns the file
		// the error must name.
		newer func(t *testing.T, state, path string, starts []int) string
	}{
		{"journal header", func(t *testing.T, state, path string, starts []int) string {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, reframe(b, starts, 0, `{"format":"loglet checkpoints","version":7,"compression":"zstd"}`+"\n"), 0o640)
			return path
		}},
		{"journal header of a new framing", func(t *testing.T, state, path string, starts []int) string {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, reframe(b, starts, 0, `{"version":7}`+"\n"), 0o640)
			return path
		}},
		{"record", func(t *testing.T, state, path string, starts []int) string {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, reframe(b, starts, 2, `{"version":7,"op":"save","source_id":"b","offset":{"bytes":2}}`+"\n"), 0o640)
			return path
		}},
		{"record in the last frame", func(t *testing.T, state, path string, starts []int) string {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, reframe(b, starts, 4, `{"version":7,"op":"truncate"}`+"\n"), 0o640)
			return path
		}},
		{"format-1 file", func(t *testing.T, state, path string, starts []int) string {
			old := filepath.Join(state, legacyDir)
			os.Mkdir(old, 0o750)
			os.WriteFile(filepath.Join(old, "zzz.json"), []byte("{"), 0o640) // damage is not moved either
			p := filepath.Join(old, "0123456789abcdef.json")
			os.WriteFile(p, []byte(`{"version":7,"source_id":"0123456789abcdef","path":"/a.log","offset":12}`), 0o640)
			return p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, path, starts := journalOf(t)
			// A torn tail is not cut either.
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.WriteString("\xffLCJ torn")
			f.Close()
			named := tc.newer(t, state, path, starts)
			before := tree(t, state)
			s := open(t, state)
			got, err := s.Load()
			var verr *VersionError
			if !errors.As(err, &verr) || verr.Version != 7 {
				t.Fatalf("Load = %+v, %v; want a *VersionError for version 7", got, err)
			}
			for _, want := range []string{named, "format version 7", "reads up to 2", "upgrade loglet or delete the state dir"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			// A save does not write into a newer journal either.
			if err := s.Save(cp("new", 1)); !errors.As(err, &verr) {
				t.Errorf("Save into a newer state dir = %v, want the *VersionError", err)
			}
			if after := tree(t, state); !reflect.DeepEqual(after, before) {
				t.Errorf("the newer state dir was changed:\nbefore %v\nafter  %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
			}
		})
	}
}

// tree is every file under dir with its content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}

// A store that reads while another writes (a test, a debugging tool)
// changes nothing: a half-written frame it sees is the writer's, not a
// torn tail to cut.
func TestLoadWhileAnotherWrites(t *testing.T) {
	state, path, _ := journalOf(t)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(appendFrame(nil, []byte(`{"version":2,"op":"save","source_id":"e","path":"/e.log","offset":5}`+"\n"))[:30])
	f.Close()
	before := tree(t, state)
	l, err := open(t, state).LoadAll()
	if want := map[string]int64{"a": 10, "b": 2, "c": 3}; err != nil || len(l.Corrupt) != 0 || !reflect.DeepEqual(offsets(l.Checkpoints), want) {
		t.Fatalf("LoadAll = %+v, %v; want %v", l, err, want)
	}
	if after := tree(t, state); !reflect.DeepEqual(after, before) {
		t.Errorf("a load changed the journal")
	}
}

// Saves from many goroutines at once: each returns once its record is
// written, records that arrive together share a write, and the journal
// ends with each source's last save (run with -race).
func TestConcurrentSaves(t *testing.T) {
	state := t.TempDir()
	s := open(t, state)
	const workers, rounds = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			id := fmt.Sprintf("src%02d", w)
			for r := range rounds {
				var err error
				if w%4 == 0 && r == rounds-1 {
					err = s.Remove(id)
				} else {
					err = s.Save(cp(id, int64(r)))
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	// A load meanwhile sees whole records only.
	wg.Go(func() {
		for range 5 {
			if l, err := s.LoadAll(); err != nil || len(l.Corrupt) != 0 {
				errs <- fmt.Errorf("LoadAll during saves: %+v, %v", l.Corrupt, err)
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := map[string]int64{}
	for w := range workers {
		if w%4 != 0 {
			want[fmt.Sprintf("src%02d", w)] = rounds - 1
		}
	}
	l, err := open(t, state).LoadAll()
	if err != nil || len(l.Corrupt) != 0 || !reflect.DeepEqual(offsets(l.Checkpoints), want) {
		t.Fatalf("after the saves: %v, %+v, %v; want %v", offsets(l.Checkpoints), l.Corrupt, err, want)
	}
	starts, _ := frames(t, s.Path())
	writes := len(starts) - 1
	t.Logf("%d saves and removes in %d writes", workers*rounds, writes)
	if writes >= workers*rounds {
		t.Errorf("%d writes for %d concurrent saves: calls that arrive together must share a write", writes, workers*rounds)
	}
}

// The journal is compacted: however often a few sources are saved, it
// stays within a bound of their size, and holds their last saves.
func TestCompaction(t *testing.T) {
	state := t.TempDir()
	s := open(t, state)
	c := cp("a", 0)
	c.Resource = []record.KeyValue{{Key: "k8s.pod.label.big", Value: strings.Repeat("x", 2000)}}
	var largest int
	for i := range 3000 {
		c.SourceID = fmt.Sprintf("s%d", i%10)
		c.Offset = int64(i)
		save(t, s, c)
		largest = max(largest, mustSize(t, s.Path()))
	}
	if err := s.Remove("s0"); err != nil {
		t.Fatal(err)
	}
	// 10 live records of about 2.2 KiB: compacted past 1 MiB.
	if limit := compactMin + 16<<10; largest > limit {
		t.Errorf("journal grew to %d bytes, want at most %d", largest, limit)
	}
	l, err := open(t, state).LoadAll()
	if err != nil || len(l.Corrupt) != 0 || len(l.Checkpoints) != 9 {
		t.Fatalf("after compactions: %d checkpoints, %+v, %v", len(l.Checkpoints), l.Corrupt, err)
	}
	for _, c := range l.Checkpoints {
		if c.Offset < 2990 || len(c.Resource) != 1 {
			t.Errorf("%s at %d, want its last save", c.SourceID, c.Offset)
		}
	}
	entries, _ := os.ReadDir(s.Dir())
	if len(entries) != 1 {
		t.Errorf("files beside the journal: %v", entries)
	}
}

// A snapshot a crash interrupted leaves a temp file: the next writer
// deletes it; the journal is the one before.
func TestLeftoverSnapshotTemp(t *testing.T) {
	state := t.TempDir()
	save(t, open(t, state), cp("a", 1))
	tmp := filepath.Join(state, journalDir, "."+journalName+"-123")
	os.WriteFile(tmp, []byte("half a snapshot"), 0o640)
	s := open(t, state)
	if got, err := s.Load(); err != nil || len(got) != 1 {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	save(t, s, cp("b", 1))
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temp file not removed by the writer: %v", err)
	}
}

func TestOpenEmpty(t *testing.T) {
	if _, err := Open(""); err == nil || !strings.Contains(err.Error(), "--state-dir") {
		t.Fatalf("Open(\"\") = %v", err)
	}
}

// A Save before any Load reads the journal first, and damage it finds is
// reported by the next LoadAll.
func TestDamageFoundBySaveIsReported(t *testing.T) {
	state := t.TempDir()
	s := open(t, state)
	if err := os.WriteFile(s.Path(), []byte("junk"), 0o640); err != nil {
		t.Fatal(err)
	}
	save(t, s, cp("a", 1))
	l, err := s.LoadAll()
	if err != nil || len(l.Corrupt) != 1 || len(l.Checkpoints) != 1 {
		t.Fatalf("LoadAll = %+v, %v; want a and the damage", l, err)
	}
}
