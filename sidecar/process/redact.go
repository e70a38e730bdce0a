package process

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/loglet/loglet/internal/settings"
)

// Builtins are the built-in redaction rules.
var Builtins = []string{"credit-card", "email", "bearer-token", "jwt", "aws-access-key", "private-key", "password-field"}

// DefaultReplace is what redact puts instead of a secret unless told.
const DefaultReplace = "[REDACTED]"

// span is a range of a text that a rule found.
type span struct{ start, end, rule int }

// rule finds what one redaction rule redacts in b, appending to out.
type rule struct {
	name string
	find func(b []byte, rule int, out []span) []span
	// bit is the rule's candidate bit (0: a pattern, always run).
	bit uint8
}

// Candidate bits: what a built-in rule needs to see in a text before it
// searches it.
const (
	mayCard uint8 = 1 << iota
	mayEmail
	mayBearer
	mayJWT
	mayAWS
	mayPEM
	mayPassword
)

// anchor marks the bytes candidates looks at; every other byte costs
// one table lookup in a tight loop.
var anchor = func() (t [256]bool) {
	for _, c := range []byte("0123456789@-=:bBAJ") {
		t[c] = true
	}
	return t
}()

// candidates tells, in one pass over b, which built-in rules may find
// something in it: a run of 13 digits (single spaces or dashes between),
// an @, "earer", "eyJ", an AWS key prefix, five dashes, or a key naming a
// secret before = or :. A record's line is scanned once this way, and the
// rules search only the records that may hold what they look for: most
// records hold nothing, and searching each of their values with every
// rule cost several times more than reading them.
func candidates(b []byte) uint8 {
	var m uint8
	n := len(b)
	for i := 0; i < n; i++ {
		// Four bytes a step while none is an anchor: the loads do not
		// wait on each other.
		for ; i+4 <= n; i += 4 {
			w := b[i : i+4 : i+4]
			if anchor[w[0]] || anchor[w[1]] || anchor[w[2]] || anchor[w[3]] {
				break
			}
		}
		for i < n && !anchor[b[i]] {
			i++
		}
		if i == n {
			break
		}
		switch c := b[i]; c {
		case '@':
			m |= mayEmail
		case '-':
			if i+4 < n && string(b[i+1:i+5]) == "----" {
				m |= mayPEM
			}
		case '=', ':':
			k := i
			if k > 0 && (b[k-1] == '"' || b[k-1] == '\'') {
				k--
			}
			// Most keys are told apart by their last two letters.
			if k < 2 || !mayEndKey(b[k-2], b[k-1]) {
				continue
			}
			s := k
			for s > 0 && k-s < 64 && isKeyChar(b[s-1]) {
				s--
			}
			if isSecretKey(b[s:k]) {
				m |= mayPassword
			}
		case 'b', 'B':
			if i+5 < n && (b[i+1]|0x20) == 'e' && (b[i+2]|0x20) == 'a' && (b[i+3]|0x20) == 'r' && (b[i+4]|0x20) == 'e' && (b[i+5]|0x20) == 'r' {
				m |= mayBearer
			}
		case 'J':
			if i >= 2 && b[i-2] == 'e' && b[i-1] == 'y' {
				m |= mayJWT
			}
		case 'A':
			if i+4 <= n {
				switch string(b[i+1 : i+4]) {
				case "KIA", "SIA", "BIA", "CCA":
					m |= mayAWS
				}
			}
		default: // a digit: the run of digits it starts
			digits := 0
			j := i
			for {
				for j < n && isDigit(b[j]) {
					j++
					digits++
				}
				if j+1 < n && (b[j] == ' ' || b[j] == '-') && isDigit(b[j+1]) {
					j++
					continue
				}
				break
			}
			if digits >= 13 {
				m |= mayCard
			}
			i = j - 1
		}
	}
	return m
}

// redactor is a compiled redact processor. Each built-in rule is a
// scanner that looks for a cheap anchor first (an @, a dash run, a digit,
// a key's separator, a literal prefix) with the bytes package's vectorised
// searches, and runs only on records whose line candidates says may hold
// what it finds.
type redactor struct {
	rules []rule
	// counter[i] is the chain's counter index of rules[i].
	counter []int
	// passwordKeys: the password-field rule is on, so an attribute whose
	// key names a secret has its whole value replaced.
	passwordKeys bool
	pwCounter    int
	replace      []byte
	hashKey      []byte // set: hash instead of replace
	// builtin has the bits of the built-in rules; patterns: some rule is
	// a pattern, which is searched in every text.
	builtin  uint8
	patterns bool
}

