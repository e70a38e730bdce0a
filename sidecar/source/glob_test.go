package source

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMatcher(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"a.log", "b.log.1", "c.gz", "app/x.log", "app/deep/y.log", "app/deep/z.txt", "other/w.log"} {
		p := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o644)
	}
	rel := func(found []Found) string {
		var out []string
		for _, f := range found {
			out = append(out, strings.TrimPrefix(f.Path, root+"/"))
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		include, exclude []string
		want             string
	}{
		{[]string{root + "/*.log"}, nil, "a.log"},
		{[]string{root + "/*"}, []string{"*.gz"}, "a.log b.log.1"},
		{[]string{root + "/**/*.log"}, nil, "a.log app/deep/y.log app/x.log other/w.log"},
		{[]string{root + "/app/**"}, nil, "app/deep/y.log app/deep/z.txt app/x.log"},
		{[]string{root + "/**/*.log"}, []string{root + "/app/**"}, "a.log other/w.log"},
		{[]string{root + "/*/*.log", root + "/a.log"}, nil, "a.log app/x.log other/w.log"},
		{[]string{root + "/missing/*.log"}, nil, ""},
	}
	for _, tc := range tests {
		m, err := NewMatcher(tc.include, tc.exclude)
		if err != nil {
			t.Fatal(err)
		}
		if got := rel(m.Expand()); got != tc.want {
			t.Errorf("include %v exclude %v: got %q, want %q", tc.include, tc.exclude, got, tc.want)
		}
	}
}

func TestMatcherRejects(t *testing.T) {
	for _, p := range []string{"", "logs/*.log", "/var/log/[.log"} {
		if _, err := NewMatcher([]string{p}, nil); err == nil {
			t.Errorf("NewMatcher(%q) accepted", p)
		}
	}
}

func TestRoots(t *testing.T) {
	m, _ := NewMatcher([]string{"/var/log/app/*.log", "/var/log/**/x.log", "/a/b[0-9]/c"}, nil)
	if got := m.Roots(); !slices.Equal(got, []string{"/var/log/app", "/var/log", "/a"}) {
		t.Errorf("Roots = %v", got)
	}
}

func TestLeads(t *testing.T) {
	m, err := NewMatcher([]string{"/var/log/pods/*/*/*.log", "/data/**/*.log"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{
		"/var":                               true,
		"/var/log/pods":                      true,
		"/var/log/pods/shop_web_1":           true,
		"/var/log/pods/shop_web_1/app":       true,
		"/var/log/pods/shop_web_1/app/extra": false, // files sit one level up
		"/var/log/pods/shop_web_1/app/0.log": false, // a file's own element
		"/var/lib":                           false,
		"/data/a/b/c":                        true,
		"/etc":                               false,
	} {
		if got := m.Leads(dir); got != want {
			t.Errorf("Leads(%q) = %v, want %v", dir, got, want)
		}
	}
}
