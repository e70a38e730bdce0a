// Package query reads records back from a hub's JetStream stream: tail with
// filters, and the context around one record (the records before and after
// it from the same source), found by package id without scanning the
// stream.
package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/sidecar/sink"
)

// Record is one record as the hub holds it.
type Record struct {
	// Raw is the record's JSON, as the agent wrote it.
	Raw        []byte
	Time       string            `json:"time"`
	Body       string            `json:"body"`
	Severity   string            `json:"severity"`
	Attributes map[string]any    `json:"attributes"`
	Resource   map[string]string `json:"resource"`
	// Stored is when the hub stored the record's package (zero if the hub
	// does not tell): Stored - Time is its delivery latency.
	Stored time.Time `json:"-"`
}

// SourceID, PackageID and Offset address the record.
func (r Record) SourceID() string { s, _ := r.Attributes["loglet.source_id"].(string); return s }

// PackageID is the record's package.
func (r Record) PackageID() uint64 {
	f, _ := r.Attributes["loglet.package_id"].(float64)
	return uint64(f)
}

// Offset is the record's index in its package.
func (r Record) Offset() int { f, _ := r.Attributes["loglet.offset"].(float64); return int(f) }

// Filter selects records for Tail; empty fields select everything.
type Filter struct {
	Namespace, Pod, Container, Route string
	Grep                             *regexp.Regexp
}

func (f Filter) match(r Record) bool {
	return (f.Namespace == "" || r.Resource["k8s.namespace.name"] == f.Namespace) &&
		(f.Pod == "" || r.Resource["k8s.pod.name"] == f.Pod) &&
		(f.Container == "" || r.Resource["k8s.container.name"] == f.Container) &&
		(f.Grep == nil || f.Grep.MatchString(r.Body))
}

// Hub is a hub to read: the NATS JetStream layout or the Kafka layout.
type Hub interface {
	// Tail hands every record the filter selects to emit, oldest first.
	// Without follow it returns once it has read what the hub held when
	// it started.
	Tail(ctx context.Context, f Filter, follow bool, emit func(Record) error) error
	// Context returns the record at (sourceID, packageID, offset) with up
	// to before records before it and after records after it from the same
	// source, in order, and the target's index in what it returns.
	Context(ctx context.Context, sourceID string, packageID uint64, offset, before, after int) ([]Record, int, error)
	// Close disconnects.
	Close()
}

// Open connects to a hub: nats://host:4222[/STREAM] or kafka://b1,b2/topic.
func Open(ctx context.Context, hubURL string) (Hub, error) {
	if rest, ok := strings.CutPrefix(hubURL, "kafka://"); ok {
		return openKafka(ctx, rest)
	}
	return openNATS(ctx, hubURL)
}

// natsHub reads the JetStream layout.
type natsHub struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	name   string
}

func openNATS(ctx context.Context, hubURL string) (*natsHub, error) {
	u, err := url.Parse(hubURL)
	if err != nil || u.Scheme != "nats" || u.Host == "" {
		return nil, fmt.Errorf("hub %q: want nats://host:4222/STREAM or kafka://broker:9092/topic", hubURL)
	}
	name := strings.Trim(u.Path, "/")
	if name == "" {
		name = sink.DefaultStream
	}
	nc, err := nats.Connect((&url.URL{Scheme: "nats", User: u.User, Host: u.Host}).String(), nats.Name("loglet-logs"), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("hub %s is unreachable: %w (is `loglet hub` running there?)", u.Redacted(), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	st, err := js.Stream(ctx, name)
	if err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("hub %s has no stream %s: is this a loglet hub, and is the stream name right?", u.Redacted(), name)
		}
		return nil, fmt.Errorf("hub %s: %w", u.Redacted(), err)
	}
	return &natsHub{nc: nc, js: js, stream: st, name: name}, nil
}

func (r *natsHub) Close() { r.nc.Close() }

