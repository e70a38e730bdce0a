package decode

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// One case per encoding family, with bytes as the application wrote them
// (from the encodings' own tables, not produced by the decoder under test).
func TestDecodeFamilies(t *testing.T) {
	tests := []struct {
		enc  string
		in   []byte
		want string
	}{
		{"gbk", []byte{0xc4, 0xe3, 0xba, 0xc3}, "你好"},
		{"GB18030", []byte{0xd0, 0xbb, 0xd0, 0xbb}, "谢谢"},
		{"big5", []byte{0xa7, 0x41, 0xa6, 0x6e}, "你好"},
		{"shift_jis", []byte{0x82, 0xb1, 0x82, 0xf1}, "こん"},
		{"sjis", []byte{0x82, 0xb1, 0x82, 0xf1}, "こん"},
		{"euc-jp", []byte{0xa4, 0xb3, 0xa4, 0xf3}, "こん"},
		{"euc-kr", []byte{0xbe, 0xc8, 0xb3, 0xe7}, "안녕"},
		{"uhc", []byte{0xbe, 0xc8, 0xb3, 0xe7}, "안녕"},
		{"iso-8859-2", []byte{0xb1}, "ą"},
		{"windows-1251", []byte{0xcf, 0xf0, 0xe8}, "При"},
		{"win1252", []byte{0x80, 0xe9}, "€é"},
		{"koi8-r", []byte{0xf0, 0xd2, 0xc9}, "При"},
		{"win866", []byte{0x8f, 0xe0, 0xa8}, "При"},
		{"windows-874", []byte{0xa1}, "ก"},
		{"utf-16le", []byte{'h', 0, 'i', 0, 0x3d, 0xd8, 0x00, 0xde}, "hi😀"},
		{"utf-16be", []byte{0, 'h', 0, 'i', 0xd8, 0x3d, 0xde, 0x00}, "hi😀"},
	}
	for _, tt := range tests {
		t.Run(tt.enc, func(t *testing.T) {
			e, err := Lookup(tt.enc)
			if err != nil {
				t.Fatal(err)
			}
			got, lossy := e.NewDecoder().Append([]byte("x"), tt.in)
			if string(got) != "x"+tt.want || lossy {
				t.Errorf("Append(% x) = %q lossy %v, want %q", tt.in, got, lossy, "x"+tt.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	for _, name := range []string{"", "utf-8", "UTF8"} {
		if e, err := Lookup(name); err != nil || !e.IsUTF8() || e.NewDecoder() != nil {
			t.Errorf("Lookup(%q) = %v, %v: want utf-8 without a decoder", name, e, err)
		}
	}
	if _, err := Lookup("klingon"); err == nil || !bytes.Contains([]byte(err.Error()), []byte(`"klingon"`)) {
		t.Errorf("Lookup(klingon) error = %v, want one naming it", err)
	}
}

func TestLossyKeepsCount(t *testing.T) {
	e, _ := Lookup("gbk")
	got, lossy := e.NewDecoder().Append(nil, []byte{'a', 0xff, 'b'})
	if !lossy || !utf8.Valid(got) || !bytes.Contains(got, []byte("a")) || !bytes.Contains(got, []byte("b")) {
		t.Errorf("gbk of a\\xffb = %q lossy %v: want valid text, a and b kept, lossy", got, lossy)
	}
	e, _ = Lookup("utf-16le")
	got, lossy = e.NewDecoder().Append(nil, []byte{0x3d, 0xd8, 'a', 0}) // a lone high surrogate
	if !lossy || string(got) != "\ufffda" {
		t.Errorf("utf-16le lone surrogate = %q lossy %v", got, lossy)
	}
}

func TestBOM(t *testing.T) {
	utf8e, _ := Lookup("utf-8")
	gbk, _ := Lookup("gbk")
	u16, _ := Lookup("utf-16")
	tests := []struct {
		name  string
		enc   Encoding
		head  []byte
		atEOF bool
		want  string
		bom   int
		known bool
	}{
		{"utf-8 bom", utf8e, []byte("\xef\xbb\xbfhi"), false, "utf-8", 3, true},
		{"utf-8 bom over gbk", gbk, []byte("\xef\xbb\xbfhi"), false, "utf-8", 3, true},
		{"utf-16le bom in utf-8 mode", utf8e, []byte("\xff\xfeh\x00"), false, "utf-16le", 2, true},
		{"utf-16be bom in gbk mode", gbk, []byte("\xfe\xff\x00h"), false, "utf-16be", 2, true},
		{"utf-16 without bom", u16, []byte("h\x00i\x00"), false, "utf-16le", 0, true},
		{"prefix waits", utf8e, []byte("\xef\xbb"), false, "utf-8", 0, false},
		{"prefix at eof", gbk, []byte("\xef\xbb"), true, "gbk", 0, true},
		{"no bom", gbk, []byte("ab"), false, "gbk", 0, true},
		{"empty waits", gbk, nil, false, "gbk", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, n, known := tt.enc.WithBOM(tt.head, tt.atEOF)
			if e.Name() != tt.want || n != tt.bom || known != tt.known {
				t.Errorf("WithBOM(% x) = %s, %d, %v; want %s, %d, %v", tt.head, e.Name(), n, known, tt.want, tt.bom, tt.known)
			}
		})
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\\b", `a\\b`},
		{"\xd0\xbb ok", "л ok"},
		{"\xc4\xe3\xba\xc3", `\xc4\xe3\xba\xc3`},
		{"x\xff\\xff", `x\xff\\xff`},
	}
	for _, tt := range tests {
		got := AppendEscaped(nil, []byte(tt.in))
		if string(got) != tt.want || !utf8.Valid(got) {
			t.Errorf("AppendEscaped(%q) = %q, want %q", tt.in, got, tt.want)
		}
		back, err := Unescape(got)
		if err != nil || string(back) != tt.in {
			t.Errorf("Unescape(%q) = %q, %v; want %q", got, back, err, tt.in)
		}
	}
	if got := AppendValid(nil, []byte("a\xc4\xe3b")); string(got) != "a\ufffd\ufffdb" {
		t.Errorf("AppendValid = %q, want one U+FFFD per invalid byte", got)
	}
}

func TestGuess(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{[]byte{0xc4, 0xe3, 0xba, 0xc3, 0xca, 0xc0, 0xbd, 0xe7}, "gbk"}, // 你好世界
		{[]byte("h\x00e\x00l\x00l\x00o\x00"), "utf-16le"},
		{[]byte("\x00h\x00e\x00l\x00l\x00o"), "utf-16be"},
	}
	for _, tt := range tests {
		if got := Guess(tt.in); got != tt.want {
			t.Errorf("Guess(% x) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzDecode: no input crashes a decoder, the text is valid UTF-8, and
// nothing is lost: either the decoding was exact (for UTF-16, encoding the
// text again gives the input back) or it says lossy, and the escaped
// original gives the input back.
func FuzzDecode(f *testing.F) {
	f.Add("gbk", []byte{0xc4, 0xe3, 0xba, 0xc3})
	f.Add("utf-16le", []byte("h\x00i\x00\x3d\xd8"))
	f.Add("utf-16be", []byte("\x00h\xd8\x3d\xde\x00"))
	f.Add("shift_jis", []byte{0x82, 0xb1, 0x82})
	f.Add("big5", []byte{0xff, 0xa7})
	f.Add("utf-8", []byte("\xd0\xbb\xff"))
	f.Add("gb18030", []byte("2026-11-25 INFO \x81\x30\x81\x30 order 42 placed \xc4\xe3 ok"))
	f.Add("shift_jis", []byte("ok \xb1abcdefghijk \x82\xb1Z"))
	f.Add("iso-2022-jp", []byte("a \x1b$B$3$s\x1b(B b"))
	f.Fuzz(func(t *testing.T, name string, in []byte) {
		e, err := Lookup(name)
		if err != nil {
			return
		}
		d := e.NewDecoder()
		if d == nil {
			esc := AppendEscaped(nil, in)
			back, err := Unescape(esc)
			if !utf8.Valid(esc) || err != nil || !bytes.Equal(back, in) {
				t.Fatalf("escape of % x: %q, back % x, %v", in, esc, back, err)
			}
			return
		}
		out, lossy := d.Append(nil, in)
		// The fast path (plain ASCII copied) gives what the transformer
		// alone gives.
		if slow, slowLossy := d.transform(nil, in); !bytes.Equal(out, slow) || lossy != slowLossy {
			t.Fatalf("%s of % x: %q lossy %v, the transformer alone %q lossy %v", name, in, out, lossy, slow, slowLossy)
		}
		if !utf8.Valid(out) {
			t.Fatalf("%s of % x gave invalid UTF-8 %q", name, in, out)
		}
		if lossy {
			back, err := Unescape(AppendEscaped(nil, in))
			if err != nil || !bytes.Equal(back, in) {
				t.Fatalf("the kept original of % x does not come back: % x, %v", in, back, err)
			}
			return
		}
		if wide, be := e.Wide(); wide {
			var re []byte
			for _, r := range string(out) {
				var u [2]uint16
				n := 1
				if r >= 0x10000 {
					r -= 0x10000
					u[0], u[1], n = uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)), 2
				} else {
					u[0] = uint16(r)
				}
				for _, c := range u[:n] {
					if be {
						re = append(re, byte(c>>8), byte(c))
					} else {
						re = append(re, byte(c), byte(c>>8))
					}
				}
			}
			if len(in)%2 == 0 && !bytes.Equal(re, in) {
				t.Fatalf("%s: % x decoded to %q, which is % x again", name, in, out, re)
			}
			if len(in)%2 == 1 {
				t.Fatalf("%s: odd input % x not lossy", name, in)
			}
		}
	})
}

// BenchmarkAppend: a Chinese Java application's log line in GBK, decoded.
func BenchmarkAppend(b *testing.B) {
	line := []byte("2026-11-25 10:00:00.123 INFO  [http-nio-8080-exec-3] c.e.shop.OrderController - \xb6\xa9\xb5\xa5 42 \xd2\xd1\xd3\xc9\xd3\xc3\xbb\xa7 7 \xcc\xe1\xbd\xbb, 12 ms")
	// An nginx line in UTF-16LE, as a Windows program writes it.
	var wide []byte
	for _, c := range []byte(`10.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "GET /api/v1/orders?id=42 HTTP/1.1" 200 512 "https://shop.example.com/" "curl/8.5.0" rt=0.042`) {
		wide = append(wide, c, 0)
	}
	for _, name := range []string{"gbk", "utf-16le"} {
		e, _ := Lookup(name)
		d := e.NewDecoder()
		line := line
		if name == "utf-16le" {
			line = wide
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			var dst []byte
			for range b.N {
				dst, _ = d.Append(dst[:0], line)
			}
		})
	}
}
