// Package parse turns the lines a source read into records: it decodes
// container log formats (CRI, Docker json-file), joins multiline records,
// and parses each record (json, logfmt, nginx, csv, syslog, regex) into attributes,
// severity and event time. It works on a package in place, between reading
// and delivery.
//
// A Stage keeps almost no state between packages: lines that do not finish
// a record yet (a CRI partial line, a stack trace still growing) are left
// unconsumed, so the reader keeps their bytes and hands them over again with
// the next package. The checkpoint therefore never passes the start of an
// unfinished record, and a restart rebuilds it from the file.
package parse

import (
	"fmt"
	"strings"
	"time"

	"github.com/loglet/loglet/sidecar/decode"
)

// Config says how a source's lines become records. The names follow the
// flags (and the pod annotations of DESIGN.md).
type Config struct {
	// Container is the container log format: none, cri, docker, auto
	// (cri or docker, recognised per source from its first line),
	// timestamps (pods/log?timestamps=true: "<RFC 3339 time> <text>"), or
	// inbox (what the push inputs spool: sidecar/inbox).
	Container string
	// Format is the parser: raw, json, logfmt, nginx, csv, syslog, or regex:<RE2>
	// with named groups. cri, docker and auto are accepted here too, as
	// that container format with raw records.
	Format string
	// CSVFields names the columns of csv.
	CSVFields []string
	// MultilineStart matches the first line of a record: a line that
	// does not joins the record before it (a line before any start line
	// is a record of its own).
	MultilineStart string
	// MultilineEnd matches the last line of a record.
	MultilineEnd string
	// MultilineContinue matches the lines that continue a record (with
	// MultilineStart: records begin only with a start line).
	MultilineContinue string
	// MultilinePreset knows a runtime's stack traces instead of patterns:
	// java, python, go, ruby, node, dotnet or auto (any of them).
	MultilinePreset string
	// MultilineMaxLines ends a record in parts (marked as a split
	// record's parts) beyond this many lines (0: 500).
	MultilineMaxLines int
	// MultilineMaxBytes does the same beyond this size (0, or above
	// MaxLineBytes: MaxLineBytes).
	MultilineMaxBytes int
	// MultilineTimeout flushes a record after this long without a line.
	MultilineTimeout time.Duration
	// MaxLineBytes splits longer records into marked parts.
	MaxLineBytes int
	// TimeKey names the field holding the event time; TimeFormat says how
	// to read it (see NewTimeParser).
	TimeKey, TimeFormat string
	// Encoding is what the application wrote its text in (decode.Lookup:
	// utf-8, utf-16le, gbk, …); "" is utf-8. The text is decoded after
	// the container format is removed, before multiline and parsing.
	Encoding string
	// InvalidUTF8 says what a record whose text is not valid UTF-8 (or not
	// valid in Encoding) carries: keep (default: U+FFFD in the body and
	// the original bytes, \xHH-escaped, in loglet.raw_body) or replace
	// (U+FFFD only). Either way it is marked and counted.
	InvalidUTF8 string
}

// Invalid-UTF-8 settings.
const (
	InvalidKeep    = "keep"
	InvalidReplace = "replace"
)

// Spec is a checked Config; it makes a Stage per source.
type Spec struct {
	cfg       Config
	container string
	format    string
	multiline *multiline // nil: one line, one record
	// maxPending is the size beyond which a multiline record is
	// finished in parts.
	maxPending    int
	newParser     func() parser
	timeOf        TimeParser
	strings       []string
	errCRI        int
	errDocker     int
	errTimestamps int
	errDockerTime int
	errInbox      int
	// enc is the configured encoding; a BOM may change it per file.
	enc         decode.Encoding
	keepInvalid bool
	errInvalid  int // the mark of invalid UTF-8
	errDecode   int // the mark of bytes not valid in enc
	keyRawBody  int
}

// strParseError is the index of "loglet.parse_error" in Spec.strings;
// decoders and parsers add their keys and messages after it.
const strParseError = 0

