package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad: whatever a state dir holds, Load neither panics nor fails on
// damage. The journal is the header and body's parts (split at 0x1e) each
// framed as loglet frames them, then tail as it is (a torn or damaged
// end); with raw set, body and tail as they are. legacy, if not empty, is
// a checkpoint file of format 1. Then:
//   - a *VersionError changes nothing;
//   - otherwise every damaged file is kept, byte for byte, where Corrupt
//     says, every checkpoint loaded is valid and survives encoding, and a
//     new start loads the same checkpoints with no damage left;
//   - a save after the load is there on the next start, with the others.
func FuzzLoad(f *testing.F) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "v1-without-version.json"))
	if err != nil {
		f.Fatal(err)
	}
	rec := func(s string) string { return s + "\n" }
	a := rec(`{"version":2,"op":"save","source_id":"a","path":"/a.log","offset":5,"next_package_id":2}`)
	b := rec(`{"version":2,"op":"save","source_id":"b","path":"/b.log","offset":7,"resource":[{"key":"k","value":"\xff"}],"updated":"2026-01-01T00:00:00+02:00"}`)
	rm := rec(`{"version":2,"op":"remove","source_id":"a"}`)
	torn := string(appendFrame(nil, []byte(a)))
	for _, seed := range []struct {
		body, tail, legacy string
		raw                bool
	}{
		{body: a + b + "\x1e" + rm},
		{body: a, tail: torn[:20]},
		{body: a, tail: torn[:len(torn)-1]},
		{body: a + "\x1e" + b, tail: "\x00\x00\x00\x00"},
		{body: a + "\x1e" + rec(`{"version":7,"op":"save"}`)},
		{body: a + "\x1e" + rec(`{"version":2,"op":"save","source_id":"c","path":"c.log"}`) + "\x1e" + b},
		{body: rec(`{"version":2,"op":"save","source_id":"..","path":"/c.log"}`)},
		{body: a, legacy: string(fixture)},
		{legacy: string(fixture[:len(fixture)/3])},
		{legacy: `{"version":7,"source_id":"fz"}`},
		{legacy: `{"version":1,"source_id":"fz","path":"/fz.log","offset":3}`},
		{body: rec(`{"version":2,"op":"save","source_id":"fz","path":"/fz.log","offset":9}`), legacy: `{"source_id":"fz","path":"/fz.log","offset":3}`},
		{raw: true, body: string(headerFrame()), tail: torn},
		{raw: true, body: "garbage"},
		{raw: true, body: string(appendFrame(nil, []byte(rec(`{"format":"loglet checkpoints","version":9}`))))},
		{raw: true},
	} {
		f.Add([]byte(seed.body), []byte(seed.tail), []byte(seed.legacy), seed.raw)
	}
	// On a tmpfs where there is one: each input syncs a few times, which
	// costs a disk far more than the load does.
	root, err := os.MkdirTemp("/dev/shm", "fuzzload")
	if err != nil {
		root = f.TempDir()
	} else {
		f.Cleanup(func() { os.RemoveAll(root) })
	}
	n := 0
	f.Fuzz(func(t *testing.T, body, tail, legacyFile []byte, raw bool) {
		n++
		state := filepath.Join(root, fmt.Sprint(n))
		defer os.RemoveAll(state)
		s, err := Open(state)
		if err != nil {
			t.Fatal(err)
		}
		var journal []byte
		if raw {
			journal = append(append(journal, body...), tail...)
		} else {
			journal = headerFrame()
			for part := range bytes.SplitSeq(body, []byte{0x1e}) {
				if len(part) > 0 {
					journal = appendFrame(journal, part)
				}
			}
			journal = append(journal, tail...)
		}
		if err := os.WriteFile(s.Path(), journal, 0o640); err != nil {
			t.Fatal(err)
		}
		originals := map[string][]byte{s.Path(): journal}
		if len(legacyFile) > 0 {
			p := filepath.Join(state, legacyDir, "fz.json")
			os.Mkdir(filepath.Dir(p), 0o750)
			if err := os.WriteFile(p, legacyFile, 0o640); err != nil {
				t.Fatal(err)
			}
			originals[p] = legacyFile
		}
		before := tree(t, state)

		l, err := s.LoadAll()
		var verr *VersionError
		switch {
		case errors.As(err, &verr):
			if verr.Version <= Version || originals[verr.Path] == nil {
				t.Fatalf("refused as %v", err)
			}
			if after := tree(t, state); !reflect.DeepEqual(after, before) {
				t.Fatalf("a newer state dir was changed")
			}
			return
		case err != nil:
			t.Fatalf("LoadAll: %v", err)
		}
		for _, c := range l.Corrupt {
			if kept, err := os.ReadFile(c.MovedTo); err != nil || !bytes.Equal(kept, originals[c.Path]) {
				t.Fatalf("%s moved aside as %s: %q, %v; want its bytes kept", c.Path, c.MovedTo, kept, err)
			}
		}
		for _, cp := range l.Checkpoints {
			if err := validate(cp); err != nil {
				t.Fatalf("loaded an invalid checkpoint %+v: %v", cp, err)
			}
			enc, err := encodeSave(cp)
			if err != nil {
				t.Fatalf("encode %+v: %v", cp, err)
			}
			_, back, err := decodeRecord(s.Path(), enc)
			if err != nil || back == nil {
				t.Fatalf("decode %s: %v", enc, err)
			}
			if enc2, _ := encodeSave(*back); !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding changed the checkpoint:\n%s\n%s", enc, enc2)
			}
		}
		again, err := open(t, state).LoadAll()
		if err != nil || len(again.Corrupt) != 0 || !reflect.DeepEqual(encodeAll(t, again.Checkpoints), encodeAll(t, l.Checkpoints)) {
			t.Fatalf("a new start: %+v, %v; want %+v and no damage", again, err, l.Checkpoints)
		}
		if err := s.Save(cp("fuzz-new", 1)); err != nil {
			t.Fatal(err)
		}
		after, err := open(t, state).Load()
		if err != nil || len(after) != len(l.Checkpoints)+1 && !hasID(l.Checkpoints, "fuzz-new") {
			t.Fatalf("after a save: %d checkpoints, %v; want %d", len(after), err, len(l.Checkpoints)+1)
		}
	})
}

func encodeAll(t *testing.T, cps []Checkpoint) []string {
	var out []string
	for _, c := range cps {
		b, err := encodeSave(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func hasID(cps []Checkpoint, id string) bool {
	for _, c := range cps {
		if c.SourceID == id {
			return true
		}
	}
	return false
}
