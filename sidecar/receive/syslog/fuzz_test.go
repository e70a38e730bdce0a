package syslog

import (
	"bufio"
	"bytes"
	"context"
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
