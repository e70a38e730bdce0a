package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"

	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// The model-based test of the whole read path (issue 16 item 9).
//
// FuzzModel decodes its input into a run of actions on one log folder —
// appending whole and partial lines (both streams in CRI format), rename
// rotation, copytruncate, truncate, delete, re-creation with the same head,
// an agent kill -9 and restart, the hub down and up — performs them on real
// files against the real agent (New + Run in this process, a real
// checkpoint.Store) and a sink that can be down, and checks the model's
// invariant over what the sink acknowledged:
//
//   - every complete line the agent had a chance to see arrives at least
//     once, byte-exact (its body, and its stream for CRI);
//   - nothing arrives that was not written (no spliced or altered record);
//   - within one agent life a source delivers its lines in order (per
//     stream for CRI), and its package ids rise by one;
//   - a duplicate only ever comes from a package that was acknowledged but
//     not checkpointed when the agent was killed: a new life starts each
//     source at its checkpointed package id, and the copies of a line beyond
//     its instances are bounded by how often it was in such packages.
//
// What the agent may legitimately lose is modelled, not guessed: a line is
// required once written completely, and becomes optional only when its
// bytes are destroyed (truncated, or unlinked while no live agent holds the
// file open, or unlinked and the agent then killed) before it was
// delivered, or when it sits in a file the agent never saw under a name its
// glob does not match. Every action is followed by a settle: while the agent
// runs it waits (polling with a deadline) until the agent has opened every
// file its glob matches, and, while the hub is up, until every required line
// arrived. So a destructive action with the hub up never races the reader,
// and one with the hub down is accounted for by the rules above.

// modelSink is the hub: it acknowledges what it is given while up, and
// records every acknowledged package (copied: packages are pooled).
type modelSink struct {
	cri   bool
	mu    sync.Mutex
	down  bool // hub down: every write fails
	dead  bool // the agent process was killed: nothing it sends arrives
	life  int
	acked []ackedPkg
}

type ackedPkg struct {
	life   int
	source string
	id     uint64
	recs   []gotRec
}

type gotRec struct {
	stream byte // 0 stdout (and raw lines), 1 stderr, 2 no stream
	body   string
}

var errHubDown = errors.New("model hub is down")

func (s *modelSink) Write(_ context.Context, pkgs []*record.Package) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down || s.dead {
		return 0, errHubDown
	}
	for _, p := range pkgs {
		a := ackedPkg{life: s.life, source: p.Origin.SourceID, id: p.ID}
		for i := range p.Records {
			a.recs = append(a.recs, gotRec{stream: s.streamOf(p.Records[i].Flags), body: string(p.Body(i))})
		}
		s.acked = append(s.acked, a)
	}
	return len(pkgs), nil
}

func (s *modelSink) Close() error { return nil }

// streamOf is a record's stream: raw lines have none and count as
// stdout; a CRI record without one is wrong (2).
func (s *modelSink) streamOf(f record.Flag) byte {
	switch {
	case f&record.FlagStderr != 0:
		return 1
	case f&record.FlagStdout != 0 || !s.cri:
		return 0
	}
	return 2
}

// delivered counts acknowledged records by stream and body.
func (s *modelSink) delivered() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := map[string]int{}
	for _, a := range s.acked {
		for _, r := range a.recs {
			n[key(r.stream, r.body)]++
		}
	}
	return n
}

