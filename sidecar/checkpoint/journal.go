package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/loglet/loglet/sidecar/atomicfile"
)

// The journal is a sequence of frames. The first holds the header, a JSON
// object with the format version; each later one the records of one write
// (a group commit), one JSON object per line:
//
//	{"version":2,"op":"save","source_id":"…","path":"…",…}
//	{"version":2,"op":"remove","source_id":"…"}
//
// A frame is a 16-byte head and its payload:
//
//	magic "\xffLCJ" | payload length (uint32 LE) | CRC-32C of the payload | CRC-32C of the 12 bytes before
//
// The head's own checksum makes a damaged length detectable as damage
// rather than taken for a frame the file is too short for. 0xff never
// occurs in UTF-8, so no JSON payload holds the magic: a frame found after
// a bad spot was written as one. A write is one frame, so what a crash can
// tear is the last frame only.
const (
	frameMagic = "\xffLCJ"
	headSize   = 16
	// maxFrame bounds a frame's payload: a longer one is not one loglet
	// wrote (writes are split into frames of at most frameTarget bytes
	// unless one record is longer, and Save refuses records over
	// maxRecord).
	maxFrame = 64 << 20
	// maxRecord bounds one record. loglet's are a few KiB (the pod's
	// labels are the bulk); the format-1 files had the same bound.
	maxRecord = maxFileBytes
	// frameTarget is where a write or a snapshot starts a new frame.
	frameTarget = 1 << 20
	// maxJournal bounds what a load reads: far more than a node's
	// thousands of sources compact to.
	maxJournal = 1 << 30
	// A journal is compacted once it is over compactRatio times the size
	// of its live records and over compactMin bytes.
	compactRatio = 4
	compactMin   = 1 << 20
	formatName   = "loglet checkpoints"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journal is the state of the journal file. It is owned by whoever holds
// the Store's busy flag.
type journal struct {
	path   string // the journal
	legacy string // the folder of format-1 checkpoints

	loaded bool
	// live is the newest save record of every source with a checkpoint,
	// as written: what a snapshot writes again.
	live      map[string][]byte
	liveBytes int64
	// size is where the intact frames end: the next frame goes there (a
	// torn tail after it is cut off first).
	size int64
	// exists says the journal file is there with its header.
	exists bool
	f      *os.File // open for appending; nil until the first append
	// rewrite says the last append failed: the file's tail is unknown, so
	// the next write is a whole snapshot instead of an append.
	rewrite bool
	// noCompactBelow holds off compaction after one failed, so that a full
	// disk does not cost a failed snapshot on every write.
	noCompactBelow int64
	// unreported is damage a write found before any LoadAll: the next
	// LoadAll reports it.
	unreported []Corrupt
}

// load reads the journal and the format-1 checkpoints, moves damage aside,
// moves format-1 checkpoints into the journal, and makes the result the
// journal's state.
func (j *journal) load() (Loaded, error) {
	j.close()
	j.loaded = false
	sc, err := j.read()
	if err != nil {
		return Loaded{}, err
	}
	old, err := readLegacy(j.legacy)
	if err != nil {
		return Loaded{}, err
	}
	// Nothing has been changed so far: a newer format stops here.

	j.live = map[string][]byte{}
	j.liveBytes = 0
	var out Loaded
	for id, e := range sc.live {
		// A copy: the journal's bytes, read whole, are not kept alive by
		// the few records that are still live.
		j.setLive(id, bytes.Clone(e.rec))
		out.Checkpoints = append(out.Checkpoints, e.cp)
	}
	// A format-1 checkpoint whose source the journal names already was
	// moved in by a start that stopped before deleting it; the journal's
	// record is the same or newer.
	var moved []change
	for _, e := range old.checkpoints {
		if sc.named[e.cp.SourceID] {
			continue
		}
		b, err := encodeSave(e.cp)
		if err != nil {
			return Loaded{}, fmt.Errorf("checkpoint %s: %w", e.file, err)
		}
		moved = append(moved, change{id: e.cp.SourceID, rec: b})
		out.Checkpoints = append(out.Checkpoints, e.cp)
	}

	j.exists, j.size, j.rewrite = sc.exists, sc.end, false
	if sc.damage != nil {
		c := Corrupt{Path: j.path, Err: sc.damage}
		if to, err := moveAside(j.path); err != nil {
			c.Err = fmt.Errorf("%w; moving it aside failed: %w", c.Err, err)
			// Left in place, it is replaced by the snapshot below.
		} else {
			c.MovedTo = to
		}
		out.Corrupt = append(out.Corrupt, c)
		j.exists, j.rewrite = false, true
	}
	j.loaded = true
	if len(moved) > 0 || j.rewrite {
		// The journal must hold every format-1 checkpoint, synced, before
		// one file is deleted.
		if err := j.commit(moved); err != nil {
			j.loaded = false
			return out, fmt.Errorf("checkpoints %s: %w", j.path, err)
		}
	}
	if err := old.clean(&out); err != nil {
		return out, err
	}
	return out, nil
}

func (j *journal) setLive(id string, rec []byte) {
	if old, ok := j.live[id]; ok {
		j.liveBytes -= int64(len(old) + 1)
	}
	if rec == nil {
		delete(j.live, id)
		return
	}
	j.live[id] = rec
	j.liveBytes += int64(len(rec) + 1)
}

// scanned is what reading the journal found.
type scanned struct {
	exists bool
	// live is each source's newest checkpoint; named holds every source a
	// record names, removed ones too.
	live  map[string]liveEntry
	named map[string]bool
	// end is where the intact frames end.
	end int64
	// damage is why the journal is damaged (nil if it is not).
	damage error
}

type liveEntry struct {
	cp  Checkpoint
	rec []byte
}

// read reads and checks the journal without changing it.
func (j *journal) read() (scanned, error) {
	sc := scanned{live: map[string]liveEntry{}, named: map[string]bool{}}
	fi, err := os.Lstat(j.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return sc, nil
	case err != nil:
		return sc, fmt.Errorf("checkpoints %s: %w", j.path, err)
	}
	sc.exists = true
	if !fi.Mode().IsRegular() {
		// Not a file loglet wrote (a folder, a link): not followed.
		sc.damage = fmt.Errorf("%w: not a regular file (%s)", errCorrupt, fi.Mode().Type())
		return sc, nil
	}
	f, err := os.Open(j.path)
	if err != nil {
		return sc, fmt.Errorf("checkpoints %s: %w", j.path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJournal+1))
	if err != nil {
		// Unreadable, not damaged (permissions, I/O): guessing would
		// re-send or skip whole files.
		return sc, fmt.Errorf("checkpoints %s: %w", j.path, err)
	}
	if len(b) > maxJournal {
		sc.damage = fmt.Errorf("%w: larger than %d bytes", errCorrupt, maxJournal)
		return sc, nil
	}
	return sc, scan(j.path, b, &sc)
}

// errCorrupt marks the errors of damaged state.
var errCorrupt = errors.New("corrupt checkpoint")

// scan replays the journal's bytes b into sc. It returns only a
// *VersionError; damage is sc.damage.
func scan(path string, b []byte, sc *scanned) error {
	payload, n, ok := frameAt(b)
	if !ok {
		// The header is written with the file, atomically: it cannot be
		// torn.
		sc.damage = fmt.Errorf("%w: no journal header", errCorrupt)
		return nil
	}
	if err := checkHeader(path, payload); err != nil {
		var verr *VersionError
		if errors.As(err, &verr) {
			return err
		}
		sc.damage = err
		return nil
	}
	pos := n
	for pos < len(b) {
		payload, n, ok := frameAt(b[pos:])
		if !ok {
			if intactFrameAfter(b, pos+1) {
				sc.damage = fmt.Errorf("%w: bad frame at byte %d", errCorrupt, pos)
			}
			// Otherwise a torn tail: the frames before it are the journal.
			break
		}
		if err := replay(path, payload, sc); err != nil {
			var verr *VersionError
			if errors.As(err, &verr) {
				return err
			}
			sc.damage = fmt.Errorf("%w (frame at byte %d)", err, pos)
			break
		}
		pos += n
	}
	sc.end = int64(pos)
	return nil
}

// replay applies one frame's records to sc, up to the first bad one.
func replay(path string, payload []byte, sc *scanned) error {
	if len(payload) == 0 || payload[len(payload)-1] != '\n' {
		return fmt.Errorf("%w: a frame's records do not end with a newline", errCorrupt)
	}
	for line := range bytes.Lines(payload) {
		line = line[:len(line)-1]
		id, cp, err := decodeRecord(path, line)
		if err != nil {
			return err
		}
		sc.named[id] = true
		if cp == nil {
			delete(sc.live, id)
			continue
		}
		sc.live[id] = liveEntry{cp: *cp, rec: line}
	}
	return nil
}

// frameAt returns the payload of the frame at the start of b and the
// frame's length, or false if no intact frame starts there.
func frameAt(b []byte) (payload []byte, n int, ok bool) {
	if len(b) < headSize || string(b[:4]) != frameMagic {
		return nil, 0, false
	}
	if crc32.Checksum(b[:12], castagnoli) != binary.LittleEndian.Uint32(b[12:16]) {
		return nil, 0, false
	}
	size := binary.LittleEndian.Uint32(b[4:8])
	if size > maxFrame || int64(len(b)-headSize) < int64(size) {
		return nil, 0, false
	}
	payload = b[headSize : headSize+int(size)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[8:12]) {
		return nil, 0, false
	}
	return payload, headSize + int(size), true
}

// intactFrameAfter says whether an intact frame starts anywhere in b at or
// after from. A bad frame with one after it is damage in the middle; with
// none, a torn tail: a crash tears only the last write, and the tail is cut
// before the next.
func intactFrameAfter(b []byte, from int) bool {
	for from < len(b) {
		i := bytes.Index(b[from:], []byte(frameMagic))
		if i < 0 {
			return false
		}
		if _, _, ok := frameAt(b[from+i:]); ok {
			return true
		}
		from += i + 1
	}
	return false
}

// appendFrames appends payload to dst as frames of about frameTarget
// bytes, cut between records.
func appendFrames(dst, payload []byte) []byte {
	for len(payload) > 0 {
		n := len(payload)
		if n > frameTarget {
			// The frame ends after the last whole record within the target,
			// or after the first one if it alone is longer.
			n = bytes.LastIndexByte(payload[:frameTarget], '\n') + 1
			if n == 0 {
				n = bytes.IndexByte(payload, '\n') + 1
			}
		}
		dst = appendFrame(dst, payload[:n])
		payload = payload[n:]
	}
	return dst
}

func appendFrame(dst, payload []byte) []byte {
	var head [headSize]byte
	copy(head[:4], frameMagic)
	binary.LittleEndian.PutUint32(head[4:8], uint32(len(payload)))
	binary.LittleEndian.PutUint32(head[8:12], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(head[12:16], crc32.Checksum(head[:12], castagnoli))
	dst = append(dst, head[:]...)
	return append(dst, payload...)
}

// header is the journal's first record.
type header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
}

func headerFrame() []byte {
	b, _ := json.Marshal(header{Format: formatName, Version: Version})
	return appendFrame(nil, append(b, '\n'))
}

// checkHeader checks the header's payload. The version is read on its own
// first: a newer format may change anything else.
func checkHeader(path string, payload []byte) error {
	v, err := versionOf(path, bytes.TrimSuffix(payload, []byte("\n")))
	if err != nil {
		return fmt.Errorf("journal header: %w", err)
	}
	var h header
	if err := json.Unmarshal(payload, &h); err != nil || h.Format != formatName || v != Version {
		return fmt.Errorf("%w: journal header %q is not loglet's", errCorrupt, payload)
	}
	return nil
}

// versionOf is the "version" of a JSON object: a *VersionError if it is
// newer than this loglet reads, damage if it is missing or not a number.
func versionOf(path string, b []byte) (int64, error) {
	var head struct {
		Version *int64 `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return 0, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	switch {
	case head.Version == nil:
		return 0, fmt.Errorf("%w: no format version", errCorrupt)
	case *head.Version > Version:
		return 0, &VersionError{Path: path, Version: *head.Version}
	}
	return *head.Version, nil
}

// saveRecord and removeRecord are the journal's records.
type saveRecord struct {
	Version int    `json:"version"`
	Op      string `json:"op"`
	Checkpoint
}

type removeRecord struct {
	Version  int    `json:"version"`
	Op       string `json:"op"`
	SourceID string `json:"source_id"`
}

const (
	opSave   = "save"
	opRemove = "remove"
)

func encodeSave(cp Checkpoint) ([]byte, error) {
	return json.Marshal(saveRecord{Version: Version, Op: opSave, Checkpoint: cp})
}

func encodeRemove(id string) []byte {
	b, _ := json.Marshal(removeRecord{Version: Version, Op: opRemove, SourceID: id})
	return b
}

// decodeRecord parses one record: the source it names and its checkpoint,
// nil for a removal. It is parsed once, as this format; only if that
// fails is its version read on its own, since a newer format may change
// any other field and must be refused rather than reported as damage.
func decodeRecord(path string, b []byte) (string, *Checkpoint, error) {
	var r struct {
		Version *int64 `json:"version"`
		Op      string `json:"op"`
		Checkpoint
	}
	if err := json.Unmarshal(b, &r); err != nil {
		if _, verr := versionOf(path, b); verr != nil {
			return "", nil, verr
		}
		return "", nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	switch {
	case r.Version == nil:
		return "", nil, fmt.Errorf("%w: record without a format version", errCorrupt)
	case *r.Version > Version:
		return "", nil, &VersionError{Path: path, Version: *r.Version}
	case *r.Version != Version:
		return "", nil, fmt.Errorf("%w: record of format version %d in a journal of version %d", errCorrupt, *r.Version, Version)
	}
	switch r.Op {
	case opSave:
		if err := validate(r.Checkpoint); err != nil {
			return "", nil, fmt.Errorf("%w: %w", errCorrupt, err)
		}
		return r.SourceID, &r.Checkpoint, nil
	case opRemove:
		if err := validID(r.SourceID); err != nil {
			return "", nil, fmt.Errorf("%w: %w", errCorrupt, err)
		}
		return r.SourceID, nil, nil
	}
	return "", nil, fmt.Errorf("%w: unknown record op %q", errCorrupt, r.Op)
}

// validate checks what the pipeline relies on in a checkpoint.
func validate(cp Checkpoint) error {
	if err := validID(cp.SourceID); err != nil {
		return err
	}
	if cp.Offset < 0 {
		return fmt.Errorf("negative offset %d", cp.Offset)
	}
	if !filepath.IsAbs(cp.Path) {
		// The folder of the path is where a rotated copy is looked for.
		return fmt.Errorf("path %q is not absolute", cp.Path)
	}
	return nil
}

// validID checks a source id: it names files (rejected packages, the
// checkpoints of format 1), so it must be a plain file name.
func validID(id string) error {
	if id == "" || id == "." || id == ".." || len(id) > 200 || strings.ContainsAny(id, "/\x00") {
		return fmt.Errorf("source_id %q is not a plain file name", id)
	}
	return nil
}

// write makes changes durable, reading the journal first if no load did.
func (j *journal) write(changes []change) error {
	if !j.loaded {
		l, err := j.load()
		j.unreported = append(j.unreported, l.Corrupt...)
		if err != nil {
			return err
		}
	}
	return j.commit(changes)
}

// commit makes changes durable: appended as one frame, or, for a journal
// that is not there or whose last append failed, as part of a snapshot.
// Only then do they count as the journal's state.
func (j *journal) commit(changes []change) error {
	// A removal of a source the journal does not hold needs no record.
	var payload []byte
	known := map[string]bool{}
	for _, c := range changes {
		if c.rec == nil {
			if _, ok := j.live[c.id]; !ok && !known[c.id] {
				continue
			}
			payload = append(payload, encodeRemove(c.id)...)
		} else {
			payload = append(payload, c.rec...)
			known[c.id] = true
		}
		payload = append(payload, '\n')
	}
	if len(payload) == 0 && !j.rewrite {
		return nil
	}
	if !j.exists || j.rewrite {
		return j.snapshot(changes)
	}
	if err := j.append(appendFrames(nil, payload)); err != nil {
		// What reached the file is unknown: the next write replaces it.
		j.rewrite = true
		return fmt.Errorf("checkpoints %s: %w", j.path, err)
	}
	j.apply(changes)
	return nil
}

func (j *journal) close() error {
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

func (j *journal) apply(changes []change) {
	for _, c := range changes {
		j.setLive(c.id, c.rec)
	}
}

// append writes frames at the journal's intact end and syncs them.
func (j *journal) append(frames []byte) error {
	if j.f == nil {
		f, err := os.OpenFile(j.path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		// A torn tail a crash left is cut before anything follows it.
		if err := f.Truncate(j.size); err != nil {
			f.Close()
			return err
		}
		j.f = f
		// Leftovers of a snapshot a crash interrupted: this process
		// writes the journal now.
		removeTemps(filepath.Dir(j.path), "."+filepath.Base(j.path)+"-")
	}
	if _, err := j.f.WriteAt(frames, j.size); err != nil {
		return err
	}
	if err := j.f.Sync(); err != nil {
		return err
	}
	j.size += int64(len(frames))
	return nil
}

// snapshot writes the live checkpoints with changes applied as a new
// journal, atomically.
func (j *journal) snapshot(changes []change) error {
	live := j.live
	if len(changes) > 0 {
		live = maps.Clone(j.live)
		for _, c := range changes {
			if c.rec == nil {
				delete(live, c.id)
			} else {
				live[c.id] = c.rec
			}
		}
	}
	// By source id: a snapshot's bytes depend only on what it holds.
	var payload []byte
	for _, id := range slices.Sorted(maps.Keys(live)) {
		payload = append(payload, live[id]...)
		payload = append(payload, '\n')
	}
	b := appendFrames(headerFrame(), payload)
	if err := atomicfile.Write(j.path, 0o640, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("checkpoints %s: %w", j.path, err)
	}
	j.close()
	j.exists, j.rewrite, j.size = true, false, int64(len(b))
	j.apply(changes)
	return nil
}

// maybeCompact rewrites the journal as a snapshot of its live checkpoints
// once it is much larger than they are. A failed attempt changes nothing:
// the journal is still whole, and is appended to until it has grown by as
// much again.
func (j *journal) maybeCompact() {
	if j.size <= compactMin || j.size <= compactRatio*j.liveBytes || j.size < j.noCompactBelow {
		return
	}
	if err := j.snapshot(nil); err != nil {
		j.noCompactBelow = j.size + max(compactMin, j.liveBytes)
	}
}

// moveAside renames a damaged file to <path>.corrupt, or <path>.<n>.corrupt
// if that is taken (the damage of an earlier start, kept for inspection).
func moveAside(path string) (string, error) {
	to := path + CorruptSuffix
	for n := 2; ; n++ {
		if _, err := os.Lstat(to); errors.Is(err, os.ErrNotExist) {
			break
		}
		if n > 1000 {
			return "", fmt.Errorf("%s: too many damaged copies kept", path)
		}
		to = path + "." + strconv.Itoa(n) + CorruptSuffix
	}
	if err := os.Rename(path, to); err != nil {
		return "", err
	}
	return to, nil
}

// removeTemps removes dir's files whose names start with prefix.
func removeTemps(dir, prefix string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