func (r *natsHub) Tail(ctx context.Context, f Filter, follow bool, emit func(Record) error) error {
	subject := sink.SubjectPrefix + ">"
	if f.Route != "" {
		subject = sink.SubjectPrefix + f.Route + ".>"
	}
	cons, err := r.js.OrderedConsumer(ctx, r.name, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return fmt.Errorf("tail %s: %w", r.name, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	left := info.NumPending
	for follow || left > 0 {
		m, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tail %s: %w", r.name, err)
		}
		left--
		recs, err := decode(&nats.Msg{Header: m.Headers(), Data: m.Data()})
		if err != nil {
			return fmt.Errorf("message on %s: %w", m.Subject(), err)
		}
		var stored time.Time
		if md, err := m.Metadata(); err == nil {
			stored = md.Timestamp
		}
		for _, rec := range recs {
			rec.Stored = stored
			if f.match(rec) {
				if err := emit(rec); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func decode(m *nats.Msg) ([]Record, error) {
	ndjson, err := sink.DecodeNATS(m)
	if err != nil {
		return nil, err
	}
	return parseRecords(ndjson)
}

func parseRecords(ndjson []byte) ([]Record, error) {
	var out []Record
	for _, line := range bytes.Split(ndjson, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("record is not JSON: %w", err)
		}
		rec.Raw = line
		out = append(out, rec)
	}
	return out, nil
}

// Context pages across packages by package id.
func (r *natsHub) Context(ctx context.Context, sourceID string, packageID uint64, offset, before, after int) ([]Record, int, error) {
	subject := sink.SubjectPrefix + "*." + sourceID
	first, seq, err := r.findPackage(ctx, subject, packageID)
	if err != nil {
		return nil, 0, err
	}
	if offset < 0 || offset >= len(first) {
		return nil, 0, fmt.Errorf("package %d of source %s has %d records; offset %d does not exist", packageID, sourceID, len(first), offset)
	}
	recs := first
	at := offset
	// Before: earlier packages, found by id.
	for pid := packageID; at < before && pid > 0; {
		pid--
		prev, _, err := r.findPackage(ctx, subject, pid)
		if errors.Is(err, errNoPackage) {
			break // aged out of the stream
		}
		if err != nil {
			return nil, 0, err
		}
		recs = append(prev, recs...)
		at += len(prev)
	}
	// After: the messages that follow on the subject.
	for next := seq + 1; len(recs)-at-1 < after; {
		m, err := r.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		more, err := decode(&nats.Msg{Header: m.Header, Data: m.Data})
		if err != nil {
			return nil, 0, err
		}
		if pid, _ := strconv.ParseUint(m.Header.Get(sink.HeaderPackageID), 10, 64); pid > packageID {
			recs = append(recs, more...)
		}
		next = m.Sequence + 1
	}
	lo, hi := max(0, at-before), min(len(recs), at+after+1)
	return recs[lo:hi], at - lo, nil
}

var errNoPackage = errors.New("no such package")

// findPackage finds the records of one package of a source, by binary
// search over the stream's sequence numbers (a source's package ids rise
// along the stream), joining the chunks of a package sent in several
// messages. It returns the sequence of the package's last message.
func (r *natsHub) findPackage(ctx context.Context, subject string, packageID uint64) ([]Record, uint64, error) {
	info, err := r.stream.Info(ctx)
	if err != nil {
		return nil, 0, err
	}
	if info.State.Msgs == 0 {
		return nil, 0, fmt.Errorf("%w: package %d of %s is not in the stream (it is empty)", errNoPackage, packageID, subject)
	}
	lo, hi := info.State.FirstSeq, info.State.LastSeq
	pidAt := func(seq uint64) (uint64, *jetstream.RawStreamMsg, error) {
		m, err := r.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			return 0, nil, err
		}
		pid, err := strconv.ParseUint(m.Header.Get(sink.HeaderPackageID), 10, 64)
		return pid, m, err
	}
	// The first message at or after lo whose package id is ≥ packageID.
	found := uint64(0)
	for lo <= hi {
		mid := lo + (hi-lo)/2
		pid, m, err := pidAt(mid)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			hi = mid - 1
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if pid >= packageID {
			found = m.Sequence
			hi = mid - 1
		} else {
			lo = m.Sequence + 1
		}
	}
	if found == 0 {
		return nil, 0, fmt.Errorf("%w: package %d of %s is not in the stream", errNoPackage, packageID, subject)
	}
	var chunks []*jetstream.RawStreamMsg
	for seq := found; ; {
		pid, m, err := pidAt(seq)
		if err != nil || pid != packageID {
			break
		}
		chunks = append(chunks, m)
		if c := m.Header.Get(sink.HeaderChunk); c == "" || strings.HasPrefix(c, chunkCount(c)+"/") {
			break // whole, or the last chunk
		}
		seq = m.Sequence + 1
	}
	if len(chunks) == 0 {
		return nil, 0, fmt.Errorf("%w: package %d of %s is not in the stream", errNoPackage, packageID, subject)
	}
	var recs []Record
	for _, m := range chunks {
		part, err := decode(&nats.Msg{Header: m.Header, Data: m.Data})
		if err != nil {
			return nil, 0, err
		}
		recs = append(recs, part...)
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Offset() < recs[j].Offset() })
	return recs, chunks[len(chunks)-1].Sequence, nil
}

// chunkCount returns n of "i/n".
func chunkCount(c string) string {
	_, n, _ := strings.Cut(c, "/")
	return n
}
