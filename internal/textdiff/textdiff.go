// Package textdiff tells, for tests that compare text with a golden file,
// where two texts first differ.
package textdiff

import (
	"fmt"
	"strings"
)

// First shows the first line where got differs from want, with its
// number: "line 3:\n- want\n+ got"; "" when they are equal.
func First(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, wl, gl)
		}
	}
	return ""
}