// Compile checks cfg. Errors name the setting and the fix.
func Compile(cfg Config) (*Spec, error) {
	s := &Spec{cfg: cfg, strings: []string{"loglet.parse_error"}}
	s.errCRI = s.addString("cri: not a CRI log line (<RFC 3339 time> <stdout|stderr> <P|F> <text>)")
	s.errDocker = s.addString(`docker: not a json-file log line ({"log":"…","stream":"…","time":"…"})`)
	s.errTimestamps = s.addString("timestamps: not a timestamped log line (<RFC 3339 time> <text>)")
	s.errDockerTime = s.addString("docker: time missing")
	s.errInbox = s.addString(`inbox: not an inbox line ({"t":<Unix ns>,"s":<1-6>,"b":"…","a":{…}})`)
	s.container = cfg.Container
	if s.container == "" {
		s.container = "none"
	}
	var err error
	if s.enc, err = decode.Lookup(cfg.Encoding); err != nil {
		return nil, err
	}
	switch cfg.InvalidUTF8 {
	case "", InvalidKeep:
		s.keepInvalid = true
	case InvalidReplace:
	default:
		return nil, fmt.Errorf("invalid-utf8 %q: want keep (U+FFFD in the body, the original bytes escaped in loglet.raw_body) or replace (U+FFFD only)", cfg.InvalidUTF8)
	}
	s.keyRawBody = s.addString("loglet.raw_body")
	if s.keepInvalid {
		s.errInvalid = s.addString(`utf-8: invalid bytes replaced by U+FFFD, the original in loglet.raw_body (\xHH escapes, \\ a backslash); set encoding if the text is in another`)
		s.errDecode = s.addString(s.enc.Name() + `: bytes that are not ` + s.enc.Name() + ` replaced by U+FFFD, the original in loglet.raw_body (\xHH escapes, \\ a backslash)`)
	} else {
		s.errInvalid = s.addString("utf-8: invalid bytes replaced by U+FFFD; set encoding if the text is in another")
		s.errDecode = s.addString(s.enc.Name() + ": bytes that are not " + s.enc.Name() + " replaced by U+FFFD")
	}
	format := cfg.Format
	switch format {
	case "cri", "docker", "auto":
		if s.container != "none" && s.container != format {
			return nil, fmt.Errorf("format %q and container-format %q disagree: give one", format, s.container)
		}
		s.container, format = format, "raw"
	case "":
		format = "raw"
	}
	switch s.container {
	case "none", "cri", "docker", "auto", "timestamps", "inbox":
	default:
		return nil, fmt.Errorf("container-format %q: want none, cri, docker, timestamps or auto", cfg.Container)
	}
	if wide, _ := s.enc.Wide(); wide && (s.container == "cri" || s.container == "docker" || s.container == "timestamps" || s.container == "inbox") {
		return nil, fmt.Errorf("encoding %s with container-format %s: container runtimes write their lines in UTF-8, so the text inside cannot be UTF-16; use utf-16 for plain files (container-format none)", s.enc.Name(), s.container)
	}
	if cfg.MaxLineBytes <= 0 {
		return nil, fmt.Errorf("max-line-bytes %d: want a positive size", cfg.MaxLineBytes)
	}
	if s.multiline, err = compileMultiline(cfg); err != nil {
		return nil, err
	}
	s.maxPending = cfg.MaxLineBytes
	if cfg.MultilineMaxBytes > 0 {
		s.maxPending = min(s.maxPending, cfg.MultilineMaxBytes)
	}
	s.format = format
	if s.newParser, err = newParser(format, cfg, s); err != nil {
		return nil, err
	}
	if cfg.TimeKey != "" || (cfg.TimeFormat != "" && !strings.EqualFold(cfg.TimeFormat, "rfc3339")) {
		if cfg.TimeKey == "" {
			return nil, fmt.Errorf("time-format %q needs --time-key naming the field that holds the time", cfg.TimeFormat)
		}
		if s.timeOf, err = NewTimeParser(cfg.TimeFormat); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// timeFormat names --time-format in messages.
func (s *Spec) timeFormat() string {
	if s.cfg.TimeFormat == "" {
		return "rfc3339"
	}
	return s.cfg.TimeFormat
}

// addString adds a static string to the table packages carry and returns
// its index.
func (s *Spec) addString(str string) int {
	s.strings = append(s.strings, str)
	return len(s.strings) - 1
}

// plain reports whether records are the lines as read, so the stage only
// looks for a leading level word.
func (s *Spec) plain() bool {
	return s.container == "none" && s.multiline == nil && s.format == "raw"
}

// Multiline reports whether a record may wait for more lines, so the
// reader must flush it after the timeout.
func (s *Spec) Multiline() bool {
	return s.multiline != nil || s.format == "csv" || s.container != "none"
}

// Timeout is the multiline timeout.
func (s *Spec) Timeout() time.Duration { return s.cfg.MultilineTimeout }

// Encoding is the configured encoding; the reader applies a file's BOM
// to it and tells the stage (Stage.SetEncoding).
func (s *Spec) Encoding() decode.Encoding { return s.enc }

// NewStage returns the stage for one source.
func (s *Spec) NewStage() *Stage {
	st := &Stage{spec: s, container: s.container, parser: s.newParser()}
	enc, _, _ := s.enc.WithBOM(nil, true)
	st.SetEncoding(enc)
	return st
}
