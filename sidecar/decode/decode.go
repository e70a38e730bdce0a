// Package decode turns the text of a log line from the encoding its
// application wrote (UTF-16, GBK, Shift_JIS, windows-1252, …) into UTF-8,
// and keeps bytes that are not valid in it rather than dropping them.
//
// The decoders are golang.org/x/text's; this package names them, tells the
// reader how lines are split (byte-wise, or in UTF-16 code units), honours a
// byte order mark at a file's start, and handles what a decoder cannot read
// (the bytes are replaced by U+FFFD in the text and may be kept, escaped
// reversibly, beside it).
package decode

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Kind is how an encoding is read.
type Kind uint8

const (
	// UTF8 text is taken as it is, only checked.
	UTF8 Kind = iota
	// UTF16LE and UTF16BE text is split into lines in 2-byte code units.
	UTF16LE
	UTF16BE
	// UTF16 is UTF-16 whose byte order a BOM at the file's start decides
	// (little-endian without one, as Windows writes it).
	UTF16
	// Legacy encodings keep ASCII's bytes for ASCII (a newline is 0x0A and
	// no multi-byte character holds that byte), so lines are split in the
	// file's bytes and decoded one by one.
	Legacy
)

// Encoding is a checked encoding name.
type Encoding struct {
	name string
	kind Kind
	enc  encoding.Encoding // Legacy only
	// plainASCII says that a run of printable ASCII is that text in any
	// state of the decoder: not so in ISO-2022-JP, whose escapes switch
	// the meaning of 7-bit bytes.
	plainASCII bool
}

// Default is UTF-8.
var Default = Encoding{name: "utf-8", kind: UTF8}

// aliases are names people write (Fluent Bit's and Logtail's spellings,
// Windows code pages) that neither index knows.
var aliases = map[string]string{
	"utf8": "utf-8", "utf16": "utf-16", "utf16le": "utf-16le", "utf16be": "utf-16be", "ucs-2": "utf-16le",
	"sjis": "shift_jis", "shiftjis": "shift_jis", "uhc": "euc-kr", "cp949": "euc-kr", "cp936": "gbk",
	"win866": "ibm866", "cp866": "ibm866", "win874": "windows-874", "cp874": "windows-874",
}

// Lookup returns the encoding a configuration names: utf-8 (also ""),
// utf-16le, utf-16be, utf-16 (the BOM decides), or any name of the WHATWG
// or IANA index (gbk, gb18030, big5, shift_jis, euc-jp, euc-kr,
// iso-8859-1…16, windows-1250…1258, koi8-r, …).
func Lookup(name string) (Encoding, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases[n]; ok {
		n = a
	} else if rest, ok := strings.CutPrefix(n, "win"); ok && len(rest) == 4 && strings.Trim(rest, "0123456789") == "" {
		n = "windows-" + rest // win1252
	} else if rest, ok := strings.CutPrefix(n, "cp"); ok && len(rest) == 4 && strings.Trim(rest, "0123456789") == "" {
		n = "windows-" + rest // cp1252
	}
	switch n {
	case "", "utf-8":
		return Default, nil
	case "utf-16le":
		return Encoding{name: n, kind: UTF16LE}, nil
	case "utf-16be":
		return Encoding{name: n, kind: UTF16BE}, nil
	case "utf-16":
		return Encoding{name: n, kind: UTF16}, nil
	}
	e, err := htmlindex.Get(n)
	if err != nil || e == nil {
		e, err = ianaindex.IANA.Encoding(n)
	}
	if err != nil || e == nil {
		return Encoding{}, fmt.Errorf("encoding %q: unknown; want utf-8, utf-16le, utf-16be, utf-16 or a WHATWG/IANA name like gbk, gb18030, big5, shift_jis, euc-kr, iso-8859-2, windows-1252, koi8-r", name)
	}
	// The WHATWG index maps some names (utf-16le, x-user-defined…) to
	// encodings that are not byte-wise ASCII-compatible; UTF-16 ones
	// were handled above by name.
	if e == unicode.UTF8 || e == unicode.UTF8BOM {
		return Default, nil
	}
	// Lines are split at the byte 0A, and text that is plain ASCII is
	// copied as it is: both need an encoding that keeps ASCII's bytes.
	// EBCDIC code pages (IBM037…) and the WHATWG "replacement" do not.
	ascii := make([]byte, 0x80)
	for i := range ascii {
		ascii[i] = byte(i)
	}
	if out, err := e.NewDecoder().Bytes(ascii); err != nil || !bytes.Equal(out, ascii) {
		return Encoding{}, fmt.Errorf("encoding %q: its bytes for ASCII are not ASCII's (EBCDIC, or a WHATWG replacement encoding): not supported for log lines; write the logs in UTF-8 or an ASCII-compatible encoding", name)
	}
	return Encoding{name: n, kind: Legacy, enc: e, plainASCII: !strings.Contains(n, "2022")}, nil
}

