package sink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/sidecar/record"
)

// TestNATSSeverities: every message the sink publishes says in its headers
// how many of its records have each severity and between which times they
// lie, as its body has them: a whole package, and each chunk of a package
// larger than the server's max_payload (its own records, not the
// package's).
func TestNATSSeverities(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxPayload int32
		records    int
		wantChunks bool
	}{
		{"one message", 0, 300, false},
		{"chunks", 16 << 10, 300, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
				MaxPayload: tc.maxPayload, NoLog: true, NoSigs: true})
			if err != nil {
				t.Fatal(err)
			}
			ns.Start()
			t.Cleanup(ns.Shutdown)
			if !ns.ReadyForConnections(10 * time.Second) {
				t.Fatal("nats server did not start")
			}
			s, err := Open(context.Background(), ns.ClientURL()+"/LOGLET", Options{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := severitiesPackage(tc.records)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if n, err := s.Write(ctx, []*record.Package{p}); err != nil || n != 1 {
				t.Fatalf("write: %d, %v", n, err)
			}

			nc, err := nats.Connect(ns.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			st, err := js.Stream(ctx, "LOGLET")
			if err != nil {
				t.Fatal(err)
			}
			msgs := st.CachedInfo().State.Msgs
			if (msgs > 1) != tc.wantChunks {
				t.Fatalf("%d messages; want chunks: %v", msgs, tc.wantChunks)
			}
			var total layout.Tally
			for seq := uint64(1); seq <= msgs; seq++ {
				m, err := st.GetMsg(ctx, seq)
				if err != nil {
					t.Fatal(err)
				}
				got, err := layout.TallyFrom(m.Header)
				if err != nil {
					t.Fatalf("message %d (chunk %q): %v", seq, m.Header.Get(layout.HeaderChunk), err)
				}
				want := bodyTally(t, m)
				if got != want {
					t.Errorf("message %d (chunk %q): headers %q %q, the body holds %+v",
						seq, m.Header.Get(layout.HeaderChunk), m.Header.Get(layout.HeaderSeverities), m.Header.Get(layout.HeaderTimes), want)
				}
				for i, c := range got.Counts {
					total.Counts[i] += c
				}
			}
			if total.Total() != int64(tc.records) {
				t.Errorf("the messages count %d records, the package has %d", total.Total(), tc.records)
			}
		})
	}
}

// severitiesPackage is n records of every severity, with event times
// going back and forth, and some without (their span's time stands in):
// bodies that do not compress, so a small max_payload cuts chunks.
func severitiesPackage(n int) *record.Package {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	p := &record.Package{
		Origin: record.NewOrigin("src", "/var/log/app.log", []record.KeyValue{{Key: "k8s.namespace.name", Value: "shop"}}),
		ID:     3,
		Spans:  []record.Span{{First: 0, Time: at.Add(time.Second)}, {First: n / 2, Time: at.Add(2 * time.Second)}},
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		start := len(p.Data)
		for range 200 {
			p.Data = append(p.Data, byte('a'+rnd.IntN(26)))
		}
		var ns int64
		if i%3 != 0 {
			ns = at.Add(time.Duration(rnd.IntN(10_000)-5_000) * time.Millisecond).UnixNano()
		}
		p.Records = append(p.Records, record.Entry{Start: uint32(start), End: uint32(len(p.Data)), Severity: record.Severity(i % 7), Time: ns})
	}
	return p
}

// bodyTally is what a message's body says: its records by severity, and
// the earliest and latest of their times.
func bodyTally(t *testing.T, m *jetstream.RawStreamMsg) layout.Tally {
	t.Helper()
	ndjson, err := layout.Decode(m.Header.Get(layout.HeaderEncoding), m.Data)
	if err != nil {
		t.Fatal(err)
	}
	places := map[string]int{"FATAL": 0, "ERROR": 1, "WARN": 2, "INFO": 3, "DEBUG": 4, "TRACE": 5, "": 6}
	tally := layout.Tally{Timed: true}
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(nil, 1<<20)
	for i := 0; sc.Scan(); i++ {
		var rec struct{ Time, Severity string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		place, ok := places[rec.Severity]
		if !ok {
			t.Fatalf("severity %q", rec.Severity)
		}
		tally.Counts[place]++
		at, err := time.Parse(time.RFC3339Nano, rec.Time)
		if err != nil {
			t.Fatal(fmt.Errorf("record %d: %w", i, err))
		}
		if i == 0 || at.Before(tally.First) {
			tally.First = at
		}
		if i == 0 || at.After(tally.Last) {
			tally.Last = at
		}
	}
	if strings.TrimSpace(string(ndjson)) == "" {
		t.Fatal("an empty message")
	}
	return tally
}
