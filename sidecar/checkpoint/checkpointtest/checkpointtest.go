// Package checkpointtest reads a state dir's checkpoints for tests.
package checkpointtest

import (
	"testing"

	"github.com/loglet/loglet/sidecar/checkpoint"
)

// Load is the checkpoints in the state dir, read through the store as the
// agent reads them; it changes nothing while an agent writes them, and
// fails the test if they are not intact.
func Load(t testing.TB, state string) []checkpoint.Checkpoint {
	t.Helper()
	s, err := checkpoint.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.LoadAll()
	if err != nil || len(l.Corrupt) > 0 {
		t.Fatalf("checkpoints in %s are not intact: %v %+v", state, err, l.Corrupt)
	}
	return l.Checkpoints
}
