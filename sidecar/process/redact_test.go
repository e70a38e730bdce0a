package process_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/process"
)

const allBuiltins = `processors: [{redact: {builtin: [all]}}]`

// Secrets of each built-in kind, as tests plant them.
const (
	card       = "4111 1111 1111 1111" // a Visa test number: the Luhn digit holds
	cardPlain  = "5500005555555559"
	notCard    = "4111 1111 1111 1112" // the same with a wrong check digit
	email      = "jane.doe+shop@example.co.uk"
	bearer     = "mF_9.B5f-4.1JqM"
	jwt        = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	awsKey     = "AKIAIOSFODNN7EXAMPLE"
	privateKey = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aozN3tihPmljnnudb9G3HECdnH\n-----END RSA PRIVATE KEY-----"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name, procs string
		cfg         parse.Config
		line        string
		want        string // the body
		attrs       map[string]any
		rules       map[string]int64
	}{
		{name: "a card number, spaced", procs: allBuiltins, line: "paid with " + card + " today",
			want: "paid with [REDACTED] today", rules: map[string]int64{"credit-card": 1}},
		{name: "a card number, plain and dashed", procs: allBuiltins, line: "cards " + cardPlain + " and 3782-822463-10005.",
			want: "cards [REDACTED] and [REDACTED].", rules: map[string]int64{"credit-card": 2}},
		{name: "a number that fails Luhn is left alone", procs: allBuiltins, line: "order " + notCard + " id 1234567890123456",
			want: "order " + notCard + " id 1234567890123456", rules: map[string]int64{"credit-card": 0}},
		{name: "a card between other numbers", procs: allBuiltins, line: "at 12 " + card + " 2026",
			want: "at 12 [REDACTED] 2026"},
		{name: "email", procs: allBuiltins, line: "mail to <" + email + ">, not to @here or a@b",
			want: "mail to <[REDACTED]>, not to @here or a@b", rules: map[string]int64{"email": 1}},
		{name: "bearer token in a header", procs: allBuiltins, line: "Authorization: Bearer " + bearer + " from 10.0.0.1",
			want: "Authorization: Bearer [REDACTED] from 10.0.0.1", rules: map[string]int64{"bearer-token": 1}},
		{name: "jwt", procs: allBuiltins, line: "session=" + jwt,
			want: "session=[REDACTED]", rules: map[string]int64{"jwt": 1}},
		{name: "aws access key", procs: allBuiltins, line: "key " + awsKey + " used",
			want: "key [REDACTED] used", rules: map[string]int64{"aws-access-key": 1}},
		{name: "password fields in text", procs: allBuiltins, line: `login user=jane password=hunter2 db_passwd: "s3 cret" retries=3`,
			want: `login user=jane password=[REDACTED] db_passwd: "[REDACTED]" retries=3`, rules: map[string]int64{"password-field": 2}},
		{name: "a pattern", procs: `processors: [{redact: {patterns: ['api_key=\S+']}}]`, line: "GET /v1?api_key=abc123 200",
			want: "GET /v1?[REDACTED] 200", rules: map[string]int64{`api_key=\S+`: 1}},
		{name: "a pattern's groups only", procs: `processors: [{redact: {patterns: ['api_key=(\w+)'], replace: '***'}}]`, line: "GET /v1?api_key=abc123&x=1",
			want: "GET /v1?api_key=***&x=1"},
		{name: "only the rules named", procs: `processors: [{redact: {builtin: [email]}}]`, line: email + " " + card,
			want: "[REDACTED] " + card},
		{name: "inside JSON strings, body and fields", procs: allBuiltins, cfg: parse.Config{Format: "json"},
			line: `{"msg":"charged ` + card + `","user":"` + email + `","auth":"Bearer ` + bearer + `","password":"hunter2","n":4111111111111111,"nested":{"token":"abc","card":"` + card + `"}}`,
			want: "charged [REDACTED]",
			attrs: map[string]any{"user": "[REDACTED]", "auth": "Bearer [REDACTED]", "password": "[REDACTED]", "n": "[REDACTED]",
				"nested": map[string]any{"token": "[REDACTED]", "card": "[REDACTED]"}},
			rules: map[string]int64{"credit-card": 3, "email": 1, "bearer-token": 1, "password-field": 2}},
		{name: "an escaped key naming a secret", procs: allBuiltins, cfg: parse.Config{Format: "json"},
			line: `{"msg":"login","pass\u0077ord":"hunter2"}`, want: "login", attrs: map[string]any{"password": "[REDACTED]"}},
		{name: "a regex group naming a secret", procs: allBuiltins, cfg: parse.Config{Format: `regex:^user=(?P<user>\S+) (?P<pwd>\S+)$`},
			line: `user=jane hunter2`, want: "user=jane [REDACTED]", attrs: map[string]any{"user": "jane", "pwd": "[REDACTED]"}},
		{name: "JSON escapes around a secret", procs: allBuiltins, cfg: parse.Config{Format: "json"},
			line: `{"msg":"\"` + email + `\"\n"}`, want: "\"[REDACTED]\"\n"},
		{name: "a stack trace with a bearer token", procs: allBuiltins, cfg: parse.Config{MultilineStart: `^\d{4}-`},
			line: "2026-12-01 10:00:00 ERROR call failed\n  request headers: {Authorization: Bearer " + bearer + "}\n\tat com.shop.Client.call(Client.java:42)",
			want: "2026-12-01 10:00:00 ERROR call failed\n  request headers: {Authorization: Bearer [REDACTED]}\n\tat com.shop.Client.call(Client.java:42)"},
		{name: "a private key over lines", procs: allBuiltins, cfg: parse.Config{MultilineStart: `^\d{4}-`},
			line: "2026-12-01 10:00:00 loaded key\n" + privateKey + "\nnext", want: "2026-12-01 10:00:00 loaded key\n[REDACTED]\nnext",
			rules: map[string]int64{"private-key": 1}},
		{name: "overlapping findings are one replacement", procs: allBuiltins, line: "password=" + email,
			want: "password=[REDACTED]"},
		{name: "a logfmt field named like a secret", procs: allBuiltins, cfg: parse.Config{Format: "logfmt"},
			line: `level=info msg="rotated" client_secret=abc api_key=xyz`, want: "rotated",
			attrs: map[string]any{"level": "info", "client_secret": "[REDACTED]", "api_key": "[REDACTED]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := compile(t, tc.procs, process.Options{})
			got := apply(t, c, packageOf(t, tc.cfg, tc.line+"\n"))
			if len(got) != 1 {
				t.Fatalf("%d records, want 1: %+v", len(got), got)
			}
			if got[0].Body != tc.want {
				t.Errorf("body\n %q\nwant\n %q", got[0].Body, tc.want)
			}
			if tc.attrs != nil {
				a, _ := json.Marshal(got[0].Attributes)
				w, _ := json.Marshal(tc.attrs)
				if string(a) != string(w) {
					t.Errorf("attributes\n %s\nwant\n %s", a, w)
				}
			}
			_, redacted := c.Counts()
			counts := map[string]int64{}
			for _, r := range redacted {
				counts[r.Rule] += r.Count
			}
			for rule, want := range tc.rules {
				if counts[rule] != want {
					t.Errorf("redactions of %s = %d, want %d (all: %v)", rule, counts[rule], want, counts)
				}
			}
		})
	}
}

