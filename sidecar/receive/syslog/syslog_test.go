package syslog_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/receive"
	"github.com/loglet/loglet/sidecar/receive/syslog"
	"github.com/loglet/loglet/sidecar/record"
)

// bodies reads back what the inbox holds, in order.
func bodies(t *testing.T, in *inbox.Inbox) []string {
	t.Helper()
	files, _ := filepath.Glob(in.Glob())
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if line == "" {
				continue
			}
			var l struct{ B string }
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("inbox line %q: %v", line, err)
			}
			out = append(out, l.B)
		}
	}
	return out
}

func serveTCP(t *testing.T, opt syslog.Options) (addr string, in *inbox.Inbox) {
	t.Helper()
	in, err := inbox.Open(t.TempDir(), inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if opt.Appender == nil {
		opt.Appender = in
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := syslog.ServeStream(ctx, ln, opt); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ln.Addr().String(), in
}

func waitBodies(t *testing.T, in *inbox.Inbox, n int) []string {
	t.Helper()
	var got []string
	poll.Until(t, 10*time.Second, "the messages in the inbox", func() bool { got = bodies(t, in); return len(got) >= n })
	return got
}

// TestStreamFraming: newline and octet-counted frames (RFC 6587) in one
// connection, split anywhere across writes, come out as the messages sent.
func TestStreamFraming(t *testing.T) {
	tests := []struct {
		name string
		sent string
		want []string
	}{
		{"newline", "<13>one\n<13>two\r\n\n", []string{"<13>one", "<13>two"}},
		{"octet counting with a newline inside", "15 <13>line1\nline2", []string{"<13>line1\nline2"}},
		{"mixed", "7 <13>abc<13>def\n5 <13>g", []string{"<13>abc", "<13>def", "<13>g"}},
		{"octet counted then newline", "7 <13>abc\n<13>x\n", []string{"<13>abc", "<13>x"}},
		{"digits that are not a count", "2026 was a year\n", []string{"2026 was a year"}},
		{"last message without its newline", "<13>end", []string{"<13>end"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, in := serveTCP(t, syslog.Options{})
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			// A byte at a time: frames never arrive whole.
			for i := range len(tt.sent) {
				if _, err := c.Write([]byte{tt.sent[i]}); err != nil {
					t.Fatal(err)
				}
			}
			c.Close()
			if got := waitBodies(t, in, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLongMessageInParts: a message beyond the limit arrives in parts,
// nothing lost.
func TestLongMessageInParts(t *testing.T) {
	addr, in := serveTCP(t, syslog.Options{MaxMessageBytes: 10})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("abcdefghijklmnopqrstuvwxy\n25 <ABCDEFGHIJKLMNOPQRSTUVWX"))
	c.Close()
	got := waitBodies(t, in, 6)
	if strings.Join(got, "") != "abcdefghijklmnopqrstuvwxy<ABCDEFGHIJKLMNOPQRSTUVWX" {
		t.Errorf("parts %q do not add up to the messages", got)
	}
}

// fullOnce is an inbox that is full for the first n appends.
type fullOnce struct {
	receive.Appender
	mu sync.Mutex
	n  int
}

func (f *fullOnce) Append(res []record.KeyValue, recs []inbox.Record) error {
	f.mu.Lock()
	full := f.n > 0
	f.n--
	f.mu.Unlock()
	if full {
		return inbox.ErrFull
	}
	return f.Appender.Append(res, recs)
}

// TestFullInboxHoldsTheSenderBack: while the inbox is full the connection
// is not read; nothing is dropped.
func TestFullInboxHoldsTheSenderBack(t *testing.T) {
	in, err := inbox.Open(t.TempDir(), inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stats := &receive.Stats{}
	addr, _ := serveTCP(t, syslog.Options{Appender: &fullOnce{Appender: in, n: 5}, Stats: stats})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("<13>a\n<13>b\n"))
	c.Close()
	if got := waitBodies(t, in, 2); !slices.Equal(got, []string{"<13>a", "<13>b"}) {
		t.Errorf("got %q", got)
	}
	if stats.Refused.Load() != 5 || stats.Dropped.Load() != 0 {
		t.Errorf("refused %d, dropped %d; want 5 and 0", stats.Refused.Load(), stats.Dropped.Load())
	}
}

// TestLogger: util-linux logger, over TCP (RFC 5424, octet counting too)
// and UDP (RFC 3164), and to a Unix socket.
func TestLogger(t *testing.T) {
	if _, err := exec.LookPath("logger"); err != nil {
		t.Fatal("logger (util-linux) is needed: apt-get install bsdutils")
	}
	addr, in := serveTCP(t, syslog.Options{})
	host, port, _ := net.SplitHostPort(addr)

	uin, err := inbox.Open(t.TempDir(), inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "log.sock")
	ux, err := net.ListenPacket("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, c := range []net.PacketConn{pc, ux} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := syslog.ServePacket(ctx, c, syslog.Options{Appender: uin}); err != nil {
				t.Error(err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	_, uport, _ := net.SplitHostPort(pc.LocalAddr().String())

	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("logger", args...).CombinedOutput(); err != nil {
			t.Fatalf("logger %v: %v\n%s", args, err, out)
		}
	}
	run("-n", host, "-P", port, "-T", "--rfc5424", "--msgid", "ID47", "--sd-id", "x@1", "--sd-param", `a="b"`, "-t", "shop", "-p", "local4.err", "tcp 5424")
	run("-n", host, "-P", port, "-T", "--octet-count", "-t", "shop", "octet\ncounted")
	got := waitBodies(t, in, 2)
	if !strings.HasPrefix(got[0], "<163>1 ") || !strings.Contains(got[0], " shop ") || !strings.Contains(got[0], `[x@1 a="b"]`) || !strings.HasSuffix(got[0], " tcp 5424") {
		t.Errorf("RFC 5424 over TCP came as %q", got[0])
	}
	if !strings.HasSuffix(got[1], "octet\ncounted") {
		t.Errorf("octet-counted message came as %q", got[1])
	}
	run("-n", host, "-P", uport, "-d", "--rfc3164", "-t", "cron", "udp 3164")
	run("-u", sock, "-t", "local", "unix socket")
	got = waitBodies(t, uin, 2)
	slices.Sort(got)
	if !strings.HasPrefix(got[0], "<13>") || !strings.HasSuffix(got[0], "cron: udp 3164") && !strings.HasSuffix(got[1], "cron: udp 3164") {
		t.Errorf("RFC 3164 over UDP and the unix socket came as %q", got)
	}
	if !slices.ContainsFunc(got, func(s string) bool { return strings.HasSuffix(s, "local: unix socket") }) {
		t.Errorf("the unix socket message is not among %q", got)
	}
}

// TestLoneFrameIsNotHeldBack: a sender that sends one short frame and
// keeps its connection open gets it stored without sending more.
func TestLoneFrameIsNotHeldBack(t *testing.T) {
	for _, sent := range []string{"7 <13>abc", "<13>abc\n"} {
		addr, in := serveTCP(t, syslog.Options{})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte(sent))
		if got := waitBodies(t, in, 1); got[0] != "<13>abc" {
			t.Errorf("%q came as %q", sent, got)
		}
	}
}

// TestManyMessages: a sender that writes 20,000 octet-counted messages as
// fast as it can and closes gets every one stored, each whole. (A count
// whose bytes the reader's buffer moved while it peeked for the PRI was
// read from the old bytes: 4,161 messages in, at the first 1 MiB, frames
// ran together.)
func TestManyMessages(t *testing.T) {
	addr, in := serveTCP(t, syslog.Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// Written as a buffered client does: 64 KiB at a time, frames cut
	// anywhere.
	w := bufio.NewWriterSize(c, 64<<10)
	const n = 20000
	for i := range n {
		line := fmt.Sprintf("<14>1 2026-12-01T10:00:00.000Z web01 app 42 - - seq=%05d %s", i, strings.Repeat("x", 190))
		fmt.Fprintf(w, "%d %s", len(line), line)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	got := waitBodies(t, in, n)
	for i, b := range got {
		if want := fmt.Sprintf("seq=%05d ", i); !strings.HasPrefix(b, "<14>1 ") || !strings.Contains(b, want) {
			t.Fatalf("message %d of %d is %.80q, want one with %s", i, len(got), b, want)
		}
	}
	if len(got) != n {
		t.Errorf("%d messages stored, want %d", len(got), n)
	}
}
