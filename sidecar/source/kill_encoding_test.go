package source_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/internal/utf16test"
	"github.com/loglet/loglet/sidecar/checkpoint"
	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/source"
)

// The child reads a log file from its checkpoint, writes each package's
// records to an output file and then saves the checkpoint (the order an
// acknowledging hub gives), and reports on stdout how far it read and
// what it checkpointed, until it is killed.
const (
	killChildEnv = "LOGLET_SOURCE_KILL_CHILD" // log path|out path|state dir|encoding
)

type outLine struct {
	Pkg  uint64 `json:"pkg"`
	Body string `json:"body"`
}

func readUntilKilled(args string) {
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(2)
	}
	a := strings.Split(args, "|")
	path, outPath, state, enc := a[0], a[1], a[2], a[3]
	spec, err := parse.Compile(parse.Config{Encoding: enc, MaxLineBytes: 1 << 10})
	if err != nil {
		fail(err)
	}
	store, err := checkpoint.Open(state)
	if err != nil {
		fail(err)
	}
	cps, err := store.Load()
	if err != nil {
		fail(err)
	}
	f, err := os.Open(path)
	if err != nil {
		fail(err)
	}
	id, _, err := source.Identify(f)
	if err != nil {
		fail(err)
	}
	st := source.State{Identity: id}
	if len(cps) > 0 {
		st.Offset, st.NextPackageID = cps[0].Offset, cps[0].NextPackageID
	}
	out, err := os.OpenFile(outPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fail(err)
	}
	fmt.Println("start", st.Offset)
	emit := func(_ context.Context, p *record.Package) error {
		if len(p.Records) == 0 {
			return nil
		}
		var b []byte
		for i := range p.Records {
			line, _ := json.Marshal(outLine{Pkg: p.ID, Body: string(p.Body(i))})
			b = append(append(b, line...), '\n')
		}
		if _, err := out.Write(b); err != nil {
			return err
		}
		if err := out.Sync(); err != nil {
			return err
		}
		if err := store.Save(checkpoint.Checkpoint{SourceID: "s", Path: path, Identity: p.Identity, Offset: p.EndOffset, NextPackageID: p.ID + 1}); err != nil {
			return err
		}
		fmt.Println("checkpoint", p.EndOffset)
		return nil
	}
	cfg := source.Config{BatchBytes: 1 << 16, BatchWait: time.Millisecond, MaxLineBytes: 1 << 10, Poll: 2 * time.Millisecond, Parse: spec}
	stats := &source.Stats{}
	file := source.NewFile(cfg, f, path, record.NewOrigin("s", path, nil), st, emit,
		record.NewPool(source.InitialBufferBytes, source.BufferBytes(cfg.BatchBytes, cfg.MaxLineBytes, false)), stats)
	go func() {
		last := int64(-1)
		for range time.Tick(2 * time.Millisecond) {
			if n := stats.Bytes.Load(); n != last {
				last = n
				fmt.Println("read", st.Offset+n)
			}
		}
	}()
	if err := file.Run(context.Background(), context.Background()); err != nil {
		fail(err)
	}
}

// child is one running reader and what it reported.
type child struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	// read is how far into the file it read; checkpointed, the offset of
	// its last checkpoint; err, an error it reported.
	read, checkpointed int64
	err                string
}

func (c *child) state() (read, checkpointed int64, err string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read, c.checkpointed, c.err
}

func startChild(t *testing.T, args string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillAtEveryByte$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+args)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, read: -1, checkpointed: -1}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			word, rest, _ := strings.Cut(sc.Text(), " ")
			n, _ := strconv.ParseInt(rest, 10, 64)
			c.mu.Lock()
			switch word {
			case "start":
				c.checkpointed = n
			case "read":
				c.read = n
			case "checkpoint":
				c.checkpointed = n
			default:
				c.err = sc.Text()
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// TestKillAtEveryByte: a file is written one byte at a time; after each
// byte a real reader process starts from the real checkpoint, reads to the
// end (a read that ends inside a multi-byte character or a UTF-16
// surrogate pair holds half of it), checkpoints the complete lines, and is
// killed with SIGKILL. Every record comes out exactly once, decoded whole:
// the checkpoint is a file-byte offset at a line's end, never inside a
// character.
func TestKillAtEveryByte(t *testing.T) {
	if args := os.Getenv(killChildEnv); args != "" {
		readUntilKilled(args)
		return
	}
	if testing.Short() {
		t.Skip("process test with kill -9")
	}
	unicode := []string{"a😀é", "Ċ你好", "z"}
	tests := []struct {
		enc    string
		bom    string
		encode func(string) string
		lines  []string
	}{
		{"utf-16le", "\xff\xfe", utf16le, unicode},
		{"utf-16be", "\xfe\xff", utf16be, unicode},
		{"utf-16", "", utf16le, unicode},
		{"gbk", "", gbk, []string{"a谢é", "谢你好", "z"}},
		{"utf-8", "\xef\xbb\xbf", func(s string) string { return s }, unicode},
	}
	for _, tt := range tests {
		lines := tt.lines
		t.Run(tt.enc, func(t *testing.T) {
			dir := t.TempDir()
			path, outPath, state := filepath.Join(dir, "app.log"), filepath.Join(dir, "out.ndjson"), filepath.Join(dir, "state")
			// The file's bytes, and the offset just past each line.
			content, ends := tt.bom, []int{}
			for _, l := range lines {
				content += tt.encode(l + "\n")
				ends = append(ends, len(content))
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			args := strings.Join([]string{path, outPath, state, tt.enc}, "|")
			for k := 1; k <= len(content); k++ {
				if _, err := f.Write([]byte{content[k-1]}); err != nil {
					t.Fatal(err)
				}
				lineEnd := int64(0)
				for _, e := range ends {
					if e <= k {
						lineEnd = int64(e)
					}
				}
				c := startChild(t, args)
				poll.Until(t, 10*time.Second, fmt.Sprintf("a reader at byte %d of %d (complete lines to %d)", k, len(content), lineEnd), func() bool {
					read, cp, msg := c.state()
					if msg != "" {
						t.Fatalf("child: %s", msg)
					}
					return read == int64(k) && cp == lineEnd
				})
				if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				c.cmd.Wait()
			}
			data, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			seen := map[uint64]bool{}
			last := uint64(0)
			for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				var o outLine
				if err := json.Unmarshal([]byte(l), &o); err != nil {
					t.Fatal(err)
				}
				if seen[o.Pkg] && o.Pkg != last {
					t.Errorf("package %d sent again after a restart", o.Pkg)
				}
				seen[o.Pkg], last = true, o.Pkg
				got = append(got, o.Body)
			}
			if strings.Join(got, "|") != strings.Join(lines, "|") {
				t.Errorf("records %q, want each of %q once", got, lines)
			}
		})
	}
}

// utf16le and utf16be write s as UTF-16 with the standard library (not
// the decoder under test).
func utf16le(s string) string { return utf16test.LE(s) }
func utf16be(s string) string { return utf16test.BE(s) }

// gbk writes the few characters the test uses in GBK (from the GBK
// table, not with the decoder under test).
func gbk(s string) string {
	table := map[rune]string{'你': "\xc4\xe3", '好': "\xba\xc3", '谢': "\xd0\xbb", 'é': "\xa8\xa6"}
	var b strings.Builder
	for _, r := range s {
		if g, ok := table[r]; ok {
			b.WriteString(g)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}