// TestRedactHash: hash: sha256 puts the same token for the same secret, a
// different one for another secret or another salt, never the secret.
func TestRedactHash(t *testing.T) {
	const procs = `processors: [{redact: {builtin: [email], hash: sha256}}]`
	run := func(salt, line string) string {
		return apply(t, compile(t, procs, process.Options{Salt: salt}), packageOf(t, parse.Config{}, line+"\n"))[0].Body
	}
	a1, a2 := run("s1", "from a@example.com"), run("s1", "from a@example.com")
	b := run("s1", "from b@example.com")
	other := run("s2", "from a@example.com")
	if a1 != a2 || !strings.HasPrefix(a1, "from sha256:") || len(a1) != len("from sha256:")+16 {
		t.Errorf("same secret gave %q and %q, want one sha256:<16 hex>", a1, a2)
	}
	if a1 == b || a1 == other {
		t.Errorf("%q for another address or salt: %q, %q", a1, b, other)
	}
}

// TestMayEndKey holds the quick check of a key's last two letters to the
// suffixes password-field knows: each key's value is redacted.
func TestMayEndKey(t *testing.T) {
	for _, key := range []string{"password", "PASSWD", "pwd", "passphrase", "secret", "token", "apikey", "secretkey", "accesskey", "privatekey", "credential", "credentials", "api_key_", "x-Api-Key"} {
		if red := apply(t, compile(t, allBuiltins, process.Options{}), packageOf(t, parse.Config{}, key+"=s3cr3t\n")); red[0].Body != key+"=[REDACTED]" {
			t.Errorf("%s=s3cr3t gave %q", key, red[0].Body)
		}
	}
}