// Name is the encoding's name as Lookup canonicalised it.
func (e Encoding) Name() string {
	if e.name == "" {
		return "utf-8"
	}
	return e.name
}

// Kind says how the encoding is read.
func (e Encoding) Kind() Kind { return e.kind }

// IsUTF8 reports whether text is taken as it is.
func (e Encoding) IsUTF8() bool { return e.kind == UTF8 }

// BOM lengths and the encodings they announce.
var (
	bomUTF8    = []byte{0xef, 0xbb, 0xbf}
	bomUTF16LE = []byte{0xff, 0xfe}
	bomUTF16BE = []byte{0xfe, 0xff}
)

// WithBOM decides the encoding of a file whose first bytes are head: a
// byte order mark there wins over the configured encoding, in every mode.
// It returns the encoding to read with and the BOM's length (0: none).
// known is false when head is too short to tell (a BOM's prefix): call
// again with more bytes, or with all there is at the file's end.
func (e Encoding) WithBOM(head []byte, atEOF bool) (enc Encoding, bomLen int, known bool) {
	switch {
	case bytes.HasPrefix(head, bomUTF8):
		return Default, 3, true
	case bytes.HasPrefix(head, bomUTF16LE):
		return Encoding{name: "utf-16le", kind: UTF16LE}, 2, true
	case bytes.HasPrefix(head, bomUTF16BE):
		return Encoding{name: "utf-16be", kind: UTF16BE}, 2, true
	}
	if !atEOF && len(head) < 3 && (bytes.HasPrefix(bomUTF8, head) || bytes.HasPrefix(bomUTF16LE, head) || bytes.HasPrefix(bomUTF16BE, head)) {
		return e, 0, false
	}
	if e.kind == UTF16 {
		// No BOM: little-endian, as Windows writes UTF-16.
		return Encoding{name: "utf-16le", kind: UTF16LE}, 0, true
	}
	return e, 0, true
}

// Wide reports whether lines are split in 2-byte code units, and in
// which byte order.
func (e Encoding) Wide() (wide, bigEndian bool) {
	switch e.kind {
	case UTF16LE, UTF16:
		return true, false
	case UTF16BE:
		return true, true
	}
	return false, false
}

// Decoder decodes lines of one encoding; it is not safe for concurrent
// use (one per source).
type Decoder struct {
	enc Encoding
	t   transform.Transformer
	// fast: copy the printable ASCII that leads and ends a line rather
	// than pass it through the transformer (most of a typical line: the
	// time, the level, the class name), a third of the decoding cost.
	fast bool
	// wide, be: UTF-16, big-endian; its ASCII units are narrowed as
	// they are.
	wide, be bool
}

// NewDecoder returns a decoder for e, or nil for UTF-8 (nothing to do).
func (e Encoding) NewDecoder() *Decoder {
	var t transform.Transformer
	switch e.kind {
	case UTF8:
		return nil
	case UTF16LE, UTF16:
		t = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder()
	case UTF16BE:
		t = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder()
	default:
		t = e.enc.NewDecoder()
	}
	d := &Decoder{enc: e, t: t, fast: e.plainASCII}
	d.wide, d.be = e.Wide()
	return d
}

