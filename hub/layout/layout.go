// Package layout is what the agent's NATS sink writes and every reader of
// the hub (loglet logs, the query package, the nats CLI) reads: the stream,
// its subjects and the encoding of its messages. The agent and the hub
// import it both, so they cannot drift apart.
//
// Records of the default route go to a stream (LOGLET by default), those
// of any other route R to a stream of its own, LOGLET_r (StreamFor), so a
// cluster can place their leaders on different members. A stream holds
// the subjects
//
//	<prefix>.<route>.<namespace>.<pod>.<container>.<source_id>
//
// where prefix is the stream's name in lower case (loglet for LOGLET), so
// two streams never hold each other's subjects, and a reader selecting a
// namespace, a pod or a container lets the server filter by subject. A
// record without a namespace, pod or container (a host file in node mode)
// has "_" in that place. Streams written by loglet before this layout hold
// <prefix>.<route>.<source_id>; readers read both.
//
// A message is one package (or one chunk of a package larger than the
// server's max_payload): its records as NDJSON in the S2 stream format
// (klauspost/compress/s2, "S2sTwO" magic, CRC-checked blocks), which
// s2d reads: nats sub 'loglet.>' --translate 's2d -'. On a package of
// records it encodes four times as fast as gzip's fastest level
// (BenchmarkEncode: 3.2 against 0.79 GB/s), for 11.6 % of the bytes
// against 7.5 %; zstd cost four times the CPU of everything else on the
// way to the hub. Its headers name the source and the package, and say
// how many of its records have each severity and between which times they
// lie (Tally), so a count by time and severity reads the headers only.
package layout

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/loglet/loglet/sidecar/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// DefaultStream is the stream name when a URL names none.
	DefaultStream = "LOGLET"
	// DefaultRoute is the route of records no setting routes elsewhere.
	DefaultRoute = "default"

	HeaderSourceID  = "Loglet-Source-Id"
	HeaderPackageID = "Loglet-Package-Id"
	HeaderRecords   = "Loglet-Records"
	// HeaderChunk is "i/n" when a package spans n messages.
	HeaderChunk = "Loglet-Chunk"
	// HeaderSeverities counts the message's records by severity: seven
	// decimal numbers, comma separated, for FATAL, ERROR, WARN, INFO,
	// DEBUG, TRACE and records without a severity, e.g. "0,2,5,100,0,0,3"
	// (of this message's records: a chunk's own, not its package's).
	// HeaderTimes bounds the records' times: the earliest and the latest,
	// RFC 3339 with nanoseconds, as an ISO 8601 interval
	// ("2026-12-01T10:00:00.000000000Z/2026-12-01T10:00:00.999000000Z");
	// it is left out when a record has no time. A reader counting records
	// by time and severity (the console's volume chart) reads these two
	// instead of decompressing the body. See Tally.
	HeaderSeverities = "Loglet-Severities"
	HeaderTimes      = "Loglet-Times"
	// HeaderEncoding says how the body is compressed; HeaderType what it
	// holds once decompressed.
	HeaderEncoding = "Content-Encoding"
	HeaderType     = "Content-Type"
	// Encoding and Type are the values loglet writes.
	Encoding = "s2"
	Type     = "application/x-ndjson"

	// Empty stands in a subject for a namespace, pod or container a record
	// does not have.
	Empty = "_"
)

// Resource keys of the subject's tokens.
const (
	KeyNamespace = "k8s.namespace.name"
	KeyPod       = "k8s.pod.name"
	KeyContainer = "k8s.container.name"
)

// DuplicateWindow is how long the stream remembers message ids: a package
// re-sent after a crash within it is stored once.
const DuplicateWindow = 2 * time.Minute

// Limits a stream gets when the agent or the hub creates it and the user
// set none: a day of records, at most 10 GiB.
const (
	DefaultMaxAge   = 24 * time.Hour
	DefaultMaxBytes = 10 << 30
)

// Prefix is the first token of a stream's subjects.
func Prefix(stream string) string { return strings.ToLower(stream) }

// Servers splits a nats:// URL's host list into what nats.Connect takes,
// and its user and password into options: in a URL's user part they
// would reach the first server only, and an agent failing over to the
// second would be refused.
func Servers(u *url.URL) (servers string, opts []nats.Option) {
	var list []string
	for _, h := range strings.Split(u.Host, ",") {
		list = append(list, "nats://"+h)
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			opts = append(opts, nats.UserInfo(u.User.Username(), pw))
		} else {
			opts = append(opts, nats.Token(u.User.Username()))
		}
	}
	return strings.Join(list, ","), opts
}

// StreamFor is the stream a route's records go to in the family of
// streams named base: base itself for the default route, base_<route>
// for any other (its own leader in a cluster: one stream's ingest is
// capped by one member), unless perRoute is off.
func StreamFor(base, route string, perRoute bool) string {
	if !perRoute || route == DefaultRoute || route == "" {
		return base
	}
	return base + "_" + strings.ToLower(route)
}

// InFamily tells whether a stream is base or one of its routes' streams.
func InFamily(base, name string) bool {
	return name == base || strings.HasPrefix(name, base+"_")
}

// Subject names where a source's packages go.
type Subject struct {
	Route, Namespace, Pod, Container, SourceID string
}

// String is the subject in stream's layout.
func (s Subject) String(stream string) string {
	var b strings.Builder
	b.Grow(len(stream) + len(s.Route) + len(s.Namespace) + len(s.Pod) + len(s.Container) + len(s.SourceID) + 5)
	b.WriteString(Prefix(stream))
	for _, t := range [...]string{s.Route, s.Namespace, s.Pod, s.Container, s.SourceID} {
		b.WriteByte('.')
		b.WriteString(Token(t))
	}
	return b.String()
}

