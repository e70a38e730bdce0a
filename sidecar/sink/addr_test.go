package sink

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/sidecar/record"
)

// TestAddr: the agent names the sink in every outage report, so the name
// must say which hub and must not carry its password or token. Writing to a hub
// that is not there fails at once with an error naming it, also without
// the password.
func TestAddr(t *testing.T) {
	down := freeport.Addr(t) // nothing listens here
	file := filepath.Join(t.TempDir(), "out.ndjson")
	tests := []struct {
		url  string
		want string
		// fails: a Write to it fails (the hub is down).
		fails bool
	}{
		{"null://", "null://", false},
		{"stdout://", "stdout://", false},
		{"file://" + file, "file://" + file, false},
		{"http://ann:s3cret@" + down + "/ingest", "http://ann:xxxxx@" + down + "/ingest", true},
		{"otlp+http://ann:s3cret@" + down, "otlp+http://ann:xxxxx@" + down + "/v1/logs", true},
		{"kafka://" + down + "/logs", "kafka://" + down + "/logs", true},
		{"nats://ann:s3cret@" + down + "/LOGLET", "nats://ann:xxxxx@" + down + "/LOGLET", true},
		{"nats://s3cret@" + down + "/LOGLET", "nats://xxxxx@" + down + "/LOGLET", true}, // a token
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			s, err := Open(context.Background(), tt.url, Options{Timeout: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := Addr(s); got != tt.want {
				t.Errorf("Addr = %q, want %q", got, tt.want)
			}
			if !tt.fails {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n, err := s.Write(ctx, []*record.Package{testPackage("src", 0, "line")})
			switch {
			case err == nil || n != 0:
				t.Fatalf("Write to a hub that is not there: %d acknowledged, err %v; want 0 and an error", n, err)
			case ctx.Err() != nil:
				t.Fatalf("Write waited for a hub that is not there until the test's deadline: %v", err)
			case strings.Contains(err.Error(), "s3cret"):
				t.Errorf("error shows the password: %v", err)
			case !strings.Contains(err.Error(), down):
				t.Errorf("error does not name %s: %v", down, err)
			}
			t.Logf("%v", err)
		})
	}
}
