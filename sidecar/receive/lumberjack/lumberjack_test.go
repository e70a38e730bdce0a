package lumberjack_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	lj "github.com/elastic/go-lumber/client/v2"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/internal/testpki"
	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/receive"
	"github.com/loglet/loglet/sidecar/receive/lumberjack"
	"github.com/loglet/loglet/sidecar/record"
)

type line struct {
	T int64
	B string
	A map[string]any
}

func lines(t *testing.T, in *inbox.Inbox) []line {
	t.Helper()
	files, _ := filepath.Glob(in.Glob())
	var out []line
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		for d.More() {
			var l line
			if err := d.Decode(&l); err != nil {
				t.Fatal(err)
			}
			out = append(out, l)
		}
	}
	return out
}

func serve(t *testing.T, app receive.Appender, opt lumberjack.Options) (string, *receive.Stats) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opt.Appender, opt.Stats = app, &receive.Stats{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := lumberjack.Serve(ctx, ln, opt); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ln.Addr().String(), opt.Stats
}

// message is event i's: with characters JSON escapes for odd i, plain
// text (which the decoder takes without a copy of its own) for even i.
func message(i int) string {
	if i%2 == 1 {
		return fmt.Sprintf("line %d \"quoted\" é", i)
	}
	return fmt.Sprintf("line %d plain", i)
}

// filebeatEvent is an event as Filebeat's logstash output sends it.
func filebeatEvent(i int) map[string]any {
	return map[string]any{
		"@timestamp": "2026-12-01T10:00:01.123Z",
		"@metadata":  map[string]any{"beat": "filebeat", "type": "_doc", "version": "9.1.0"},
		"message":    message(i),
		"host":       map[string]any{"name": "vm-7"},
		"log":        map[string]any{"file": map[string]any{"path": "/var/log/app.log"}, "offset": i * 20},
		"input":      map[string]any{"type": "filestream"},
		"tags":       []string{"a", "b"},
	}
}

