package source

import (
	"bytes"
	"time"

	"github.com/loglet/loglet/sidecar/decode"
)

// resolveEncoding decides the source's encoding from head, the file's
// first bytes (a BOM there wins over the configured encoding), and tells
// the stage. It returns false when head is too short to tell and more
// bytes may come (not atEOF).
func (s *File) resolveEncoding(head []byte, atEOF bool) bool {
	enc, bom, known := s.enc.WithBOM(head, atEOF)
	if !known {
		return false
	}
	s.enc, s.bom, s.encKnown = enc, bom, true
	s.wide, s.be = enc.Wide()
	if s.stage != nil {
		s.stage.SetEncoding(enc)
	}
	return true
}

// InvalidRecords is how many records so far had text that was not valid
// in the source's encoding (loglet_invalid_utf8_records_total); safe to
// call while the file is read.
func (s *File) InvalidRecords() int64 { return s.invalid.Load() }

// Encoding is the source's encoding as its BOM decided it (the configured
// one until the first bytes were read).
func (s *File) Encoding() decode.Encoding { return s.enc }

// splitWide is split for UTF-16: a line ends in the 2-byte code unit of
// '\n' (0A 00 little-endian, 00 0A big-endian) at an even distance from
// the line's start, which is always at a code-unit boundary (the file's
// start, a line's end, a part cut at an even length). A 0A byte elsewhere
// is half of another character (U+010A, U+0A0D…), not a line end.
func (s *File) splitWide(from int, now time.Time, count bool) {
	data := s.cur.Data
	// The byte before from may be a newline's first byte whose second
	// had not come yet.
	from = max(s.start, from-1)
	lines := int64(0)
	for {
		i := bytes.IndexByte(data[from:], '\n')
		if i < 0 {
			break
		}
		nl := from + i
		from = nl + 1
		if s.be {
			// 00 0A: the unit starts one byte before.
			if (nl-s.start)%2 != 1 || data[nl-1] != 0 {
				continue
			}
			nl--
		} else if (nl-s.start)%2 != 0 || nl+1 >= len(data) || data[nl+1] != 0 {
			if nl+1 >= len(data) {
				break // its second byte has not come yet
			}
			continue
		}
		end := nl
		if end-s.start >= 2 && isWideCR(data[end-2:end], s.be) {
			end -= 2
		}
		lines++
		s.addLine(end, now)
		s.consume(nl + 2)
		from = nl + 2
	}
	if count {
		s.stats.Lines.Add(lines)
	}
	s.cutTail(now)
}

func isWideCR(u []byte, be bool) bool {
	if be {
		return u[0] == 0 && u[1] == '\r'
	}
	return u[0] == '\r' && u[1] == 0
}

// wideCut returns where to cut UTF-16 text b to at most n bytes: at a
// code-unit boundary and not between the two halves of a surrogate pair.
func wideCut(b []byte, n int, be bool) int {
	n = min(n, len(b)) &^ 1
	if n >= 2 {
		hi := b[n-1]
		if be {
			hi = b[n-2]
		}
		if hi >= 0xd8 && hi <= 0xdb && n > 2 {
			n -= 2 // a high surrogate: its pair goes with the next part
		}
	}
	return max(n, 2)
}

// noteInvalid adds what the stage counted of records with invalid text to
// the stats, and logs the first one of the source with a hint.
func (s *File) noteInvalid() {
	n, first := s.stage.Invalid()
	if old := s.invalid.Load(); n != old {
		s.stats.InvalidText.Add(n - old)
		s.invalid.Store(n)
	}
	if first == nil || s.cfg.Log == nil {
		return
	}
	hint := "set encoding: to the encoding the application writes"
	if g := decode.Guess(first); g != "" && g != s.enc.Name() {
		hint = "looks like " + g + "; set encoding: " + g
	}
	s.cfg.Log.Warn("text that is not valid "+s.enc.Name()+": replaced by U+FFFD and marked in loglet.parse_error (counted in loglet_invalid_utf8_records_total; only the source's first is logged)",
		"path", s.path, "encoding", s.enc.Name(), "hint", hint)
}
