package checkpoint

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/record"
)

// Environment of a child that saves until it is killed: its state dir,
// and a file size limit (bytes beyond the journal's size at its start).
const (
	childEnv      = "LOGLET_CHECKPOINT_KILL_CHILD"
	childLimitEnv = "LOGLET_CHECKPOINT_KILL_CHILD_FSIZE"
)

// TestKillDuringSave: a real process saves checkpoints from 8 goroutines,
// with records big enough that a write spans many pages, and reports each
// Save that returned; it is killed with SIGKILL, again and again, on one
// state dir. After each kill the journal loads without damage (a torn tail
// is cut, not reported) and holds every save that returned: each source's
// offset is at least the last one reported.
//
// A kill lands in the middle of a write only now and then (the kernel
// copies a batch in well under the time a sync takes), so one case makes
// it certain: the child runs under a file size limit (RLIMIT_FSIZE) just
// past the journal's end, the kernel writes its next batch only in part,
// and the child is killed then.
func TestKillDuringSave(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		saveUntilKilled(dir, os.Getenv(childLimitEnv))
		return
	}
	if testing.Short() {
		t.Skip("process test with kill -9; runs in make test")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	state := t.TempDir()
	const rounds = 20
	torn := 0
	for round := range rounds + 1 {
		// The last round is the one cut by the file size limit, in a state
		// dir of its own: its journal stays far below the size a
		// compaction would rewrite it at before the write that crosses the
		// limit.
		limited := round == rounds
		if limited {
			state = t.TempDir()
		}
		c := startChild(t, state, limited)
		if limited {
			poll.Until(t, time.Minute, "the child's write to fail at the file size limit", c.failed)
		} else {
			after := 1 + rng.IntN(300)
			poll.Until(t, time.Minute, fmt.Sprintf("round %d: %d saves to return", round, after), func() bool { return c.saves() >= after })
		}
		returned, corrupt := c.kill(t)
		if corrupt != 0 {
			t.Errorf("round %d: the child found %d damaged files at its start, want none: a kill leaves at most a torn tail", round, corrupt)
		}

		s := open(t, state)
		_, end := frames(t, s.Path())
		tornTail := end < mustSize(t, s.Path())
		if limited && !tornTail {
			t.Fatalf("a write cut by the file size limit left no torn tail (journal %d bytes, frames end at %d)", mustSize(t, s.Path()), end)
		}
		l, err := s.LoadAll()
		if err != nil || len(l.Corrupt) != 0 {
			t.Fatalf("round %d: LoadAll after kill -9: %+v, %v; want the journal whole", round, l.Corrupt, err)
		}
		got := offsets(l.Checkpoints)
		for id, n := range returned {
			if got[id] < n {
				t.Errorf("round %d: %s loaded at offset %d, but a save of offset %d returned before the kill", round, id, got[id], n)
			}
		}
		if tornTail {
			torn++
			// The next append cuts it.
			save(t, s, cp("parent", int64(round)))
			if _, end := frames(t, s.Path()); end != mustSize(t, s.Path()) {
				t.Errorf("round %d: the torn tail is still there after a save", round)
			}
		}
	}
	t.Logf("%d kills at random moments, %d of all %d left a torn tail", rounds, torn, rounds+1)
}

// child is a running saveUntilKilled and what it reported.
type child struct {
	cmd      *exec.Cmd
	done     chan struct{}
	mu       sync.Mutex
	returned map[string]int64
	n        int
	corrupt  int
	fail     bool
}

func startChild(t *testing.T, state string, limited bool) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringSave$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+state)
	if limited {
		cmd.Env = append(cmd.Env, childLimitEnv+"=65536")
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{}), returned: map[string]int64{}, corrupt: -1}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			c.mu.Lock()
			switch {
			case len(f) == 2 && f[0] == "corrupt":
				c.corrupt, _ = strconv.Atoi(f[1])
			case len(f) >= 1 && f[0] == "failed":
				c.fail = true
			case len(f) == 2:
				n, _ := strconv.ParseInt(f[1], 10, 64)
				c.returned[f[0]] = max(c.returned[f[0]], n)
				c.n++
			}
			c.mu.Unlock()
		}
		io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() {
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("child stderr:\n%s", stderr.String())
		}
	})
	return c
}

func (c *child) saves() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *child) failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fail
}

// kill sends SIGKILL and returns what the child reported before it died.
func (c *child) kill(t *testing.T) (map[string]int64, int) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
	c.cmd.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.returned, c.corrupt
}

// saveUntilKilled is the child: it continues each source from its loaded
// offset and saves forever, printing "<id> <offset>" after each Save that
// returned, and "failed" (then nothing more) once one failed.
func saveUntilKilled(state, limit string) {
	s, err := Open(state)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	l, err := s.LoadAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("corrupt %d\n", len(l.Corrupt))
	if limit != "" {
		// Past this size the kernel writes only part of a write (EFBIG;
		// Go ignores the SIGXFSZ that comes with it).
		var size int64
		if fi, err := os.Stat(s.Path()); err == nil {
			size = fi.Size()
		} else if !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		extra, _ := strconv.ParseUint(limit, 10, 64)
		lim := uint64(size) + extra
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	from := offsets(l.Checkpoints)
	// About 48 KiB a record: a write of a batch spans many pages, so a
	// kill can land in the middle of one.
	var res []record.KeyValue
	for i := range 48 {
		res = append(res, record.KeyValue{Key: fmt.Sprintf("k8s.pod.label.l%02d", i), Value: strings.Repeat("v", 1000)})
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stopped bool
	)
	// Under the limit one goroutine saves: with more, the next batch after
	// the failed append would rewrite the journal whole before the kill.
	writers := 8
	if limit != "" {
		writers = 1
	}
	for w := range writers {
		wg.Go(func() {
			id := fmt.Sprintf("src%d", w)
			for off := from[id] + 1; ; off++ {
				c := cp(id, off)
				c.Resource = res
				err := s.Save(c)
				mu.Lock()
				if stopped {
					mu.Unlock()
					return
				}
				if err != nil {
					stopped = true
					fmt.Printf("failed %v\n", err)
				} else {
					fmt.Printf("%s %d\n", id, off)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	// Not synchronisation: the child only waits here to be killed.
	time.Sleep(time.Hour)
}