// Token makes a value one subject token: empty is Empty; '.', '*', '>',
// whitespace and control bytes (which NATS gives meaning to or refuses)
// become '_'. Kubernetes names have no '_', so a pod named a.b is the
// token a_b and nothing else is.
func Token(v string) string {
	if v == "" {
		return Empty
	}
	if strings.IndexFunc(v, special) < 0 {
		return v
	}
	return strings.Map(func(r rune) rune {
		if special(r) {
			return '_'
		}
		return r
	}, v)
}

func special(r rune) bool { return r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f }

// Select is what a reader selects by subject; empty fields select all.
type Select struct {
	Route, Namespace, Pod, Container, SourceID string
}

// Filters are the subject filters of a selection in stream: this layout's
// and the one before it (which has only the route and the source id to
// filter by; the rest is for the reader to check). The two never overlap,
// as JetStream requires of a consumer's filters.
func (s Select) Filters(stream string) []string {
	p := Prefix(stream)
	tok := func(v string) string {
		if v == "" {
			return "*"
		}
		return Token(v)
	}
	return []string{
		strings.Join([]string{p, tok(s.Route), tok(s.Namespace), tok(s.Pod), tok(s.Container), tok(s.SourceID)}, "."),
		p + "." + tok(s.Route) + "." + tok(s.SourceID),
	}
}

// StreamConfig is the stream the hub creates, and the agent when the
// server has none of that name.
func StreamConfig(name string, maxAge time.Duration, maxBytes int64) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: name,
		Description: fmt.Sprintf("loglet records: subjects %s.<route>.<namespace>.<pod>.<container>.<source_id>, "+
			"one package per message as NDJSON in the S2 stream format (s2d reads it)", Prefix(name)),
		Subjects:   []string{Prefix(name) + ".>"},
		Retention:  jetstream.LimitsPolicy,
		Storage:    jetstream.FileStorage,
		Discard:    jetstream.DiscardOld,
		MaxAge:     maxAge,
		MaxBytes:   maxBytes,
		Duplicates: DuplicateWindow,
	}
}

// Encoder compresses packages, reusing its buffers.
type Encoder struct {
	w     *s2.Writer
	buf   bytes.Buffer
	chunk []byte // NDJSON on its way to w
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder {
	e := &Encoder{}
	// One goroutine: the agent's CPU is the pod's. Blocks of 256 KiB, not
	// the default 1 MiB: the writer keeps two blocks' worth of buffers for
	// the agent's life, in a sidecar that should stay under 20 MiB.
	e.w = s2.NewWriter(nil, s2.WriterConcurrency(1), s2.WriterBlockSize(256<<10))
	return e
}

// Encode returns ndjson in the S2 stream format; the result is valid
// until the next call.
func (e *Encoder) Encode(ndjson []byte) ([]byte, error) {
	e.buf.Reset()
	e.w.Reset(&e.buf)
	if _, err := e.w.Write(ndjson); err != nil {
		return nil, err
	}
	if err := e.w.Close(); err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}

// EncodePackage returns p's records as NDJSON in the S2 stream format,
// encoded into the compressor a chunk at a time: the package's NDJSON (ten
// times the compressed size) is never held whole. The result is valid
// until the next call.
func (e *Encoder) EncodePackage(p *record.Package) ([]byte, error) {
	e.buf.Reset()
	e.w.Reset(&e.buf)
	var err error
	if e.chunk, err = p.WriteNDJSON(e.w, e.chunk); err != nil {
		return nil, err
	}
	if err := e.w.Close(); err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}

// streamMagic starts the S2 (and Snappy) stream format: a stream
// identifier chunk.
var streamMagic = []byte("\xff\x06\x00\x00")

// ErrUndecodable wraps why a message is not a loglet package.
var ErrUndecodable = errors.New("not a loglet package")

// Decoder decodes messages, reusing its S2 reader (a new one costs two
// buffers of a block's size, more than a small package) and its output
// (a fresh megabyte per package, zeroed, cost half of a scan's CPU).
type Decoder struct {
	r   *s2.Reader
	out bytes.Buffer
}

// Decode returns the NDJSON a message carries, given its Content-Encoding
// header: the S2 stream format, an S2 block (what loglet wrote before the
// stream format), or nothing ("": plain NDJSON). The result is valid until
// the next call.
func (d *Decoder) Decode(encoding string, data []byte) ([]byte, error) {
	switch encoding {
	case "":
		return data, nil
	case Encoding:
		if bytes.HasPrefix(data, streamMagic) {
			if d.r == nil {
				d.r = s2.NewReader(nil)
			}
			d.r.Reset(bytes.NewReader(data))
			d.out.Reset()
			if _, err := d.out.ReadFrom(d.r); err != nil {
				return nil, fmt.Errorf("%w: s2 stream: %v", ErrUndecodable, err)
			}
			return d.out.Bytes(), nil
		}
		out, err := s2.Decode(d.out.Bytes()[:0], data)
		if err != nil {
			return nil, fmt.Errorf("%w: s2 block: %v", ErrUndecodable, err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: encoding %q (loglet writes %q)", ErrUndecodable, encoding, Encoding)
	}
}

// Decode is Decoder.Decode for one message; the result is the caller's.
func Decode(encoding string, data []byte) ([]byte, error) {
	var d Decoder
	return d.Decode(encoding, data)
}
