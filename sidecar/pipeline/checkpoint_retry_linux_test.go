package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/internal/tinydisk"
	"github.com/loglet/loglet/sidecar/checkpoint/checkpointtest"
)

// TestCheckpointRetriedAfterFullDisk: the state dir's disk is full when
// the hub acknowledges, so the checkpoint is not written. The agent tries
// again while the disk is full, and once there is room the checkpoint is
// written, with no further line or acknowledgement to wake the agent: an
// idle agent does not wake on a ticker, so a failed round arms its own
// retry.
func TestCheckpointRetriedAfterFullDisk(t *testing.T) {
	disk := tinydisk.Mount(t, 1<<20)
	state := filepath.Join(disk, "state")
	logs := t.TempDir()
	path := filepath.Join(logs, "app.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, sk := newAgent(t, testConfig(logs+"/*.log"), state, "null://")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx); sk.Close() }()
	defer func() { cancel(); <-done }()
	poll.Until(t, 10*time.Second, "the agent to start", a.Ready)

	filler := tinydisk.Fill(t, disk, 0)
	// The journal's last page may still take a few checkpoints: lines go
	// on until a checkpoint write fails.
	lines := 0
	poll.Until(t, 30*time.Second, "a checkpoint write to fail on the full disk", func() bool {
		lines++
		fmt.Fprintf(f, "line %d\n", lines)
		return a.Metrics().CheckpointErrors.Value() > 0
	})
	size, _ := f.Seek(0, 1)
	poll.Until(t, 10*time.Second, "the hub to acknowledge every line", func() bool { return a.Metrics().BytesSent.Value() == float64(size) })
	// Every acknowledgement has come: only a retry writes again.
	failed := a.Metrics().CheckpointErrors.Value()
	poll.Until(t, 10*time.Second, "the agent to try the checkpoint again while the disk is full", func() bool {
		return a.Metrics().CheckpointErrors.Value() > failed
	})
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, fmt.Sprintf("the checkpoint to reach the file's end (%d bytes) once the disk has room", size), func() bool {
		for _, c := range checkpointtest.Load(t, state) {
			if c.Path == path && c.Offset == size {
				return true
			}
		}
		return false
	})
}
