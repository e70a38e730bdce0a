package virtualnode

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// RotationMode is what a follow stream of containerLogs open on a log file
// does when the node rotates that file.
type RotationMode int

const (
	// FollowNewFile goes on with the new file, as a kubelet without the
	// bugs below does.
	FollowNewFile RotationMode = iota
	// EndFollow ends the stream once it has served the rotated file to
	// its end (kubernetes/kubernetes#59902).
	EndFollow
	// StallFollow keeps the connection open and serves nothing more until
	// the container ends (kubernetes/kubernetes#115701, #126564, #28369):
	// what makes kubectl logs -f, stern and kail hang.
	StallFollow
)

// LogRotation is the node's rotation of container logs, the kubelet's
// containerLogMaxSize, containerLogMaxFiles and containerLogMonitorInterval.
type LogRotation struct {
	// MaxBytes: a log file larger than this is rotated at the next check
	// (0: no rotation).
	MaxBytes int64
	// MaxFiles is how many files of a container's log are kept, the
	// current one included (5 when not positive); older ones are deleted.
	MaxFiles int
	// Interval is how often sizes are checked (10 s when not positive).
	Interval time.Duration
	Mode     RotationMode
}

// SetLogRotation sets how the node rotates container logs, for containers
// started from now on, and what follow streams do at a rotation.
func (p *Provider) SetLogRotation(r LogRotation) {
	if r.MaxFiles <= 0 {
		r.MaxFiles = 5
	}
	if r.Interval <= 0 {
		r.Interval = 10 * time.Second
	}
	p.mu.Lock()
	p.rotation = r
	p.mu.Unlock()
}

func (p *Provider) logRotation() LogRotation {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rotation
}

// rotate checks the log at path every r.Interval until done is closed, and
// rotates it as the kubelet does once it is larger than r.MaxBytes: the
// file is renamed to <path>.<time> and the runtime writes a new one at
// path (the kubelet asks it to with ReopenContainerLog; here w switches
// files). Rotated files beyond r.MaxFiles are deleted; the kubelet also
// compresses them, which changes nothing for pods/log, as it serves only
// the current file.
func (w *criWriter) rotate(path string, r LogRotation, done <-chan struct{}) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		w.mu.Lock()
		fi, err := w.f.Stat()
		if err == nil && fi.Size() > r.MaxBytes {
			rotated := path + "." + time.Now().UTC().Format("20060102-150405.000000000")
			if err := os.Rename(path, rotated); err == nil {
				if f, err := os.Create(path); err == nil {
					w.f.Close()
					w.f = f
				} else {
					os.Rename(rotated, path) // as the kubelet does when the reopen fails
				}
			}
		}
		w.mu.Unlock()
		old, _ := filepath.Glob(path + ".*")
		slices.Sort(old) // by time
		for len(old) > r.MaxFiles-1 {
			os.Remove(old[0])
			old = old[1:]
		}
	}
}

// rotatedUnder says whether the file at path is no longer f: the log was
// rotated while f was read.
func rotatedUnder(f *os.File, path string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	cur, err := os.Stat(path)
	return err == nil && !os.SameFile(fi, cur)
}

// errLimit ends a stream at limitBytes.
var errLimit = errors.New("limitBytes reached")

// limitWriter passes on n bytes, then fails with errLimit: limitBytes.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(b []byte) (int, error) {
	if len(b) > l.n {
		n, err := l.w.Write(b[:l.n])
		l.n -= n
		if err == nil {
			err = errLimit
		}
		return n, err
	}
	n, err := l.w.Write(b)
	l.n -= n
	return n, err
}
