package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Matcher expands include globs (with `**` for any number of directories)
// and removes the files an exclude glob matches.
type Matcher struct {
	include []string
	exclude []string
}

// NewMatcher validates the globs. Paths must be absolute so that what a
// source is called does not depend on the working directory.
func NewMatcher(include, exclude []string) (*Matcher, error) {
	for _, p := range include {
		if err := checkGlob(p); err != nil {
			return nil, fmt.Errorf("path %q: %w", p, err)
		}
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("path %q: must be absolute, e.g. /var/log/app/*.log", p)
		}
	}
	for _, p := range exclude {
		if err := checkGlob(p); err != nil {
			return nil, fmt.Errorf("exclude %q: %w", p, err)
		}
	}
	return &Matcher{include: clean(include), exclude: exclude}, nil
}

func clean(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = filepath.Clean(p)
	}
	return out
}

func checkGlob(p string) error {
	if p == "" {
		return errors.New("empty glob")
	}
	for _, part := range strings.Split(p, "/") {
		if part == "**" {
			continue
		}
		if _, err := filepath.Match(part, ""); err != nil {
			return fmt.Errorf("bad glob element %q (see https://pkg.go.dev/path/filepath#Match)", part)
		}
	}
	return nil
}

// Roots returns the directories to watch: the fixed leading part of every
// include glob.
func (m *Matcher) Roots() []string {
	out := make([]string, 0, len(m.include))
	for _, p := range m.include {
		out = append(out, staticRoot(p))
	}
	return out
}

// staticRoot is the longest leading directory of p without glob characters.
func staticRoot(p string) string {
	parts := strings.Split(p, "/")
	root := "/"
	for _, part := range parts[:len(parts)-1] {
		if part == "" {
			continue
		}
		if part == "**" || strings.ContainsAny(part, `*?[\`) {
			break
		}
		root = filepath.Join(root, part)
	}
	return root
}

// Found is a file Expand lists, with what its stat said.
type Found struct {
	Path string
	Info FileInfo
}

// Expand lists the regular files that match an include and no exclude,
// sorted by path, each with its stat (the one stat per file a scan makes:
// with thousands of files it is most of what a scan costs). Directories
// that cannot be read are skipped: a glob may cover folders that appear
// later.
func (m *Matcher) Expand() []Found {
	seen := map[string]bool{}
	for _, p := range m.include {
		if !strings.Contains(p, "**") {
			matches, _ := filepath.Glob(p)
			for _, f := range matches {
				seen[f] = true
			}
			continue
		}
		pat := strings.Split(p, "/")
		_ = filepath.WalkDir(staticRoot(p), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !d.IsDir() && matchParts(pat, strings.Split(path, "/")) {
				seen[path] = true
			}
			return nil
		})
	}
	out := make([]Found, 0, len(seen))
	for f := range seen {
		if m.excluded(f) {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		info, err := infoOf(fi)
		if err != nil {
			continue
		}
		out = append(out, Found{Path: f, Info: info})
	}
	slices.SortFunc(out, func(a, b Found) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Match reports whether path is one Expand would list (ignoring whether it
// exists).
func (m *Matcher) Match(path string) bool {
	if m.excluded(path) {
		return false
	}
	parts := strings.Split(path, "/")
	for _, p := range m.include {
		if matchParts(strings.Split(p, "/"), parts) {
			return true
		}
	}
	return false
}

// Excludes reports whether an include glob matches path and an exclude
// glob leaves it out.
func (m *Matcher) Excludes(path string) bool {
	if !m.excluded(path) {
		return false
	}
	parts := strings.Split(path, "/")
	return slices.ContainsFunc(m.include, func(p string) bool { return matchParts(strings.Split(p, "/"), parts) })
}

// Leads reports whether dir could hold files an include glob matches, in
// it or in folders below it (ignoring whether it exists).
func (m *Matcher) Leads(dir string) bool {
	parts := strings.Split(filepath.Clean(dir), "/")
	for _, p := range m.include {
		if leads(strings.Split(p, "/"), parts) {
			return true
		}
	}
	return false
}

// leads reports whether parts match the glob elements before the file's:
// all of them up to a `**` (below which any folder may lead), else as many
// as there are parts, leaving at least the file's element.
func leads(pat, parts []string) bool {
	n := len(parts)
	if i := slices.Index(pat, "**"); i >= 0 && i < n {
		n = i
	} else if n >= len(pat) {
		return false
	}
	return matchParts(pat[:n], parts[:n])
}

// excluded: an exclude glob with a slash matches the whole path, one
// without matches the base name (`*.gz`).
func (m *Matcher) excluded(path string) bool {
	for _, ex := range m.exclude {
		target := path
		if !strings.Contains(ex, "/") {
			target = filepath.Base(path)
		} else if strings.Contains(ex, "**") {
			if matchParts(strings.Split(ex, "/"), strings.Split(path, "/")) {
				return true
			}
			continue
		}
		if ok, _ := filepath.Match(ex, target); ok {
			return true
		}
	}
	return false
}

// matchParts matches path elements against glob elements, `**` standing for
// zero or more elements.
func matchParts(pat, parts []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(parts); i++ {
				if matchParts(pat[1:], parts[i:]) {
					return true
				}
			}
			return false
		}
		if len(parts) == 0 {
			return false
		}
		if ok, _ := filepath.Match(pat[0], parts[0]); !ok {
			return false
		}
		pat, parts = pat[1:], parts[1:]
	}
	return len(parts) == 0
}
