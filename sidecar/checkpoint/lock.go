package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lockName is the file whose lock says which process writes the journal.
const lockName = "lock"

// lockPoll is how often Lock tries again while another process holds it.
const lockPoll = 200 * time.Millisecond

// Lock makes this process the only writer of the state dir's journal
// until it exits. One writer is what the journal needs: a second one's
// compaction would drop the first one's records. Two agents meet on one
// state dir when a DaemonSet's update starts the new pod before the old
// one ended (maxSurge), or when two agents are given the same
// --state-dir. While another process holds it, Lock calls waiting once
// with what the lock file says of it (its pid), then waits until it is
// free or ctx ends. The lock goes with the process, however it ends.
func (s *Store) Lock(ctx context.Context, waiting func(holder string)) error {
	path := filepath.Join(s.dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("state dir lock %s: %w", path, err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("state dir lock %s: %w", path, err)
		}
		if !told && waiting != nil {
			waiting(holderOf(path))
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return fmt.Errorf("state dir %s is written by another loglet agent (%s): %w", filepath.Dir(s.dir), holderOf(path), ctx.Err())
		case <-time.After(lockPoll):
		}
	}
	// Says who holds it, for the next one that waits.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	s.lock = f // held open: closing it would release the lock
	return nil
}

func holderOf(path string) string {
	b, _ := os.ReadFile(path)
	if s := strings.TrimSpace(string(b)); s != "" {
		return s
	}
	return "pid unknown"
}
