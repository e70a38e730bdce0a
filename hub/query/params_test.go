package query

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestParams: a URL's parameters make the same query as the CLI's flags
// of the same names, and a bad one is an error naming it.
func TestParams(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		query string
		check func(Filter, Options) bool
		err   string
	}{
		{"since=15m&severity=error&namespace=shop&pod=p&container=c&route=r", func(f Filter, _ Options) bool {
			return f.Since.Equal(now.Add(-15*time.Minute)) && f.MinSeverity == SeverityError && f.Namespace == "shop" && f.Pod == "p" && f.Container == "c" && f.Route == "r"
		}, ""},
		{"since-time=2026-12-01T10:00:00Z&until=5m&where=a%3Db&where=c~%3Dd&grep=x&tail=7&follow=true", func(f Filter, o Options) bool {
			return f.Since.Equal(now.Add(-2*time.Hour)) && f.Until.Equal(now.Add(-5*time.Minute)) && len(f.Where) == 2 && f.Grep.String() == "x" && o.Last == 7 && o.Follow
		}, ""},
		{"since=x", nil, `since "x"`},
		{"since=1h&since-time=2026-12-01T10:00:00Z", nil, "both set"},
		{"tail=-1", nil, "tail -1"},
		{"tail=many", nil, `tail "many"`},
		{"follow=maybe", nil, `follow "maybe"`},
		{"count=true&follow=true", nil, "--count"},
		{"until=tomorrow", nil, `until "tomorrow"`},
		{"since=1h&until=2h", nil, "before since"},
		{"severity=LOUD", nil, `severity "LOUD"`},
		{"where=%3Dx", nil, `where "=x"`},
		{"grep=%5B", nil, `grep "["`},
	} {
		v, _ := url.ParseQuery(tc.query)
		p, err := ParseParams(v)
		var f Filter
		var o Options
		if err == nil {
			f, o, err = p.Build(now)
		}
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error naming %s", tc.query, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.query, err)
		case !tc.check(f, o):
			t.Errorf("%s: filter %+v options %+v", tc.query, f, o)
		default:
			// Values gives back what ParseParams reads.
			p2, err := ParseParams(p.Values())
			if err != nil || p2.Values().Encode() != p.Values().Encode() {
				t.Errorf("%s: Values %q reads back as %q (%v)", tc.query, p.Values().Encode(), p2.Values().Encode(), err)
			}
		}
	}
}

// TestCursor: a page's cursor reads back, carries the records taken of
// its message by the pages before, and a bad one is a clear error.
func TestCursor(t *testing.T) {
	recs := []Record{{Stream: "LOGLET", Seq: 9}, {Stream: "LOGLET", Seq: 9}, {Stream: "LOGLET", Seq: 12}, {Stream: "LOGLET_x", Seq: 4}}
	c := CursorOf(recs, Cursor{"LOGLET": {Seq: 9, Skip: 3}, "LOGLET_y": {Seq: 2, Skip: 1}})
	if got := c.String(); got != "LOGLET:9:5,LOGLET_x:4:1,LOGLET_y:2:1" {
		t.Errorf("cursor %s", got)
	}
	back, err := ParseCursor(c.String())
	if err != nil || back.String() != c.String() {
		t.Errorf("%s reads back as %s, %v", c, back, err)
	}
	for _, bad := range []string{"", "LOGLET", "LOGLET:1", ":1:1", "LOGLET:x:1", "LOGLET:0:1", "LOGLET:1:-1"} {
		if _, err := ParseCursor(bad); err == nil || !strings.Contains(err.Error(), "cursor") {
			t.Errorf("ParseCursor(%q): %v, want an error naming the cursor", bad, err)
		}
	}
}

// FuzzParams: no URL query makes ParseParams, Build or ParseCursor panic,
// and what ParseParams reads, Values writes back the same.
func FuzzParams(f *testing.F) {
	f.Add("since=15m&severity=ERROR&where=k8s.namespace.name%3Dshop&grep=declined")
	f.Add("since-time=2026-12-01T10:00:00Z&until=5m&tail=3&follow=1&count=0")
	f.Add("where=a~%3D%28&grep=%5B&since=-1h")
	f.Add("cursor=LOGLET:12:3,LOGLET_x:1:0")
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		ParseCursor(v.Get("cursor"))
		p, err := ParseParams(v)
		if err != nil {
			return
		}
		p.Build(time.Now())
		p2, err := ParseParams(p.Values())
		if err != nil {
			t.Fatalf("%q: Values %q does not read back: %v", q, p.Values().Encode(), err)
		}
		if p2.Values().Encode() != p.Values().Encode() {
			t.Fatalf("%q: %q reads back as %q", q, p.Values().Encode(), p2.Values().Encode())
		}
	})
}
