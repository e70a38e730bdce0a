package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
)

// TestReleaseStartupPages: once its files are open the agent gives back
// the pages of its executable only its start used (issue 24), and reads
// and delivers on with what it pages back in.
func TestReleaseStartupPages(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	a := startAgent(t, "--path", dir+"/*.log", "--state-dir", filepath.Join(dir, "state"), "--sink", "file://"+out)
	var before, after float64
	poll.Until(t, 10*time.Second, "the agent to log that it released its startup pages", func() bool {
		for line := range strings.Lines(a.stderr.String()) {
			var l struct {
				Msg    string
				Before string `json:"rss_before"`
				After  string `json:"rss_after"`
				Err    string
			}
			if json.Unmarshal([]byte(line), &l) != nil || !strings.HasPrefix(l.Msg, "startup pages") {
				continue
			}
			if l.Err != "" {
				t.Fatalf("%s: %s", l.Msg, l.Err)
			}
			fmt.Sscanf(l.Before, "%fMiB", &before)
			fmt.Sscanf(l.After, "%fMiB", &after)
			return true
		}
		return false
	})
	t.Logf("resident %.1f MiB → %.1f MiB", before, after)
	if after <= 0 || after >= before {
		t.Errorf("resident %.1f MiB → %.1f MiB: nothing given back", before, after)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.log"), []byte("after the release\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the line written after the release to be delivered", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), "after the release")
	})
}