// TestGoLumberClient: windows from go-lumber's client, plain and
// compressed, are acknowledged once in the inbox, with Filebeat's fields.
func TestGoLumberClient(t *testing.T) {
	for _, level := range []int{0, 3} {
		t.Run(fmt.Sprintf("compression=%d", level), func(t *testing.T) {
			in, err := inbox.Open(t.TempDir(), inbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			addr, stats := serve(t, in, lumberjack.Options{})
			c, err := lj.SyncDial(addr, lj.CompressionLevel(level), lj.Timeout(10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for w := range 3 {
				var window []any
				for i := range 100 {
					window = append(window, filebeatEvent(w*100+i))
				}
				n, err := c.Send(window)
				if err != nil || n != 100 {
					t.Fatalf("window %d: acknowledged %d, %v; want 100", w, n, err)
				}
			}
			got := lines(t, in)
			if len(got) != 300 || stats.Records.Load() != 300 {
				t.Fatalf("%d records in the inbox (%d counted), want 300", len(got), stats.Records.Load())
			}
			for i, l := range got {
				if want := message(i); l.B != want {
					t.Fatalf("record %d has body %q, want %q", i, l.B, want)
				}
			}
			l := got[299]
			want := map[string]any{"host.name": "vm-7", "log.file.path": "/var/log/app.log", "log.offset": 5980.0, "input.type": "filestream", "tags": []any{"a", "b"}}
			if l.B != message(299) || l.T != time.Date(2026, 12, 1, 10, 0, 1, 123e6, time.UTC).UnixNano() || fmt.Sprint(l.A) != fmt.Sprint(want) {
				t.Errorf("record %+v, want body, time and attributes %v", l, want)
			}
		})
	}
}

// stalled is an inbox that is full until released.
type stalled struct {
	receive.Appender
	mu   sync.Mutex
	full bool
}

func (s *stalled) Append(res []record.KeyValue, recs []inbox.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return inbox.ErrFull
	}
	return s.Appender.Append(res, recs)
}

// TestNoAckBeforeDurable: while the inbox is full, the window is not
// acknowledged; it is once the inbox takes it.
func TestNoAckBeforeDurable(t *testing.T) {
	in, err := inbox.Open(t.TempDir(), inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := &stalled{Appender: in, full: true}
	addr, stats := serve(t, st, lumberjack.Options{})
	c, err := lj.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send([]any{filebeatEvent(1)}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the window offered to the full inbox thrice", func() bool { return stats.Refused.Load() >= 3 })
	if n := len(lines(t, in)); n != 0 {
		t.Fatalf("%d records in a full inbox", n)
	}
	st.mu.Lock()
	st.full = false
	st.mu.Unlock()
	seq, err := c.AwaitACK(1)
	if err != nil || seq != 1 {
		t.Fatalf("ack %d, %v; want 1", seq, err)
	}
	if n := len(lines(t, in)); n != 1 {
		t.Errorf("%d records once acknowledged, want 1", n)
	}
}

// TestHostileSenders: sizes a sender states are checked before anything is
// allocated, a zlib bomb is not unpacked beyond the window limit, and the
// agent goes on serving others.
func TestHostileSenders(t *testing.T) {
	in, err := inbox.Open(t.TempDir(), inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr, stats := serve(t, in, lumberjack.Options{MaxWindowBytes: 1 << 20})
	bomb := func() []byte {
		var z bytes.Buffer
		w := zlib.NewWriter(&z)
		ev := []byte(`{"message":"` + strings.Repeat("A", 60000) + `"}`)
		for seq := 1; seq <= 1000; seq++ { // 60 MB unpacked
			var h [10]byte
			h[0], h[1] = '2', 'J'
			binary.BigEndian.PutUint32(h[2:], uint32(seq))
			binary.BigEndian.PutUint32(h[6:], uint32(len(ev)))
			w.Write(h[:])
			w.Write(ev)
		}
		w.Close()
		b := []byte{'2', 'W', 0, 0, 3, 232, '2', 'C', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[8:], uint32(z.Len()))
		return append(b, z.Bytes()...)
	}()
	tests := []struct {
		name string
		sent []byte
	}{
		{"window of 2^31 events", []byte{'2', 'W', 0x7f, 0xff, 0xff, 0xff, '2', 'J', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xf0}},
		{"frame of 4 GiB", []byte{'2', 'W', 0, 0, 0, 1, '2', 'J', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xf0}},
		{"compressed frame of 4 GiB", []byte{'2', 'W', 0, 0, 0, 1, '2', 'C', 0xff, 0xff, 0xff, 0xf0}},
		{"zlib bomb", bomb},
		{"protocol v1", []byte{'1', 'W', 0, 0, 0, 1}},
		{"not JSON", []byte{'2', 'W', 0, 0, 0, 1, '2', 'J', 0, 0, 0, 1, 0, 0, 0, 2, '{', '!'}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(tt.sent)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			// Closed: an end of file, or a reset when the server left
			// bytes of the sender's unread.
			if b, err := io.ReadAll(c); len(b) != 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("answered %q, %v; want the connection closed without an acknowledgement", b, err)
			}
			if got := stats.Rejected.Load(); got != int64(i+1) {
				t.Errorf("rejected %d, want %d", got, i+1)
			}
		})
	}
	c, err := lj.SyncDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := c.Send([]any{filebeatEvent(1)}); n != 1 || err != nil {
		t.Errorf("a good sender after the hostile ones: %d, %v", n, err)
	}
	if n := len(lines(t, in)); n != 1 {
		t.Errorf("inbox holds %d records, want only the good one", n)
	}
}

// TestTLS: with TLS (tls-cert-file), go-lumber's client over TLS has its
// window acknowledged once the inbox holds it, not before, and a client
// speaking plain text is cut off with nothing stored. With a client CA
// (client-ca-file: the tls.Config modes.serverTLS builds), only a client
// with a certificate the CA signed gets past the handshake.
func TestTLS(t *testing.T) {
	pki, other := testpki.ClientCAs(t)
	server, signed, foreign := pki.KeyPair(t, "server"), pki.KeyPair(t, "client"), other.KeyPair(t, "client")

	for _, tc := range []struct {
		name     string
		clientCA bool // the server asks for a certificate its CA signed
		plain    bool // the client speaks no TLS
		cert     *tls.Certificate
		// alert: the server refuses the handshake with this alert.
		alert string
	}{
		{name: "TLS"},
		{name: "plain text", plain: true},
		{name: "client certificate signed by the CA", clientCA: true, cert: signed},
		{name: "no client certificate", clientCA: true, alert: "certificate required"},
		{name: "another CA's client certificate", clientCA: true, cert: foreign, alert: "unknown certificate authority"},
		{name: "plain text to mTLS", clientCA: true, plain: true},
	} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			name := tc.name + "/" + tls.VersionName(version)
			if tc.plain {
				if version != tls.VersionTLS13 {
					continue
				}
				name = tc.name
			}
			t.Run(name, func(t *testing.T) {
				serverTLS := &tls.Config{Certificates: []tls.Certificate{*server}, MinVersion: tls.VersionTLS12}
				if tc.clientCA {
					serverTLS.ClientCAs, serverTLS.ClientAuth = pki.Pool(), tls.RequireAndVerifyClientCert
				}
				in, err := inbox.Open(t.TempDir(), inbox.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { in.Close() }) // after the server stops
				// A client let in finds the inbox full at first; one refused
				// must not get in, and had it, the inbox would take its window.
				refused := tc.plain || tc.alert != ""
				st := &stalled{Appender: in, full: !refused}
				addr, stats := serve(t, st, lumberjack.Options{TLS: serverTLS})

				dial := (&net.Dialer{Timeout: 10 * time.Second}).Dial
				if !tc.plain {
					clientTLS := &tls.Config{RootCAs: pki.Pool(), MinVersion: version, MaxVersion: version,
						// Presented whatever CAs the server names, as a sender
						// configured with it does.
						GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
							if tc.cert == nil {
								return &tls.Certificate{}, nil
							}
							return tc.cert, nil
						}}
					dial = (&tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: clientTLS}).Dial
				}
				// acked gets nil once the window is acknowledged, or why it
				// was not (over TLS 1.2 a refused handshake fails the dial).
				acked := make(chan error, 1)
				go func() {
					acked <- func() error {
						c, err := lj.DialWith(dial, addr, lj.CompressionLevel(3), lj.Timeout(10*time.Second))
						if err != nil {
							return fmt.Errorf("dial: %w", err)
						}
						defer c.Close()
						sent := []any{filebeatEvent(1), filebeatEvent(2)}
						if err := c.Send(sent); err != nil {
							return fmt.Errorf("send: %w", err)
						}
						if seq, err := c.AwaitACK(uint32(len(sent))); err != nil || seq != uint32(len(sent)) {
							return fmt.Errorf("acknowledged %d of %d: %v", seq, len(sent), err)
						}
						return nil
					}()
				}()

				if refused {
					err := <-acked // within the client's timeout
					alert := tc.alert
					if alert == "certificate required" && version == tls.VersionTLS12 {
						alert = "handshake failure" // certificate_required came with TLS 1.3
					}
					switch {
					case err == nil:
						t.Fatal("the window was acknowledged, want the connection refused")
					case alert != "" && !strings.Contains(err.Error(), "remote error: tls: "+alert):
						t.Fatalf("%v, want the server to refuse the handshake with %q", err, alert)
					}
					poll.Until(t, 10*time.Second, "the connection counted rejected", func() bool { return stats.Rejected.Load() == 1 })
					if stats.Refused.Load() != 0 || len(lines(t, in)) != 0 {
						t.Errorf("the window was offered to the inbox (%d times refused, %d records in it)", stats.Refused.Load(), len(lines(t, in)))
					}
					return
				}

				// Accepted: held while the inbox is full, acknowledged once
				// it took the window.
				poll.Until(t, 10*time.Second, "the window offered to the full inbox thrice", func() bool {
					select {
					case err := <-acked:
						if err == nil {
							t.Fatal("the window was acknowledged while the inbox was full")
						}
						t.Fatal(err)
					default:
					}
					return stats.Refused.Load() >= 3
				})
				if n := len(lines(t, in)); n != 0 {
					t.Fatalf("%d records in a full inbox", n)
				}
				st.mu.Lock()
				st.full = false
				st.mu.Unlock()
				if err := <-acked; err != nil {
					t.Fatal(err)
				}
				got := lines(t, in)
				if len(got) != 2 || got[0].B != message(1) || got[1].B != message(2) || got[1].A["host.name"] != "vm-7" {
					t.Errorf("the inbox holds %+v once acknowledged, want the window's two events", got)
				}
				if n := stats.Rejected.Load(); n != 0 {
					t.Errorf("%d connections rejected", n)
				}
			})
		}
	}
}