// appendWide is Append for UTF-16: the ASCII code units (00-7F with a zero
// high byte) that lead and end the line are narrowed as they are, four at
// a time; what lies between goes through the transformer.
func (d *Decoder) appendWide(dst, src []byte) ([]byte, bool) {
	i := d.asciiUnits(src)
	for k := 0; k < i; k += 2 {
		dst = append(dst, src[k+d.lowByte()])
	}
	src = src[i:]
	if len(src) == 0 {
		return dst, false
	}
	end := len(src)
	if len(src)%2 == 0 {
		for end > 0 && d.asciiUnit(src[end-2:end]) {
			end -= 2
		}
	}
	dst, lossy := d.transform(dst, src[:end])
	for k := end; k < len(src); k += 2 {
		dst = append(dst, src[k+d.lowByte()])
	}
	return dst, lossy
}

// lowByte is the index in a code unit of its low byte.
func (d *Decoder) lowByte() int {
	if d.be {
		return 1
	}
	return 0
}

func (d *Decoder) asciiUnit(u []byte) bool {
	return u[1-d.lowByte()] == 0 && u[d.lowByte()] < 0x80
}

// asciiUnits returns the length in bytes of the ASCII code units src
// starts with.
func (d *Decoder) asciiUnits(src []byte) int {
	mask := uint64(0xff80ff80ff80ff80) // little-endian: each unit's high byte and bit 7
	if d.be {
		mask = 0x80ff80ff80ff80ff
	}
	i := 0
	for ; i+8 <= len(src); i += 8 {
		if binary.LittleEndian.Uint64(src[i:])&mask != 0 {
			break
		}
	}
	for ; i+2 <= len(src) && d.asciiUnit(src[i:i+2]); i += 2 {
	}
	return i
}

// plainRun returns the length of the run of printable ASCII (and tabs)
// that b starts with. '~' ends it too: HZ-style encodings shift with it.
func plainRun(b []byte) int {
	// Eight bytes at a time while all are in 0x20-0x7D: no high bit, none
	// below 0x20 (subtracting 0x20 borrows into its high bit), none at
	// 0x7E or above (adding 2 carries into its high bit).
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if (w|(w-0x20*lo)|(w+2*lo))&hi != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		if (c < 0x20 && c != '\t') || c >= 0x7e {
			return i
		}
	}
	return len(b)
}

// Encoding is what d decodes.
func (d *Decoder) Encoding() Encoding { return d.enc }

// Append appends src decoded to UTF-8 to dst. lossy reports that some
// bytes were not valid in the encoding (each is U+FFFD in the text): the
// caller keeps the original.
func (d *Decoder) Append(dst, src []byte) (out []byte, lossy bool) {
	if d.wide {
		return d.appendWide(dst, src)
	}
	if !d.fast {
		return d.transform(dst, src)
	}
	// The plain ASCII that leads and ends the line is copied; what lies
	// between goes through the transformer. The end keeps one byte after
	// the last byte that is not plain ASCII in the transformer's part: it
	// may be that character's trail (0x40-0x7D in GBK, Big5, Shift_JIS;
	// a digit in GB18030's four-byte form).
	i := plainRun(src)
	dst = append(dst, src[:i]...)
	src = src[i:]
	if len(src) == 0 {
		return dst, false
	}
	end := min(len(src), lastOther(src)+2)
	dst, lossy = d.transform(dst, src[:end])
	return append(dst, src[end:]...), lossy
}

// lastOther returns the index of the last byte of b that is not plain
// ASCII (see plainRun), or -1.
func lastOther(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if c := b[i]; (c < 0x20 && c != '\t') || c >= 0x7e {
			return i
		}
	}
	return -1
}

