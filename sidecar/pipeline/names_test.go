package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
)

// TestOddFileNames: an app decides the names of the files on the shared
// volume. A name that is not UTF-8, holds a newline or control bytes, or
// a path 4 KiB long must not stop the agent: each file is read, and files
// written after it still are.
func TestOddFileNames(t *testing.T) {
	dir, out := startWatching(t, "/**/*.log")
	deep := dir
	for len(deep) < 4000 {
		deep = filepath.Join(deep, strings.Repeat("d", 200))
	}
	names := []string{
		filepath.Join(dir, "evil\xff.log"),
		filepath.Join(dir, "new\nline.log"),
		filepath.Join(dir, "ctl\x01\x1b[31m.log"),
		filepath.Join(dir, "quote\"back\\slash.log"),
		filepath.Join(deep, "long.log"),
	}
	for i, p := range names {
		writeLog(t, p, "line of file "+string(rune('a'+i)))
	}
	poll.Until(t, 20*time.Second, "a record from every oddly named file", func() bool { return len(readOut(t, out)) == len(names) })
	writeLog(t, filepath.Join(dir, "plain.log"), "after")
	poll.Until(t, 20*time.Second, "the record of a file written after them", func() bool { return len(readOut(t, out)) == len(names)+1 })
	for _, r := range readOut(t, out) {
		if r.Attributes.Path == "" {
			t.Errorf("record %q has no log.file.path", r.Body)
		}
	}
	if _, err := os.Stat(names[0]); err != nil {
		t.Fatal(err)
	}
}