// newRedactor compiles r; salt keys the hash.
func newRedactor(r *Redact, salt string) (*redactor, error) {
	rd := &redactor{replace: []byte(cmp.Or(r.Replace, DefaultReplace))}
	if r.Hash != "" {
		if salt == "" {
			return nil, fmt.Errorf("hash: sha256 needs the redact-salt setting (LOGLET_REDACT_SALT, from a Secret): an unsalted hash of a card number or an e-mail address is reversed by trying them all")
		}
		rd.hashKey = []byte(salt)
	}
	builtin := r.Builtin
	if slices.Contains(builtin, "all") {
		builtin = Builtins
	}
	for _, name := range builtin {
		r, ok := builtins[name]
		if !ok {
			msg := fmt.Sprintf("builtin: unknown rule %q", name)
			if s := settings.Suggest(name, Builtins); s != "" {
				return nil, fmt.Errorf("%s: did you mean %q?", msg, s)
			}
			return nil, fmt.Errorf("%s; the rules are %s, or all", msg, strings.Join(Builtins, ", "))
		}
		if name == "password-field" {
			rd.passwordKeys = true
		}
		if rd.builtin&r.bit == 0 {
			r.name = name
			rd.rules = append(rd.rules, r)
			rd.builtin |= r.bit
		}
	}
	for i, p := range r.Patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("patterns[%d]: invalid RE2 %q: %w", i, p, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("patterns[%d]: %q matches empty text, so it would redact nothing visible everywhere; anchor it on what a secret looks like", i, p)
		}
		rd.rules = append(rd.rules, rule{name: p, find: patternFinder(re)})
		rd.patterns = true
	}
	return rd, nil
}