// transform decodes src with the transformer.
func (d *Decoder) transform(dst, src []byte) (out []byte, lossy bool) {
	d.t.Reset()
	start := len(dst)
	if cap(dst)-len(dst) < len(src)*3/2+8 {
		dst = append(dst, make([]byte, len(src)*3/2+8)...)[:start]
	}
	for {
		nDst, nSrc, err := d.t.Transform(dst[len(dst):cap(dst)], src, true)
		dst = dst[:len(dst)+nDst]
		src = src[nSrc:]
		if err == nil {
			break
		}
		// Room for more, unless the transformer neither read nor wrote
		// with room to spare (x/text's decoders never do; the loop must
		// not spin on one that did).
		if err == transform.ErrShortDst && (nDst > 0 || nSrc > 0 || cap(dst)-len(dst) < 16) {
			dst = append(dst, make([]byte, len(src)*3+16)...)[:len(dst)]
			continue
		}
		// Anything else (which x/text's decoders do not return for
		// atEOF input): the rest is replacement, and lossy has the caller
		// keep the original.
		for range src {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		}
		return dst, true
	}
	return dst, bytes.Contains(dst[start:], replacement)
}

var replacement = []byte(string(utf8.RuneError))

// AppendValid appends src with each byte that is not part of valid UTF-8
// replaced by U+FFFD (one per byte, so the count says how many were lost).
func AppendValid(dst, src []byte) []byte {
	for len(src) > 0 {
		r, n := utf8.DecodeRune(src)
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, replacement...)
		} else {
			dst = append(dst, src[:n]...)
		}
		src = src[n:]
	}
	return dst
}

// AppendEscaped appends src so that it is valid UTF-8 and can be turned
// back into src exactly (Unescape): a backslash becomes \\, a byte that is
// not part of valid UTF-8 becomes \xHH, the rest stays as it is.
func AppendEscaped(dst, src []byte) []byte {
	const hex = "0123456789abcdef"
	for len(src) > 0 {
		r, n := utf8.DecodeRune(src)
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, '\\', 'x', hex[src[0]>>4], hex[src[0]&15])
		case r == '\\':
			dst = append(dst, '\\', '\\')
		default:
			dst = append(dst, src[:n]...)
		}
		src = src[n:]
	}
	return dst
}

// Unescape reverses AppendEscaped.
func Unescape(s []byte) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '\\':
			out = append(out, '\\')
			i++
		case i+3 < len(s) && s[i+1] == 'x':
			var b byte
			for _, c := range s[i+2 : i+4] {
				switch {
				case c >= '0' && c <= '9':
					b = b<<4 | (c - '0')
				case c >= 'a' && c <= 'f':
					b = b<<4 | (c - 'a' + 10)
				default:
					return nil, fmt.Errorf("unescape: bad \\x escape at byte %d", i)
				}
			}
			out = append(out, b)
			i += 3
		default:
			return nil, fmt.Errorf("unescape: lone backslash at byte %d", i)
		}
	}
	return out, nil
}

// guesses are the encodings Guess tries, in the order their users are
// most common among the peers' reports (Logtail's GBK first).
var guesses = []string{"gbk", "shift_jis", "euc-kr", "big5", "windows-1252"}

// Guess names the encoding that bytes which are not valid UTF-8 look like,
// for a hint in the agent's log: UTF-16 when every other byte is NUL, else
// the first of a few common encodings that decodes them without error. It
// is a guess, said as one; "" when nothing fits.
func Guess(b []byte) string {
	b = b[:min(len(b), 4096)]
	if len(b) >= 4 {
		var even, odd int
		for i, c := range b {
			if c == 0 {
				if i%2 == 0 {
					even++
				} else {
					odd++
				}
			}
		}
		switch {
		case odd >= len(b)/4 && even < odd/4:
			return "utf-16le"
		case even >= len(b)/4 && odd < even/4:
			return "utf-16be"
		}
	}
	for _, name := range guesses {
		e, err := Lookup(name)
		if err != nil {
			continue
		}
		if _, lossy := e.NewDecoder().Append(nil, b); !lossy {
			return name
		}
	}
	return ""
}