func (s *modelSink) dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, a := range s.acked {
		fmt.Fprintf(&b, "life %d source %s package %d:", a.life, a.source, a.id)
		for _, r := range a.recs {
			fmt.Fprintf(&b, " %d:%q", r.stream, r.body)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func key(stream byte, text string) string { return string('0'+stream) + text }

// op is one action of the model.
type op byte

const (
	opWhole op = iota
	opPartial
	opRotate
	opCopytruncate
	opTruncate
	opDelete
	opRecreate
	opKill
	opRestart
	opHubDown
	opHubUp
	numOps
)

var opNames = [...]string{"whole", "partial", "rotate", "copytruncate", "truncate", "delete", "recreate", "kill", "restart", "hubdown", "hubup"}

func (o op) String() string { return opNames[o] }

type action struct {
	op  op
	arg byte
}

func (a action) String() string { return fmt.Sprintf("%s(%d)", a.op, a.arg) }

// maxActions bounds one execution, so the fuzzer keeps its pace.
const maxActions = 16

// scenario is a decoded input: the first byte says the format and glob,
// then two bytes per action.
type scenario struct {
	cri      bool
	wideGlob bool // app.log* (rotated files match) instead of *.log
	actions  []action
}

func decodeScenario(data []byte) scenario {
	var sc scenario
	if len(data) == 0 {
		return sc
	}
	sc.cri, sc.wideGlob = data[0]&1 != 0, data[0]&2 != 0
	for data = data[1:]; len(data) >= 2 && len(sc.actions) < maxActions; data = data[2:] {
		sc.actions = append(sc.actions, action{op(data[0] % byte(numOps)), data[1]})
	}
	return sc
}

// encodeScenario is decodeScenario's inverse, for seeds.
func encodeScenario(cri, wideGlob bool, actions ...action) []byte {
	b := []byte{0}
	if cri {
		b[0] |= 1
	}
	if wideGlob {
		b[0] |= 2
	}
	for _, a := range actions {
		b = append(b, byte(a.op), a.arg)
	}
	return b
}

// inst is one instance of a line in a file: a complete line (required
// unless its bytes were lost legitimately) or a fragment the writer left
// unfinished (optional: the agent ships it only when it gives up on the
// file).
type inst struct {
	text     string
	stream   byte
	seq      int
	required bool
	fragment bool
	first    bool // it starts at offset 0 of its file
}

// mfile is the model of one file (one inode's content).
type mfile struct {
	name   string // current name; "" once unlinked
	ino    uint64
	size   int64
	lines  []*inst
	clean  []cleanEnd // offsets where no stream had a partial line pending
	seen   bool       // a live agent opened it: a checkpoint names it
	onDisk bool
	// unplaced: created beside as tmp-new, renamed to app.log after its
	// first write.
	unplaced bool
	// hasTail says the file ends in a line not finished (tail is where it
	// starts): the agent keeps it back while it reads the file.
	hasTail bool
	tail    int64
}

type cleanEnd struct {
	off   int64
	lines int
}

// pending is a line a stream's writer started and did not finish.
type pending struct {
	text    string
	written int // raw: bytes written; CRI: bytes carried by P lines
	start   int64
	f       *mfile
}

// world runs one scenario.
type world struct {
	t          testing.TB
	sc         scenario
	allowKnown bool // perform actions that hit known defects of issue 16
	dir, state string
	cfg        Config
	sink       *modelSink
	logs       *lockedBuffer

	files map[string]*mfile // by current name
	all   []*mfile
	insts []*inst
	pend  [2]*pending
	seq   int

	agent  *Agent
	store  *checkpoint.Store // the running agent's
	cancel context.CancelFunc
	done   chan error
	life   int
	ckpts  map[int]map[string]uint64 // per life: NextPackageID per source in the state it left
	hubUp  bool
	step   int // the action being done, for failure messages
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) > 16<<10 {
		s = "…" + s[len(s)-16<<10:]
	}
	return s
}

// runModel performs sc and checks the invariant; it fails t with the
// actions, the model and the agent's log when it does not hold.
func runModel(t testing.TB, sc scenario, allowKnown bool) {
	w := &world{
		t: t, sc: sc, allowKnown: allowKnown,
		dir: t.TempDir(), state: t.TempDir(),
		sink:  &modelSink{cri: sc.cri},
		logs:  &lockedBuffer{},
		files: map[string]*mfile{},
		ckpts: map[int]map[string]uint64{},
		hubUp: true,
	}
	glob := "*.log"
	if sc.wideGlob {
		glob = "app.log*"
	}
	w.cfg = Config{
		Paths: []string{filepath.Join(w.dir, glob)}, BatchBytes: 2 << 10, BatchWait: 5 * time.Millisecond,
		MaxLineBytes: 16 << 10, MaxBufferBytes: 4 << 20, ScanInterval: 10 * time.Millisecond,
		// Only kill -9 stops the agent in the model: no drain.
		DrainTimeout:    time.Millisecond,
		CheckpointEvery: 20 * time.Millisecond,
	}
	if sc.cri {
		// A long multiline timeout: a record waiting for its F line is
		// only finished early when the agent gives up on its file.
		spec, err := parse.Compile(parse.Config{Container: "cri", MaxLineBytes: w.cfg.MaxLineBytes, MultilineTimeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		w.cfg.Parse = spec
	}
	t.Cleanup(func() {
		if w.agent != nil {
			w.cancel()
			<-w.done
			w.store.Close()
		}
		if t.Failed() {
			t.Logf("scenario: cri=%v glob=%s actions=%v; failed at action %d", sc.cri, glob, sc.actions, w.step)
			t.Logf("agent log:\n%s", w.logs.String())
			t.Logf("acknowledged:\n%s", w.sink.dump())
		}
	})
	w.restart()
	w.settle()
	for i, a := range sc.actions {
		w.step = i
		fmt.Fprintf(w.logs, "---- action %d %v\n", i, a)
		w.do(a)
		w.settle()
	}
	w.step = len(sc.actions)
	// The end: the hub up and the agent running until every required line
	// arrived, then the checks over everything acknowledged.
	if !w.hubUp {
		w.do(action{op: opHubUp})
	}
	if w.agent == nil {
		w.do(action{op: opRestart})
	}
	w.settle()
	w.drained()
	w.kill()
	w.check()
}

func (w *world) fatalf(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf(format, args...)
}

func (w *world) path(name string) string { return filepath.Join(w.dir, name) }

func (w *world) do(a action) {
	switch a.op {
	case opWhole:
		w.appendWhole(a.arg)
	case opPartial:
		w.appendPartial(a.arg)
	case opRotate:
		w.rotate()
	case opCopytruncate:
		w.copytruncate()
	case opTruncate:
		w.truncate()
	case opDelete:
		if f := w.files["app.log"]; f != nil {
			w.abandonPending(f)
			if err := os.Remove(w.path("app.log")); err != nil {
				w.fatalf("delete: %v", err)
			}
			w.unlinked(f)
		}
	case opRecreate:
		w.recreate(a.arg)
	case opKill:
		if w.agent != nil {
			w.kill()
		}
	case opRestart:
		if w.agent == nil {
			w.restart()
		}
	case opHubDown:
		w.setHub(false)
	case opHubUp:
		w.setHub(true)
	}
}

func (w *world) setHub(up bool) {
	w.sink.mu.Lock()
	w.sink.down = !up
	w.sink.mu.Unlock()
	w.hubUp = up
}

// text makes a unique line: its first 8 bytes are its sequence number, so
// no two lines (and no two files' heads) start alike, unless copied.
func (w *world) text(padArg byte) string {
	w.seq++
	pad := 2 + int(padArg)%64
	return fmt.Sprintf("%08d %s", w.seq, strings.Repeat(string(rune('a'+w.seq%26)), pad))
}

// criTime is a distinct RFC 3339 nano time per physical line.
func (w *world) criTime() string {
	w.seq++
	return fmt.Sprintf("2026-12-01T10:00:00.%09dZ", w.seq)
}

var streamNames = [2]string{"stdout", "stderr"}

// current returns the file the writer appends to, creating it.
//
// An agent that opens a new file while it is still empty checkpoints it
// with an empty fingerprint; if the file is then deleted while the agent
// is down, that checkpoint takes any file of the folder for its copy and
// reads it again from the start under its own source id: lines acknowledged
// and checkpointed arrive twice (found by this model, not in issue 16).
// Unless the known defects are wanted, a new file is made beside and
// renamed into place after its first write, so the agent never sees it
// empty; with them, the writer waits until the agent opened the empty file.
func (w *world) current() (*mfile, *os.File) {
	f := w.files["app.log"]
	if f != nil {
		fd, err := os.OpenFile(w.path("app.log"), os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			w.fatalf("open app.log: %v", err)
		}
		return f, fd
	}
	name := "tmp-new"
	if w.allowKnown {
		name = "app.log"
	}
	fd, err := os.OpenFile(w.path(name), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.fatalf("create %s: %v", name, err)
	}
	info, err := source.StatFile(fd)
	if err != nil {
		w.fatalf("stat: %v", err)
	}
	f = &mfile{name: "app.log", ino: info.Inode, onDisk: true, unplaced: name != "app.log"}
	w.files["app.log"] = f
	w.all = append(w.all, f)
	if w.allowKnown && w.agent != nil {
		w.until("the agent opened the new, empty app.log", func() bool { return w.agentHolds(f) })
	}
	return f, fd
}

func (w *world) write(f *mfile, fd *os.File, b string) {
	if _, err := fd.WriteString(b); err != nil {
		w.fatalf("write: %v", err)
	}
	f.size += int64(len(b))
	if f.unplaced {
		if err := os.Rename(w.path("tmp-new"), w.path("app.log")); err != nil {
			w.fatalf("place the new app.log: %v", err)
		}
		f.unplaced = false
	}
}

func (w *world) addLine(f *mfile, text string, stream byte, start int64) {
	seq, _ := strconv.Atoi(text[:8])
	in := &inst{text: text, stream: stream, seq: seq, required: true, first: start == 0}
	f.lines = append(f.lines, in)
	w.insts = append(w.insts, in)
}

func (w *world) markClean(f *mfile) {
	for _, p := range w.pend {
		if p != nil && p.f == f {
			return
		}
	}
	f.clean = append(f.clean, cleanEnd{f.size, len(f.lines)})
}

// appendWhole writes 1–4 complete lines to one stream, the first finishing
// the stream's partial line if there is one.
func (w *world) appendWhole(arg byte) {
	stream := w.stream(arg)
	f, fd := w.current()
	defer fd.Close()
	for range 1 + int(arg>>1)%4 {
		w.finish(f, fd, stream, arg>>3)
	}
}

func (w *world) stream(arg byte) byte {
	if !w.sc.cri {
		return 0
	}
	s := arg & 1
	// CRI partial lines are joined across streams today (issue 16 item 1):
	// unless the known defects are wanted, the other stream's partial line
	// is finished before this stream writes.
	if o := 1 - s; !w.allowKnown && w.pend[o] != nil {
		f, fd := w.current()
		w.finish(f, fd, o, 0)
		fd.Close()
	}
	return s
}

// finish writes one complete line: the rest of the pending one, or a new
// one.
func (w *world) finish(f *mfile, fd *os.File, stream byte, padArg byte) {
	p := w.pend[stream]
	if p != nil && p.f != f {
		w.abandon(p)
		p = nil
	}
	w.pend[stream] = nil
	if p == nil {
		text := w.text(padArg)
		p = &pending{text: text, start: f.size, f: f}
	}
	if w.sc.cri {
		w.write(f, fd, fmt.Sprintf("%s %s F %s\n", w.criTime(), streamNames[stream], p.text[p.written:]))
	} else {
		w.write(f, fd, p.text[p.written:]+"\n")
	}
	w.addLine(f, p.text, stream, p.start)
	w.markClean(f)
	if n := len(f.clean); n > 0 && f.clean[n-1].off == f.size {
		f.hasTail = false
	}
}

// appendPartial writes part of a line: raw bytes without their newline, or
// a CRI P line. A line's first part holds at least its 8-byte number.
func (w *world) appendPartial(arg byte) {
	stream := w.stream(arg)
	f, fd := w.current()
	defer fd.Close()
	p := w.pend[stream]
	if p != nil && p.f != f {
		w.abandon(p)
		p = nil
	}
	if p == nil {
		text := w.text(arg >> 3)
		p = &pending{text: text, start: f.size, f: f}
		w.pend[stream] = p
		if !f.hasTail {
			f.hasTail, f.tail = true, f.size
		}
	}
	lo := max(p.written+1, 9)
	hi := len(p.text) - 1
	if lo > hi {
		return
	}
	cut := lo + int(arg>>1)%(hi-lo+1)
	if w.sc.cri {
		w.write(f, fd, fmt.Sprintf("%s %s P %s\n", w.criTime(), streamNames[stream], p.text[p.written:cut]))
	} else {
		w.write(f, fd, p.text[p.written:cut])
	}
	p.written = cut
}

// abandon gives up a partial line: its file is gone or no longer written.
// What was written of it may arrive as a record of its own, when the agent
// gives up on the file.
func (w *world) abandon(p *pending) {
	if p.written > 0 {
		w.insts = append(w.insts, &inst{text: p.text[:p.written], stream: w.streamOfPending(p), seq: atoi8(p.text), fragment: true})
	}
	for i := range w.pend {
		if w.pend[i] == p {
			w.pend[i] = nil
		}
	}
}

func (w *world) streamOfPending(p *pending) byte {
	if w.pend[1] == p {
		return 1
	}
	return 0
}

func atoi8(s string) int {
	n, _ := strconv.Atoi(s[:8])
	return n
}

func (w *world) abandonPending(f *mfile) {
	for _, p := range w.pend {
		if p != nil && p.f == f {
			w.abandon(p)
		}
	}
}

// agentHolds reports whether the running agent has the file open.
func (w *world) agentHolds(f *mfile) bool {
	if w.agent == nil {
		return false
	}
	w.agent.mu.Lock()
	defer w.agent.mu.Unlock()
	for k := range w.agent.live {
		if k.ino == f.ino {
			return true
		}
	}
	return false
}

// lose marks the lines of f that have not arrived as optional: their bytes
// are gone before the agent could ship them.
func (w *world) lose(lines []*inst) {
	got := w.sink.delivered()
	need := map[string]int{}
	for _, in := range w.insts {
		if in.required {
			need[key(in.stream, in.text)]++
		}
	}
	for _, in := range lines {
		if k := key(in.stream, in.text); in.required && got[k] < need[k] {
			in.required = false
			need[k]--
		}
	}
}

// unlinked records that f lost its last name. A live agent holding it open
// still reads it to its end; else what did not arrive is lost.
func (w *world) unlinked(f *mfile) {
	delete(w.files, f.name)
	f.name, f.onDisk = "", false
	if !w.agentHolds(f) {
		w.lose(f.lines)
	}
}

func (w *world) rotate() {
	f := w.files["app.log"]
	if f == nil {
		return
	}
	w.abandonPending(f)
	if old := w.files["app.log.1"]; old != nil {
		w.unlinked(old) // rename replaces it
	}
	if err := os.Rename(w.path("app.log"), w.path("app.log.1")); err != nil {
		w.fatalf("rotate: %v", err)
	}
	delete(w.files, "app.log")
	f.name = "app.log.1"
	w.files["app.log.1"] = f
}

// copytruncate does what logrotate does: the old copy is removed, the
// file copied to app.log.1 and truncated in place. With the wide glob
// (app.log*) the copy matches it, and the agent reads it as a new source:
// every line it holds arrives again, though acknowledged and checkpointed
// (found by this model, not in issue 16). Unless the known defects are
// wanted, the copy goes to a name the glob does not match.
func (w *world) copytruncate() {
	f := w.files["app.log"]
	if f == nil || w.racesReader(f) {
		return
	}
	name := "app.log.1"
	if w.sc.wideGlob && !w.allowKnown {
		name = "app-copy.1"
	}
	w.abandonPending(f)
	if old := w.files[name]; old != nil {
		if err := os.Remove(w.path(name)); err != nil {
			w.fatalf("copytruncate: %v", err)
		}
		w.unlinked(old)
	}
	b, err := os.ReadFile(w.path("app.log"))
	if err != nil {
		w.fatalf("copytruncate: %v", err)
	}
	if err := os.WriteFile(w.path(name), b, 0o644); err != nil {
		w.fatalf("copytruncate: %v", err)
	}
	info, err := source.StatPath(w.path(name))
	if err != nil {
		w.fatalf("copytruncate: %v", err)
	}
	noticed := w.truncationNoticed(f)
	if err := os.Truncate(w.path("app.log"), 0); err != nil {
		w.fatalf("copytruncate: %v", err)
	}
	noticed()
	cp := &mfile{name: name, ino: info.Inode, size: int64(len(b)), lines: f.lines, clean: f.clean, onDisk: true, hasTail: f.hasTail, tail: f.tail}
	w.files[name] = cp
	w.all = append(w.all, cp)
	f.lines, f.clean, f.size, f.hasTail = nil, nil, 0, false
}

// racesReader says whether truncating f now would race the running agent's
// reader: with the hub down the model cannot see how far the agent read,
// and a truncation it does not see before the writer goes on loses lines
// (see truncationNoticed). Unless the known defects are wanted, such
// truncations are left out.
func (w *world) racesReader(f *mfile) bool {
	if w.allowKnown || w.agent == nil || !w.agentHolds(f) {
		return false
	}
	if !w.hubUp {
		return true
	}
	// A partial line may not have been read yet: it is finished, and
	// the agent read it, before the truncation.
	for i, p := range w.pend {
		if p != nil && p.f == f {
			f, fd := w.current()
			w.finish(f, fd, byte(i), 0)
			fd.Close()
		}
	}
	w.settle()
	return false
}

// truncationNoticed returns a func to call after f was truncated: it waits
// until the running agent noticed the truncation. A running agent that
// reads a truncated file only after the writer wrote past its old offset
// reads on from that offset (it looks for a truncation only when a read
// finds nothing, and a file under 1 KiB gets its fingerprint re-taken over
// the new content): the lines before the offset are lost and the first
// record may start mid-line. Unless the known defects are wanted the
// writer waits for the agent, as a slower writer would.
func (w *world) truncationNoticed(f *mfile) func() {
	if w.allowKnown || w.agent == nil || f.size == 0 || !w.agentHolds(f) {
		return func() {}
	}
	a := w.agent
	before := a.stats.Truncations.Load()
	return func() {
		w.until("the agent noticed the truncation of "+f.name, func() bool { return a.stats.Truncations.Load() > before })
	}
}

// until polls cond every 5 ms and fails after 15 s.
func (w *world) until(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			w.fatalf("timed out after 5s waiting until %s", what)
		}
		<-tick.C
	}
}

// truncate empties app.log in place: what the agent has not read is gone.
func (w *world) truncate() {
	f := w.files["app.log"]
	if f == nil || w.racesReader(f) {
		return
	}
	w.abandonPending(f)
	noticed := w.truncationNoticed(f)
	if err := os.Truncate(w.path("app.log"), 0); err != nil {
		w.fatalf("truncate: %v", err)
	}
	noticed()
	w.lose(f.lines)
	f.lines, f.clean, f.size, f.hasTail = nil, nil, 0, false
}

// recreate replaces app.log by a file that starts with the same bytes (its
// complete lines, up to 1,100 bytes) and goes on with new lines past the
// old file's length. Without allowKnown the new file is written beside and
// renamed over the old one, so it cannot get the old inode; with it, arg
// chooses between delete-and-create (the inode may be reused) and a rewrite
// in place (same inode): both resume at the old offset today (issue 16
// item 5) when the agent does not see the change.
func (w *world) recreate(arg byte) {
	f := w.files["app.log"]
	// The old file's checkpoint outlives it while the agent is down (or
	// until the agent released it): it then takes the new file, with the
	// same head, for its copy once that file leaves the glob, and sends it
	// again (found by this model, not in issue 16). Unless the known
	// defects are wanted, the file is re-created only while the agent
	// runs and the hub is up (the old source is released only once its
	// end is acknowledged), and the writer waits until the old checkpoint
	// is gone.
	if f == nil || !w.allowKnown && (w.agent == nil || !w.hubUp) {
		return
	}
	head := -1
	for i, c := range f.clean {
		if c.off <= 1100 && c.lines > 0 {
			head = i
		}
	}
	if head < 0 {
		return // no complete line to start the new file with: nothing replaced
	}
	if !w.allowKnown {
		defer w.forgotten(f)
	}
	w.abandonPending(f)
	end := f.clean[head]
	b, err := os.ReadFile(w.path("app.log"))
	if err != nil || int64(len(b)) < end.off {
		w.fatalf("recreate: %v (%d bytes)", err, len(b))
	}
	oldSize, oldLines, oldClean := f.size, f.lines, f.clean
	nf := &mfile{name: "app.log", onDisk: true}
	var fd *os.File
	mode := "beside"
	if w.allowKnown {
		mode = [...]string{"beside", "unlink", "inplace"}[arg%3]
	}
	switch mode {
	case "beside":
		fd, err = os.OpenFile(w.path("tmp-app"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	case "unlink":
		if err = os.Remove(w.path("app.log")); err == nil {
			w.unlinked(f)
			fd, err = os.OpenFile(w.path("app.log"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
		}
	case "inplace":
		fd, err = os.OpenFile(w.path("app.log"), os.O_WRONLY|os.O_TRUNC, 0o644)
		if err == nil {
			w.lose(f.lines)
			nf = f
			nf.lines, nf.clean, nf.size, nf.hasTail = nil, nil, 0, false
		}
	}
	if err != nil {
		w.fatalf("recreate (%s): %v", mode, err)
	}
	w.write(nf, fd, string(b[:end.off]))
	nf.clean = append(nf.clean, oldClean[:head+1]...)
	for _, in := range oldLines[:end.lines] {
		cp := *in
		cp.required, cp.first = true, len(nf.lines) == 0
		nf.lines = append(nf.lines, &cp)
		w.insts = append(w.insts, &cp)
	}
	for nf.size <= oldSize+int64(arg>>2) {
		w.finish(nf, fd, 0, arg)
	}
	info, err := source.StatFile(fd)
	if err != nil {
		w.fatalf("recreate: %v", err)
	}
	fd.Close()
	nf.ino = info.Inode
	if mode == "beside" {
		if err := os.Rename(w.path("tmp-app"), w.path("app.log")); err != nil {
			w.fatalf("recreate: %v", err)
		}
		w.unlinked(f)
	}
	if nf != f {
		w.files["app.log"] = nf
		w.all = append(w.all, nf)
	}
}

// forgotten waits until no checkpoint of the running agent (in memory or
// on disk) names the replaced file f with a fingerprint the new app.log's
// head matches: the one that would take the new file for its copy.
func (w *world) forgotten(f *mfile) {
	a := w.agent
	fd, err := os.Open(w.path("app.log"))
	if err != nil {
		w.fatalf("open app.log: %v", err)
	}
	defer fd.Close()
	risky := func(id record.Identity) bool { return id.Inode == f.ino && source.SameContent(fd, id) }
	w.until("the agent forgot the replaced file's checkpoint", func() bool {
		a.ledger.mu.Lock()
		var ids []record.Identity
		for _, e := range a.ledger.entries {
			ids = append(ids, e.cp.Identity)
		}
		a.ledger.mu.Unlock()
		for _, cp := range checkpointtest.Load(w.t, w.state) {
			ids = append(ids, cp.Identity)
		}
		return !slices.ContainsFunc(ids, risky)
	})
}

// restart starts a new agent life over the state dir.
func (w *world) restart() {
	store, err := checkpoint.Open(w.state)
	if err != nil {
		w.fatalf("checkpoint store: %v", err)
	}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := New(w.cfg, w.sink, store, log)
	if err != nil {
		w.fatalf("new agent: %v", err)
	}
	// A file the agent never saw, under a name its glob does not match (a
	// copytruncate copy), is found only by a checkpoint whose fingerprint
	// its head matches; a checkpoint taken of an empty file names no
	// content.
	cps, err := store.Load()
	if err != nil {
		w.fatalf("checkpoints: %v", err)
	}
	for _, f := range w.all {
		if f.onDisk && !f.seen && !w.matches(f.name) && !w.findable(f, cps) {
			w.lose(f.lines)
		}
	}
	w.life++
	w.sink.mu.Lock()
	w.sink.dead, w.sink.life = false, w.life
	w.sink.mu.Unlock()
	fmt.Fprintf(w.logs, "---- life %d\n", w.life)
	ctx, cancel := context.WithCancel(context.Background())
	w.agent, w.store, w.cancel, w.done = a, store, cancel, make(chan error, 1)
	go func() { w.done <- a.Run(ctx) }()
}

func (w *world) findable(f *mfile, cps []checkpoint.Checkpoint) bool {
	fd, err := os.Open(w.path(f.name))
	if err != nil {
		w.fatalf("open %s: %v", f.name, err)
	}
	defer fd.Close()
	for _, cp := range cps {
		if cp.Identity.FingerprintLen > 0 && source.SameContent(fd, cp.Identity) {
			return true
		}
	}
	return false
}

func (w *world) matches(name string) bool {
	ok, _ := filepath.Match(filepath.Base(w.cfg.Paths[0]), name)
	return ok
}

// kill emulates kill -9 in this process. A killed process sends nothing
// more, writes no checkpoint and loses what it held in memory; its files on
// disk stay as they were at that instant. So: the sink stops acknowledging
// at the kill instant (nothing sent after it arrives), the checkpoint
// journal's folder is copied right then, and the agent is cancelled with a
// drain of 1 ms — whatever it still does (reading, retrying, its final
// checkpoint round) is thrown away by putting the copy back once Run
// returned. The copy is taken while the agent may still append: it may end
// in a frame written only in part, the torn tail a kill in the middle of a
// write leaves (a snapshot replaces the journal by a rename, so the copy
// has the old one or the new one); those appends only carry
// acknowledgements from before the kill instant, so the copy is a state a
// process killed a moment later could have left.
func (w *world) kill() {
	w.sink.mu.Lock()
	w.sink.dead = true
	w.sink.mu.Unlock()
	jdir := w.store.Dir()
	snap := snapshot(w.t, jdir)
	w.cancel()
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		w.fatalf("killed agent did not stop within 5s")
	}
	w.agent = nil
	w.store.Close()
	if err := os.RemoveAll(jdir); err != nil {
		w.fatalf("restore state: %v", err)
	}
	if err := os.MkdirAll(jdir, 0o750); err != nil {
		w.fatalf("restore state: %v", err)
	}
	for name, b := range snap {
		if err := os.WriteFile(filepath.Join(jdir, name), b, 0o640); err != nil {
			w.fatalf("restore state: %v", err)
		}
	}
	store, err := checkpoint.Open(w.state)
	if err != nil {
		w.fatalf("checkpoint store: %v", err)
	}
	cps, err := store.Load()
	if err != nil {
		w.fatalf("the state a kill left does not load: %v", err)
	}
	next := map[string]uint64{}
	for _, cp := range cps {
		next[cp.SourceID] = cp.NextPackageID
	}
	w.ckpts[w.life] = next
	// The process held unlinked files open: now they are gone.
	for _, f := range w.all {
		if !f.onDisk {
			w.lose(f.lines)
		}
	}
	// The writers' partial lines go on: the agent resumes before them.
}

func snapshot(t testing.TB, dir string) map[string][]byte {
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // removed meanwhile (a temp file renamed, a checkpoint forgotten)
		}
		out[e.Name()] = b
	}
	return out
}

// settle waits until the agent has opened every file its glob matches and,
// with the hub up, until every required line arrived.
func (w *world) settle() {
	if w.agent == nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		why := w.unsettled()
		if why == "" {
			return
		}
		select {
		case err := <-w.done:
			w.done <- err
			w.fatalf("agent stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			w.fatalf("not settled after 5s: %s", why)
		}
		<-tick.C
	}
}

func (w *world) unsettled() string {
	if !w.agent.Ready() {
		return "agent not ready"
	}
	for _, f := range w.all {
		if !f.onDisk {
			continue
		}
		if w.agentHolds(f) {
			f.seen = true
		} else if w.matches(f.name) {
			return "agent has not opened " + f.name
		}
	}
	if !w.hubUp {
		return ""
	}
	if missing := w.missing(); len(missing) > 0 {
		return fmt.Sprintf("%d required lines not delivered, first %q", len(missing), missing[0])
	}
	return ""
}

// drained waits, before the final checks, until the agent acknowledged
// every file it reads to its end (or to the unfinished line it ends in):
// the checks then see every duplicate the agent would send, not only
// those that were quick.
func (w *world) drained() {
	a := w.agent
	w.until("the agent read and delivered every file to its end", func() bool {
		a.mu.Lock()
		live := maps.Clone(a.live)
		a.mu.Unlock()
		for k, f := range live {
			off, ok := a.ledger.acked(f.Origin().SourceID)
			if !ok {
				return false
			}
			var mf *mfile
			for _, m := range w.all {
				if m.ino == k.ino && (mf == nil || m.onDisk) {
					mf = m
				}
			}
			if mf == nil {
				continue // not one of the model's files
			}
			// A truncated file keeps the offset last acknowledged
			// until a line of its new content comes.
			if off != mf.size && (!mf.hasTail || off != mf.tail) && len(mf.lines) > 0 {
				return false
			}
		}
		return true
	})
}

// missing lists the required lines that have not arrived (as often as they
// were written).
func (w *world) missing() []string {
	got := w.sink.delivered()
	var out []string
	for _, in := range w.insts {
		if !in.required {
			continue
		}
		k := key(in.stream, in.text)
		if got[k] > 0 {
			got[k]--
			continue
		}
		out = append(out, fmt.Sprintf("%s:%s", streamNames[in.stream], in.text))
	}
	return out
}

// check verifies the invariant over everything acknowledged.
func (w *world) check() {
	w.sink.mu.Lock()
	acked := slices.Clone(w.sink.acked)
	w.sink.mu.Unlock()
	written := map[string]*inst{} // any instance, to tell text from garbage
	instances := map[string]int{}
	for _, in := range w.insts {
		k := key(in.stream, in.text)
		instances[k]++
		if written[k] == nil || in.first {
			written[k] = in
		}
	}
	type src struct {
		life   int
		source string
	}
	lastID := map[src]uint64{}
	started := map[src]bool{}
	lastSeq := map[src][2]int{}
	budget := map[string]int{} // copies a replay may still bring
	earned := map[string]int{} // replayable copies of the current life
	life := 0
	delivered := map[string]int{}
	for _, a := range acked {
		s := src{a.life, a.source}
		if len(a.recs) > 0 {
			if !started[s] {
				started[s] = true
				want, ok := w.ckpts[a.life-1][a.source]
				if !ok {
					want = 0
				}
				if a.id != want {
					w.fatalf("life %d: source %s starts at package %d, but the state the last life left says %d (checkpoint found: %v)", a.life, a.source, a.id, want, ok)
				}
			} else if a.id != lastID[s]+1 {
				w.fatalf("life %d: source %s sent package %d after %d", a.life, a.source, a.id, lastID[s])
			}
			lastID[s] = a.id
		}
		if a.life != life {
			// Records acknowledged but not checkpointed in earlier lives
			// may come again from now on.
			for k, n := range earned {
				budget[k] += n
			}
			clear(earned)
			life = a.life
		}
		next, ok := w.ckpts[a.life][a.source]
		replayable := !ok || a.id >= next
		seqs := lastSeq[s]
		for _, r := range a.recs {
			k := key(r.stream, r.body)
			in := written[k]
			if in == nil || r.stream > 1 {
				w.fatalf("life %d: source %s package %d holds a record nobody wrote: stream %d %q", a.life, a.source, a.id, r.stream, r.body)
			}
			if delivered[k]++; delivered[k] > instances[k] {
				if budget[k] == 0 {
					w.fatalf("life %d: source %s package %d: %s line %q arrived %d times, written %d times, and no earlier life had it in a package acknowledged but not checkpointed before its kill",
						a.life, a.source, a.id, streamNames[r.stream], r.body, delivered[k], instances[k])
				}
				budget[k]--
			}
			if replayable {
				earned[k]++
			}
			if in.seq <= seqs[r.stream] && !in.first {
				w.fatalf("life %d: source %s: %s line %q arrived after line %d", a.life, a.source, streamNames[r.stream], r.body, seqs[r.stream])
			}
			seqs[r.stream] = in.seq
		}
		lastSeq[s] = seqs
	}
	if missing := w.missing(); len(missing) > 0 {
		w.fatalf("%d required lines never arrived: %q", len(missing), missing)
	}
}

// modelSeeds are the seed corpus: together they cover every action, both
// formats and both globs, and run in a few seconds.
func modelSeeds() map[string][]byte {
	W := func(arg byte) action { return action{opWhole, arg} }
	P := func(arg byte) action { return action{opPartial, arg} }
	A := func(o op) action { return action{o, 0} }
	return map[string][]byte{
		"raw rotations": encodeScenario(false, false,
			W(7), P(9), W(2), A(opRotate), W(3), A(opCopytruncate), W(5), A(opTruncate), W(1)),
		"raw kill and restart across changes": encodeScenario(false, false,
			W(7), A(opKill), W(5), A(opRotate), W(3), A(opRestart), W(1), A(opKill), A(opCopytruncate), W(6), A(opRestart)),
		"raw hub down": encodeScenario(false, true,
			W(6), A(opHubDown), W(4), P(3), A(opRotate), W(2), A(opDelete), W(5), A(opHubUp), W(1)),
		"raw hub down then kill": encodeScenario(false, false,
			W(6), A(opHubDown), W(4), A(opKill), W(2), A(opRestart), A(opHubUp), W(3)),
		"raw recreate": encodeScenario(false, false,
			W(255), W(200), A(opRecreate), W(1), A(opKill), W(3), A(opRecreate), A(opRestart), W(2)),
		"cri streams": encodeScenario(true, false,
			W(7), P(8), W(0), P(17), W(1), W(9), A(opRotate), P(1), W(1), A(opKill), W(2), A(opRestart), W(3)),
		"cri hub down and copytruncate": encodeScenario(true, true,
			W(7), A(opHubDown), P(8), W(0), A(opCopytruncate), W(5), A(opHubUp), A(opDelete), W(2)),
	}
}

func FuzzModel(f *testing.F) {
	seeds := modelSeeds()
	for _, name := range slices.Sorted(maps.Keys(seeds)) {
		f.Add(seeds[name])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runModel(t, decodeScenario(data), false)
	})
}

// TestModelKnownDefects holds the scenarios the model failed, each with
// the defect it showed; they run with the known-defect actions allowed
// (runModel's allowKnown), which FuzzModel steers around so that it keeps
// finding new things. Each is skipped, saying what it shows: the first
// three are fixed in the agent but ask what this model cannot yet tell
// apart; the others wait for their fixes.
func TestModelKnownDefects(t *testing.T) {
	W := func(arg byte) action { return action{opWhole, arg} }
	P := func(arg byte) action { return action{opPartial, arg} }
	A := func(o op, arg byte) action { return action{o, arg} }
	// Seven times four 44-byte lines: a file over 1,100 bytes, so a head
	// copied from it is shorter than what was read.
	long := []action{W(255), W(255), W(255), W(255), W(255), W(255), W(255)}
	tests := []struct {
		name  string
		known string
		input []byte
	}{{
		name:  "cri partial stdout line with a stderr line between its parts",
		known: "model disagrees with the design: issue 16 item 1 is fixed (TestStreamsJoinedApart), but a finished stderr record now waits behind the stdout record that began before it until that one ends or the multiline timeout passes, which this model sets to an hour; the model wants the stderr line while the stdout partial is pending",
		input: encodeScenario(true, false, P(0), W(1), W(0)),
	}, {
		name:  "rewritten in place with the same head while the agent is down",
		known: "model artefact: issue 16 item 5 is fixed (TestRewrittenInPlaceWhileDown), but here the kill leaves the checkpoint at offset 860, inside the 1,100 bytes the re-created file copies: the bytes before the offset are the same, so resuming there is right, and the model counts the identical lines written again as new ones",
		input: encodeScenario(false, false, append(slices.Clone(long), A(opKill, 0), A(opRecreate, 2), A(opRestart, 0))...),
	}, {
		name:  "deleted and re-created with the same head while the agent is down",
		known: "model artefact: issue 16 item 5 is fixed (TestInodeReusedWhileDown); as the row above, the checkpoint lies inside the copied head",
		input: encodeScenario(false, false, append(slices.Clone(long), A(opKill, 0), A(opRecreate, 1), A(opRestart, 0))...),
	}, {
		name:  "rewritten in place with the same head while the agent runs",
		known: "known defect: issue 16 item 5, found by FuzzModel for a running agent (the same head and a longer file hide the rewrite: read on from the old offset, the new lines before it are lost). A check of the bytes read before each read fixed these three rows but lost lines in TestCrashLosesNothing under load (copytruncate and kill -9), so it was taken out",
		input: encodeScenario(false, false, append(slices.Clone(long), A(opRecreate, 2))...),
	}, {
		name:  "copytruncate while the agent runs, new lines past the old offset before it looks",
		known: "defect found by FuzzModel, not in issue 16 (read on from the old offset of the truncated file: the new lines before it are lost; under 1 KiB the fingerprint is re-taken over the new content, so the truncation is never seen)",
		input: encodeScenario(false, false, W(2), A(opCopytruncate, 0), W(5)),
	}, {
		name:  "truncate while the agent runs, new lines past the old offset before it looks",
		known: "defect found by FuzzModel, not in issue 16 (as copytruncate: the new lines before the old offset are lost)",
		input: encodeScenario(false, false, W(2), A(opTruncate, 0), W(5)),
	}, {
		name:  "copytruncate with a glob that matches the copy",
		known: "defect found by FuzzModel, not in issue 16 (the copy app.log.1 matches app.log* and is read from its start as a new source: every line in it arrives twice though checkpointed)",
		input: encodeScenario(false, true, W(7), A(opCopytruncate, 0), W(1)),
	}, {
		name:  "re-created with the same head, killed, rotated while down",
		known: "defect found by FuzzModel, not in issue 16 (the old file's checkpoint takes the new file, rotated out of the glob, for its copy because the heads match, and sends it again from its offset under the old source: lines acknowledged and checkpointed by the new file's source arrive twice)",
		input: encodeScenario(false, false, W(0), A(opRecreate, 0), A(opKill, 0), A(opRotate, 0), A(opRestart, 0)),
	}, {
		name:  "a file checkpointed while empty, deleted while the agent is down",
		known: "defect found by FuzzModel, not in issue 16 (the checkpoint's empty fingerprint matches any file: the sweep takes the rotated app.log.1, acknowledged and checkpointed under its own source, for its copy and sends it again from the start)",
		input: encodeScenario(false, false, W(0), A(opRotate, 0), P(0), A(opDelete, 0), A(opKill, 0), A(opRestart, 0)),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.known != "" {
				t.Skip(tt.known)
			}
			runModel(t, decodeScenario(tt.input), true)
		})
	}
}