// redact returns b with what the rules find replaced, appended to dst, and
// whether anything was; counts gets one per finding, by counter index.
// Only the built-in rules whose bits are in may search. spans is scratch.
// Spans already in spans (rule -1: counted elsewhere) are replaced too.
func (rd *redactor) redact(dst, b []byte, may uint8, spans []span, counts []int64) (out []byte, changed bool, scratch []span) {
	for i, r := range rd.rules {
		if r.bit == 0 || may&r.bit != 0 {
			spans = r.find(b, i, spans)
		}
	}
	if len(spans) == 0 {
		return dst, false, spans
	}
	for _, s := range spans {
		if s.rule >= 0 {
			counts[rd.counter[s.rule]]++
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	last := 0
	for i := 0; i < len(spans); {
		start, end := spans[i].start, spans[i].end
		for i++; i < len(spans) && spans[i].start < end; i++ {
			end = max(end, spans[i].end)
		}
		dst = append(dst, b[last:start]...)
		dst = rd.replacement(dst, b[start:end])
		last = end
	}
	return append(dst, b[last:]...), true, spans
}

// replacement appends what stands in for secret.
func (rd *redactor) replacement(dst, secret []byte) []byte {
	if rd.hashKey == nil {
		return append(dst, rd.replace...)
	}
	m := hmac.New(sha256.New, rd.hashKey)
	m.Write(secret)
	var sum [sha256.Size]byte
	dst = append(dst, "sha256:"...)
	return hex.AppendEncode(dst, m.Sum(sum[:0])[:8])
}

// builtins are the built-in rules' scanners and candidate bits.
var builtins = map[string]rule{
	"credit-card":    {find: findCards, bit: mayCard},
	"email":          {find: findEmails, bit: mayEmail},
	"bearer-token":   {find: findBearer, bit: mayBearer},
	"jwt":            {find: findJWTs, bit: mayJWT},
	"aws-access-key": {find: findAWSKeys, bit: mayAWS},
	"private-key":    {find: findPrivateKeys, bit: mayPEM},
	"password-field": {find: findPasswordFields, bit: mayPassword},
}

func patternFinder(re *regexp.Regexp) func(b []byte, rule int, out []span) []span {
	groups := re.NumSubexp() > 0
	return func(b []byte, rule int, out []span) []span {
		for _, m := range re.FindAllSubmatchIndex(b, -1) {
			if !groups {
				out = append(out, span{m[0], m[1], rule})
				continue
			}
			for g := 2; g < len(m); g += 2 {
				if m[g] >= 0 && m[g+1] > m[g] {
					out = append(out, span{m[g], m[g+1], rule})
				}
			}
		}
		return out
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// findCards finds card numbers: 13 to 19 digits, alone or in groups
// joined by single spaces or dashes, whose Luhn check digit holds. A run
// of groups may hold more than a card (a number before it, a year after
// it), so every window of whole groups with 13 to 19 digits is checked.
func findCards(b []byte, rule int, out []span) []span {
	var groups [][2]int // start and end of each group of digits in a run
	for i := 0; i < len(b); {
		j := indexDigit(b, i)
		if j < 0 {
			break
		}
		groups = groups[:0]
		k, digits := j, 0
		for {
			g := k
			for k < len(b) && isDigit(b[k]) {
				k++
			}
			groups = append(groups, [2]int{g, k})
			digits += k - g
			if k+1 < len(b) && (b[k] == ' ' || b[k] == '-') && isDigit(b[k+1]) {
				k++
				continue
			}
			break
		}
		i = k
		if digits < 13 {
			continue
		}
		for a := range groups {
			n := 0
			for z := a; z < len(groups); z++ {
				n += groups[z][1] - groups[z][0]
				if n > 19 {
					break
				}
				if n >= 13 && luhn(b[groups[a][0]:groups[z][1]]) {
					out = append(out, span{groups[a][0], groups[z][1], rule})
				}
			}
		}
	}
	return out
}

// indexDigit is the index of the first digit of b at or after i, or -1.
func indexDigit(b []byte, i int) int {
	for ; i < len(b); i++ {
		if isDigit(b[i]) {
			return i
		}
	}
	return -1
}

// luhn checks the Luhn digit of the digits of b (separators skipped).
func luhn(b []byte) bool {
	sum, double := 0, false
	for i := len(b) - 1; i >= 0; i-- {
		c := b[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func isLocalChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomainChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '.' || c == '-'
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// findEmails finds addresses: local@domain.tld, the top-level domain of
// two letters or more.
func findEmails(b []byte, rule int, out []span) []span {
	for i := 0; ; {
		at := bytes.IndexByte(b[i:], '@')
		if at < 0 {
			return out
		}
		at += i
		i = at + 1
		s := at
		for s > 0 && isLocalChar(b[s-1]) {
			s--
		}
		e := at + 1
		for e < len(b) && isDomainChar(b[e]) {
			e++
		}
		for e > at+1 && (b[e-1] == '.' || b[e-1] == '-') {
			e--
		}
		dot := bytes.LastIndexByte(b[at+1:e], '.')
		if s == at || dot <= 0 || e-(at+1+dot+1) < 2 || !isLetter(b[e-1]) || !isLetter(b[e-2]) {
			continue
		}
		out = append(out, span{s, e, rule})
		i = e
	}
}

func isTokenChar(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '='
}

// findBearer finds the token after "Bearer " (any of three casings), as
// an Authorization header carries it.
func findBearer(b []byte, rule int, out []span) []span {
	for _, word := range [...]string{"earer", "EARER"} {
		for i := 0; ; {
			j := bytes.Index(b[i:], []byte(word))
			if j < 0 {
				break
			}
			j += i
			i = j + len(word)
			if j == 0 || (b[j-1] != 'B' && b[j-1] != 'b') {
				continue
			}
			k := i
			for k < len(b) && (b[k] == ' ' || b[k] == '\t') {
				k++
			}
			if k == i {
				continue
			}
			e := k
			for e < len(b) && isTokenChar(b[e]) {
				e++
			}
			if e > k {
				out = append(out, span{k, e, rule})
				i = e
			}
		}
	}
	return out
}

func isB64URL(c byte) bool { return isLetter(c) || isDigit(c) || c == '-' || c == '_' }

// findJWTs finds JSON Web Tokens: three base64url segments joined by dots,
// the first a JSON header ("eyJ").
func findJWTs(b []byte, rule int, out []span) []span {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("eyJ"))
		if j < 0 {
			return out
		}
		j += i
		i = j + 3
		e, dots := j, 0
		for e < len(b) {
			if isB64URL(b[e]) {
				e++
				continue
			}
			if b[e] == '.' && dots < 2 && e > j && b[e-1] != '.' {
				dots++
				e++
				continue
			}
			break
		}
		if dots == 2 && e-j >= 16 {
			out = append(out, span{j, e, rule})
			i = e
		}
	}
}

// findAWSKeys finds AWS access key ids: a known prefix and 16 more
// capital letters or digits.
func findAWSKeys(b []byte, rule int, out []span) []span {
	for _, prefix := range [...]string{"AKIA", "ASIA", "ABIA", "ACCA"} {
		for i := 0; ; {
			j := bytes.Index(b[i:], []byte(prefix))
			if j < 0 {
				break
			}
			j += i
			i = j + 4
			e := i
			for e < len(b) && e-j < 20 && (b[e] >= 'A' && b[e] <= 'Z' || isDigit(b[e])) {
				e++
			}
			if e-j == 20 {
				out = append(out, span{j, e, rule})
				i = e
			}
		}
	}
	return out
}

// findPrivateKeys finds PEM private keys, from the BEGIN line to the END
// line's end; a key whose END is not in the text (cut by the line limit)
// is redacted to the text's end.
func findPrivateKeys(b []byte, rule int, out []span) []span {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("-----BEGIN "))
		if j < 0 {
			return out
		}
		j += i
		i = j + 11
		eol := bytes.IndexByte(b[i:], '\n')
		line := b[i:]
		if eol >= 0 {
			line = b[i : i+eol]
		}
		if !bytes.Contains(line, []byte("PRIVATE KEY-----")) {
			continue
		}
		end := len(b)
		if k := bytes.Index(b[i:], []byte("-----END ")); k >= 0 {
			k += i
			if m := bytes.Index(b[k:], []byte("PRIVATE KEY-----")); m >= 0 {
				end = k + m + len("PRIVATE KEY-----")
			}
		}
		out = append(out, span{j, end, rule})
		i = end
	}
}

// passwordSuffixes end keys whose values are secrets (compared lower
// case without _ - .): password, db_password, client_secret,
// access_token, aws_secret_access_key, X-Api-Key…
var passwordSuffixes = []string{"password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "secretkey", "accesskey", "privatekey", "credential", "credentials"}

// isSecretKey tells whether an attribute key names a secret
// (password-field): it ends with one of passwordSuffixes once lower-cased
// and stripped of _ - and . (db_password, client_secret, X-Api-Key).
func isSecretKey(key []byte) bool {
	var (
		buf   [11]byte // the longest suffix's length
		n     int
		cands [][]byte
	)
	for i := len(key) - 1; i >= 0 && n < len(buf); i-- {
		c := key[i]
		switch {
		case c == '_' || c == '-' || c == '.':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if n == 0 {
			// Most keys are told apart by their last letter.
			if cands = suffixesByEnd[c]; cands == nil {
				return false
			}
		}
		buf[len(buf)-1-n] = c
		n++
	}
	norm := buf[len(buf)-n:]
	for _, s := range cands {
		if bytes.HasSuffix(norm, s) {
			return true
		}
	}
	return false
}

// mayEndKey tells whether a key ending in the bytes a, b may name a
// secret: the last two letters of one of passwordSuffixes, or a separator
// isSecretKey skips.
func mayEndKey(a, b byte) bool {
	switch uint16(a|0x20)<<8 | uint16(b|0x20) {
	case 'r'<<8 | 'd', 'w'<<8 | 'd', 's'<<8 | 'e', 'e'<<8 | 't', 'e'<<8 | 'n', 'e'<<8 | 'y', 'a'<<8 | 'l', 'l'<<8 | 's':
		return true
	}
	return a == '_' || a == '-' || a == '.' || b == '_' || b == '-' || b == '.'
}

// suffixesByEnd are passwordSuffixes by their last letter.
var suffixesByEnd = func() (t [256][][]byte) {
	for _, s := range passwordSuffixes {
		t[s[len(s)-1]] = append(t[s[len(s)-1]], []byte(s))
	}
	return t
}()

func isKeyChar(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' || c == '-' || c == '.' }

// findPasswordFields finds the values of secret keys in key=value and
// key: value text, quoted or not, JSON included ("password":"…").
func findPasswordFields(b []byte, rule int, out []span) []span {
	for _, sep := range [...]byte{'=', ':'} {
		for i := 0; ; {
			j := bytes.IndexByte(b[i:], sep)
			if j < 0 {
				break
			}
			j += i
			i = j + 1
			k := j
			if k > 0 && (b[k-1] == '"' || b[k-1] == '\'') {
				k--
			}
			s := k
			for s > 0 && k-s < 64 && isKeyChar(b[s-1]) {
				s--
			}
			if s == k || !isSecretKey(b[s:k]) {
				continue
			}
			v := j + 1
			for v < len(b) && (b[v] == ' ' || b[v] == '\t') {
				v++
			}
			if v == len(b) {
				continue
			}
			var e int
			switch q := b[v]; q {
			case '"', '\'':
				v++
				e = v
				for e < len(b) && b[e] != q {
					if b[e] == '\\' && q == '"' {
						e++
					}
					e++
				}
				e = min(e, len(b))
			default:
				e = v
				for e < len(b) && !isValueEnd(b[e]) {
					e++
				}
			}
			if e > v {
				out = append(out, span{v, e, rule})
				i = e
			}
		}
	}
	return out
}

func isValueEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ';', '&', '}', ']', '"', '\'':
		return true
	}
	return false
}
