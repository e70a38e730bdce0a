package query_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/hub/layout"
	"github.com/loglet/loglet/internal/shiptest"
)

// TestNATSCLIReadsAPackage: a stored package is read and decoded with
// tools nobody here wrote, as README says: the NATS CLI replaying the
// stream, and s2d decoding each message.
func TestNATSCLIReadsAPackage(t *testing.T) {
	out, err := exec.Command("../../hack/nats-tools.sh").Output()
	if err != nil {
		t.Fatalf("hack/nats-tools.sh: %v", err)
	}
	tools := strings.TrimSpace(string(out))
	h := startHub(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "shop_web-1.log"), []byte(podLine("web-1", 1)+"\n"+podLine("web-1", 2)+"\n"), 0o644)
	shiptest.Pods(t, h.SinkURL(), dir, 2000)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(tools, "nats"), "--server", h.ServerURL(),
		"sub", "loglet.>", "--stream", layout.DefaultStream, "--all", "--count", "1", "--raw", "--translate", filepath.Join(tools, "s2d")+" -")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("nats sub: %v\n%s", err, stderr.String())
	}

	nc, err := nats.Connect(h.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, layout.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := layout.Decode(m.Header.Get(layout.HeaderEncoding), m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) || !bytes.Contains(got, []byte(`"body":"web-1 says 1"`)) {
		t.Errorf("nats sub --translate s2d printed\n%s\nwant the package's records\n%s", got, want)
	}
}
