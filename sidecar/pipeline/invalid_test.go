package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/parse"
)

// TestInvalidTextMetric: records whose text is not valid UTF-8 are
// counted per source in loglet_invalid_utf8_records_total.
func TestInvalidTextMetric(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gbk.log"), []byte("\xc4\xe3\xba\xc3\nplain\n\xd0\xbb\xd0\xbb\xff\n"), 0o644)
	cfg := testConfig(dir + "/*.log")
	spec, err := parse.Compile(parse.Config{Format: "raw", MaxLineBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Parse = spec
	out := filepath.Join(t.TempDir(), "out.ndjson")
	a, sk := newAgent(t, cfg, t.TempDir(), "file://"+out)
	defer sk.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	poll.Until(t, 10*time.Second, "two records counted as invalid text", func() bool {
		return counter(t, a, "loglet_invalid_utf8_records_total") == 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
