// Package wrap runs an application with its stdout and stderr passed
// through unchanged and copied, in CRI format, into files the sidecar tails
// (`loglet exec`, the stdout: wrap mode). Logging never blocks or kills the
// application: when the copy cannot be written, output still passes through
// and the loss is counted in a marker file.
package wrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/loglet/loglet/sidecar/atomicfile"
	"github.com/loglet/loglet/sidecar/pod"
	"github.com/loglet/loglet/sidecar/spool"
)

// Options say where the copy goes.
type Options struct {
	// Dir receives stdout.log (and rotated stdout-<n>.log files).
	Dir string
	// MaxFileBytes rotates stdout.log beyond this size; MaxFiles rotated
	// files are kept.
	MaxFileBytes int64
	MaxFiles     int
}

// Run starts args, passes its output to stdout and stderr, copies it into
// Dir, forwards signals to it, reaps orphans when running as PID 1, and
// returns its exit code (128+signal if a signal ended it).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, o Options) (int, error) {
	if len(args) == 0 {
		return 2, errors.New("no command: use loglet exec -- COMMAND [ARGS...]")
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return 127, fmt.Errorf("exec %s: %w", args[0], err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return 1, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return 1, err
	}
	cmd := exec.Command(path, args[1:]...)
	cmd.Args = args
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, outW, errW
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 126, fmt.Errorf("exec %s: %w", args[0], err)
	}
	outW.Close()
	errW.Close()

	w := newCRIWriter(o)
	defer w.close()
	var copies sync.WaitGroup
	copies.Go(func() { w.pump(outR, stdout, "stdout") })
	copies.Go(func() { w.pump(errR, stderr, "stderr") })

	status := make(chan syscall.WaitStatus, 1)
	go func() { status <- reap(cmd.Process.Pid) }()
	done := ctx.Done()
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGCHLD || s == syscall.SIGURG {
				continue // SIGURG: the Go runtime's own preemption signal
			}
			cmd.Process.Signal(s)
		case ws := <-status:
			copies.Wait()
			code := ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
			w.close()
			os.WriteFile(filepath.Join(o.Dir, pod.ExitFile), []byte(strconv.Itoa(code)+"\n"), 0o644)
			return code, nil
		case <-done:
			cmd.Process.Signal(syscall.SIGTERM) // once; then wait for it to end
			done = nil
		}
	}
}

// reap waits for the child; as PID 1 it also reaps every orphan that was
// reparented to it, so no zombie stays behind.
func reap(child int) syscall.WaitStatus {
	pid1 := os.Getpid() == 1
	for {
		var ws syscall.WaitStatus
		target := child
		if pid1 {
			target = -1
		}
		pid, err := syscall.Wait4(target, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid == child || err != nil {
			return ws
		}
	}
}

// criWriter writes both streams into one CRI-format file, as a container
// runtime does: "<RFC 3339 time> <stream> <F|P> <text>", P for a piece
// that did not end a line.
type criWriter struct {
	dir  string
	mu   sync.Mutex
	f    *spool.File
	buf  []byte
	lost int64
}

func newCRIWriter(o Options) *criWriter {
	return &criWriter{dir: o.Dir, f: spool.New(o.Dir, pod.ExecSpool, o.MaxFileBytes, o.MaxFiles)}
}

// pump passes r to pass unchanged and copies it to the file. The copy
// never holds the pass-through up.
func (w *criWriter) pump(r io.Reader, pass io.Writer, stream string) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			pass.Write(buf[:n])
			w.write(stream, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func (w *criWriter) write(stream string, chunk []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	w.buf = w.buf[:0]
	for len(chunk) > 0 {
		tag, line := "P", chunk
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			tag, line = "F", chunk[:i]
			chunk = chunk[i+1:]
		} else {
			chunk = nil
		}
		w.buf = append(w.buf, ts...)
		w.buf = append(w.buf, ' ')
		w.buf = append(w.buf, stream...)
		w.buf = append(w.buf, ' ')
		w.buf = append(w.buf, tag...)
		w.buf = append(w.buf, ' ')
		w.buf = append(w.buf, line...)
		w.buf = append(w.buf, '\n')
	}
	n, err := w.f.Write(w.buf)
	if err == nil {
		return
	}
	w.lost += int64(len(w.buf) - n)
	w.markLost()
}

// markLost records the loss; best effort, as the volume may be full.
func (w *criWriter) markLost() {
	os.WriteFile(filepath.Join(w.dir, pod.LostFile), []byte(strconv.FormatInt(w.lost, 10)+"\n"), 0o644)
}

func (w *criWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.f.Close()
}

// Install copies the running binary to dir/loglet, for application
// containers to run `loglet exec` from the shared volume (the image is
// distroless: there is no cp to do it).
func Install(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("install into %s: %w", dir, err)
	}
	dst := filepath.Join(dir, "loglet")
	if err := atomicfile.Write(dst, 0o755, src); err != nil {
		return fmt.Errorf("install %s: %w", dst, err)
	}
	return nil
}
