package process_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/process"
	"github.com/loglet/loglet/sidecar/record"
)

// planted are secrets of each built-in kind, and the part of each that
// must never reach the output.
var planted = []struct{ text, secret string }{
	{card, card},
	{cardPlain, cardPlain},
	{email, email},
	{"Authorization: Bearer " + bearer, bearer},
	{jwt, jwt},
	{awsKey, awsKey},
	{privateKey, "MIIEpAIBAAKCAQEA1c7"},
	{"password=hunter2secret", "hunter2secret"},
	{`"client_secret": "s3cr3t-v4lue"`, "s3cr3t-v4lue"},
}

// FuzzRedact: whatever surrounds it, a planted secret of each built-in
// kind never reaches the output, and random text never crashes the
// redaction or loses the record.
func FuzzRedact(f *testing.F) {
	f.Add([]byte("plain text"), []byte(""), uint8(0))
	f.Add([]byte("12 34 5"), []byte("6 7 8 9"), uint8(0))
	f.Add([]byte("-----BEGIN X PRIVATE KEY-----"), []byte("-----END"), uint8(6))
	f.Add([]byte(`{"token":"`), []byte(`"}`), uint8(7))
	f.Add([]byte("Bearer"), []byte("earer x"), uint8(3))
	f.Add([]byte("a@b.c@"), []byte("@x.yz"), uint8(2))
	f.Add([]byte("eyJ.eyJ."), []byte("."), uint8(4))
	f.Add([]byte("AKIA"), []byte("AKIAAKIA"), uint8(5))
	f.Add([]byte("password='"), []byte("'"), uint8(8))
	c := compile(f, allBuiltins, process.Options{})
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, before, after []byte, which uint8) {
		s := planted[int(which)%len(planted)]
		text := bytes.Join([][]byte{before, []byte(s.text), after}, []byte(" "))
		p := &record.Package{Data: text, Records: []record.Entry{{End: uint32(len(text))}},
			Spans: []record.Span{{Time: time.Unix(1, 0)}}, Origin: record.NewOrigin("s", "/x", nil)}
		c.Start(p.Origin, log).Apply(p, time.Unix(1, 0))
		if len(p.Records) != 1 {
			t.Fatalf("%d records, want 1", len(p.Records))
		}
		if out := p.Body(0); bytes.Contains(out, []byte(s.secret)) {
			t.Fatalf("the secret %q reached the output:\n in  %q\n out %q", s.secret, text, out)
		}
		// Text without a planted secret keeps every byte outside what was
		// replaced: at most it gets shorter by redaction, never garbled.
		q := &record.Package{Data: before, Records: []record.Entry{{End: uint32(len(before))}},
			Spans: []record.Span{{Time: time.Unix(1, 0)}}, Origin: p.Origin}
		c.Start(q.Origin, log).Apply(q, time.Unix(1, 0))
		if out := q.Body(0); !bytes.Contains(out, []byte(process.DefaultReplace)) && !bytes.Equal(out, before) {
			t.Fatalf("text changed without a redaction:\n in  %q\n out %q", before, out)
		}
		if strings.Count(string(q.Body(0)), process.DefaultReplace) > len(before) {
			t.Fatalf("more redactions than bytes: %q", q.Body(0))
		}
	})
}
