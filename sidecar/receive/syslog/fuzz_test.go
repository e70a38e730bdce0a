package syslog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/record"
)

type collect struct{ recs []inbox.Record }

func (c *collect) Append(_ []record.KeyValue, recs []inbox.Record) error {
	for _, r := range recs {
		c.recs = append(c.recs, inbox.Record{Body: bytes.Clone(r.Body)})
	}
	return nil
}

// FuzzFraming: any byte stream frames without a panic into messages no
// longer than the limit, and no byte of a newline-framed stream is lost.
func FuzzFraming(f *testing.F) {
	for _, s := range []string{"<13>a\n", "7 <13>abc", "15 <13>line1\nline2\n<13>x", "99999999999 <", "2026 x\n", "0 <\n", "1 <1 <"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &collect{}
		opt := Options{Appender: c, MaxMessageBytes: 16}
		opt.defaults()
		r := &streamReader{opt: opt, r: bufio.NewReaderSize(bytes.NewReader(in), 16)}
		_ = r.run(context.Background())
		for _, rec := range c.recs {
			if len(rec.Body) == 0 || len(rec.Body) > 16 {
				t.Fatalf("message of %d bytes (limit 16): %q", len(rec.Body), rec.Body)
			}
		}
		if !bytes.ContainsAny(in, "0123456789\r") {
			var got []byte
			for _, rec := range c.recs {
				got = append(got, rec.Body...)
			}
			if strip := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), nil) }; !bytes.Equal(strip(got), strip(in)) {
				t.Fatalf("bytes lost: sent %q, stored %q", in, got)
			}
		}
	})
}

// FuzzOctetCounting: messages sent octet-counted (RFC 6587) come out as
// they were sent, whatever their bytes and wherever the reads cut them.
func FuzzOctetCounting(f *testing.F) {
	f.Add([]byte("<13>a\xff<14>b\nc\xff<15>"), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		var sent [][]byte
		var stream []byte
		for _, m := range bytes.Split(in, []byte{0xff}) {
			m = append([]byte("<"), bytes.TrimRight(m, "\n")...)
			sent = append(sent, m)
			stream = append(stream, fmt.Sprintf("%d ", len(m))...)
			stream = append(stream, m...)
		}
		c := &collect{}
		opt := Options{Appender: c, MaxMessageBytes: 1 << 20}
		opt.defaults()
		r := &streamReader{opt: opt, r: bufio.NewReaderSize(&chunked{b: stream, n: int(chunk%32) + 1}, 16)}
		_ = r.run(context.Background())
		if len(c.recs) != len(sent) {
			t.Fatalf("%d messages sent, %d came out", len(sent), len(c.recs))
		}
		for i := range sent {
			if !bytes.Equal(c.recs[i].Body, sent[i]) {
				t.Fatalf("message %d: sent %q, came out %q", i, sent[i], c.recs[i].Body)
			}
		}
	})
}

// chunked reads b n bytes at a time, as a socket hands data over.
type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}
