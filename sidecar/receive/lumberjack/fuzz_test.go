package lumberjack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"testing"

	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/record"
)

type discard struct{}

func (discard) Append([]record.KeyValue, []inbox.Record) error { return nil }

// FuzzConn: any bytes a sender sends end in an error or acknowledgements,
// never a panic, and never more memory than the window limit.
func FuzzConn(f *testing.F) {
	f.Add([]byte("2W\x00\x00\x00\x012J\x00\x00\x00\x01\x00\x00\x00\x0f{\"message\":\"a\"}"))
	f.Add([]byte("2W\x7f\xff\xff\xff2J\x00\x00\x00\x01\xff\xff\xff\xf0"))
	f.Add([]byte("2W\x00\x00\x00\x012C\x00\x00\x00\x05xxxxx"))
	f.Fuzz(func(t *testing.T, in []byte) {
		server, client := net.Pipe()
		defer client.Close()
		go func() {
			// Read the acknowledgements so writes do not block.
			buf := make([]byte, 64)
			for {
				if _, err := client.Read(buf); err != nil {
					return
				}
			}
		}()
		opt := Options{Appender: discard{}, MaxWindowBytes: 1 << 16, MaxWindow: 64}
		opt.defaults()
		cn := &conn{opt: opt, c: server, r: bufio.NewReader(bytes.NewReader(in))}
		_ = cn.run(context.Background())
		server.Close()
	})
}

func FuzzEvent(f *testing.F) {
	f.Add([]byte(`{"@timestamp":"2026-12-01T10:00:01Z","message":"m","log":{"offset":1,"file":{"path":"/a"}},"@metadata":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := Event(b)
		if err != nil {
			return
		}
		line := rec.AppendLine(nil)
		if !bytes.HasSuffix(line, []byte("}\n")) || !json.Valid(line) {
			t.Fatalf("inbox line %q is not one JSON object", line)
		}
		// An event encoding/json reads keeps its message as the body.
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) == nil && bytes.Count(b, []byte(`"message"`)) == 1 {
			var msg string
			if json.Unmarshal(m["message"], &msg) == nil && msg != string(rec.Body) {
				t.Fatalf("message %q came out as body %q", msg, rec.Body)
			}
		}
	})
}
